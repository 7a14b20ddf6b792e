"""What the reliability suite reads back at the end: topics to the last offset, dead letters by
their source coordinates, HR records as the simulators hold them, and the summary table."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from rich.console import Console
from rich.table import Table

from learnstream.kafka_admin import end_offsets
from learnstream.settings import Settings
from learnstream.simulate.oracle_model import Oracle
from tests.support.messages import header_pairs

EXPECTED_ERROR = {
    "bad_magic": "UndecodableError",
    "unknown_schema": "UnknownSchemaError",
    "invalid_content": "InvalidContent",
    "handler_bug": "InjectedHandlerBug",
}


def read_topic(settings: Settings, topic: str) -> list[Message]:
    """Every record from offset 0 up to the high watermark taken when called."""
    ends = {tp: end for tp, end in end_offsets(settings, [topic]).items() if end > 0}
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"chaos-read-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
    found: list[Message] = []
    position = {tp: 0 for tp in ends}
    try:
        while any(position[tp] < end for tp, end in ends.items()):
            for msg in consumer.consume(500, timeout=2):
                if msg.error():
                    continue
                name, partition, offset = msg.topic(), msg.partition(), msg.offset()
                assert name is not None and partition is not None and offset is not None
                tp = (name, partition)
                if offset < ends[tp]:
                    found.append(msg)
                position[tp] = offset + 1
    finally:
        consumer.close()
    return found


@dataclass
class LetterCheck:
    letters: int = 0
    distinct: int = 0
    wrong_class: list[tuple[Any, ...]] = field(default_factory=list)
    missing: int = 0
    unexpected: int = 0


def check_dead_letters(
    settings: Settings, dlq: str, pills: dict[tuple[str, int, int], str]
) -> LetterCheck:
    """A DLQ holds exactly the pills, identified by the source coordinates in their headers."""
    result = LetterCheck()
    seen: set[tuple[str, int, int]] = set()
    for msg in read_topic(settings, dlq):
        headers = {k: v.decode() for k, v in header_pairs(msg)}
        coords = (
            headers["__dlq.topic"],
            int(headers["__dlq.partition"]),
            int(headers["__dlq.offset"]),
        )
        result.letters += 1
        seen.add(coords)
        kind = pills.get(coords)
        error = headers.get("__dlq.exception.class", "").rsplit(".", 1)[-1]
        if kind is not None and EXPECTED_ERROR[kind] != error:
            result.wrong_class.append((coords, kind, error))
    result.distinct = len(seen)
    result.missing = len(set(pills) - seen)
    result.unexpected = len(seen - set(pills))
    return result


def hr_duplicates_and_differences(
    oracle: Oracle, sap_records: list[dict[str, Any]], workday: dict[str, dict[str, Any]]
) -> tuple[int, int]:
    """(duplicated records, records that differ from the oracle) across both HR systems."""
    want = Counter((r.target, r.hr_user_id, r.course_id) for r in oracle.hr_records)
    got = Counter(("SAP", r["userID"], r["courseID"]) for r in sap_records) + Counter(
        ("WORKDAY", w["worker_id"], w["course_id"]) for w in workday.values()
    )
    duplicated = sum(max(0, n - want.get(key, 0)) for key, n in got.items() if key in want)
    differing = sum(((got - want) + (want - got)).values()) - duplicated
    return duplicated, differing


def print_table(title: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console(width=160).print(table)
