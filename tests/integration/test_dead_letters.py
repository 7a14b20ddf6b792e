"""Poison pills of every kind end in the agent's DLQ with KIP-298 headers; the next offset is
still processed; a transient Postgres outage is retried, never dead-lettered."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, Message, Producer

from learnstream.events import make_envelope
from learnstream.kafka_admin import ensure_topics
from learnstream.kafka_clients import producer_config
from learnstream.runtime.drain import wait_until_drained
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.processor import BatchProcessor
from learnstream.runtime.records import Event, InboundRecord, Outbound
from learnstream.serde import build_serde
from learnstream.settings import Settings
from learnstream.topology import load_topology
from tests.support.events import LESSON, lesson_completed
from tests.support.messages import header_pairs
from tests.support.pipeline import running_worker

pytestmark = pytest.mark.integration
GRADED = "org.learnstream.learning.assessment.graded.v1"


def _read_all(settings: Settings, topic: str, expected: int) -> list[Message]:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    try:
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                found.append(msg)
            if len(found) >= expected and msg is None:
                break
    finally:
        consumer.close()
    return found


def test_each_poison_pill_is_dead_lettered_and_the_next_event_applied(
    world: Settings, tmp_path: Path
) -> None:
    serde = build_serde(world)
    bad_grade = {
        "envelope": make_envelope(GRADED, tenant_id="acme", source="/tests"),
        "learner_id": "poison",
        "course_id": "c-1",
        "module_id": None,
        "assessment_id": "a-1",
        "attempt": 1,
        "score": 12.0,
        "max_score": 10.0,
        "pass_mark": 0.7,
        "passed": True,
    }
    pills = [
        b"\x7fnot avro at all",
        b"\xc3\x01" + b"\x13" * 8 + b"\x02",  # a fingerprint no schema has
        serde.encode(GRADED, bad_grade),  # valid Avro, breaks score <= max_score
    ]
    topic = world.topic("learning.activity")
    producer = Producer(producer_config(world))
    for index, value in enumerate(pills):  # the lane reads a record's headers only to letter it
        producer.produce(topic, key=b"poison", value=value, headers=[("ce_id", f"pill-{index}")])
    producer.produce(topic, key=b"poison", value=serde.encode(LESSON, lesson_completed("poison")))
    assert producer.flush(30) == 0

    with running_worker(world, tmp_path / "worker.log"):
        wait_until_drained(world, load_topology(world.topology_file), timeout_s=120)
    letters = _read_all(world, world.topic("learning.activity.dlq"), 3)
    assert [m.value() for m in letters] == pills
    headers = [dict(header_pairs(m)) for m in letters]
    assert [h["__dlq.exception.class"].decode().rsplit(".", 1)[1] for h in headers] == [
        "UndecodableError",
        "UnknownSchemaError",
        "InvalidContent",
    ]
    assert {h["__dlq.topic"] for h in headers} == {topic.encode()}
    assert [h["ce_id"] for h in headers] == [b"pill-0", b"pill-1", b"pill-2"]  # originals kept
    assert all(h["__dlq.offset"] and h["__dlq.failed_at"] and h["__dlq.partition"] for h in headers)
    assert b"score must be within" in headers[2]["__dlq.exception.message"]
    with psycopg.connect(world.postgres_url) as conn:  # the event after the pills was applied
        row = conn.execute(
            "SELECT status FROM learner_course_progress WHERE learner_id = 'poison'"
        ).fetchone()
    assert row == ("in_progress",)


class _BuggyHandler(BaseHandler):
    """Raises for one event id, like a rule with a bug; everything else works."""

    consumer = "buggy"

    def __init__(self, bad_event_id: str) -> None:
        self.bad = bad_event_id
        self.applied: list[str] = []

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        for event in events:
            if event.event_id == self.bad:
                raise ZeroDivisionError("rule bug")
        self.applied += [e.event_id for e in events]
        return []


def test_a_handler_bug_costs_only_the_event_that_hits_it(world: Settings) -> None:
    ensure_topics(world, load_topology(world.topology_file), ["learning.activity.dlq"])
    serde = build_serde(world)
    records = [lesson_completed(f"l-{i % 3}") for i in range(9)]
    inbound = [
        InboundRecord("t", 0, offset, r["learner_id"].encode(), serde.encode(LESSON, r))
        for offset, r in enumerate(records)
    ]
    bad = str(records[4]["envelope"]["event_id"])
    handler = _BuggyHandler(bad)

    def connect() -> psycopg.Connection:
        return psycopg.connect(world.postgres_url)

    processor = BatchProcessor(world, serde, handler, "learning.activity.dlq", connect)
    stats = processor.process(inbound)
    assert (stats.applied, stats.dead_lettered) == (8, 1)
    assert bad not in handler.applied[-8:] and len(set(handler.applied[-8:])) == 8
    letters = _read_all(world, world.topic("learning.activity.dlq"), 1)
    assert len(letters) == 1
    assert dict(header_pairs(letters[0]))["__dlq.exception.class"] == b"builtins.ZeroDivisionError"
    assert dict(header_pairs(letters[0]))["__dlq.offset"] == b"4"
    again = processor.process(inbound)  # a redelivery of the whole batch is fenced
    assert (again.applied, again.skipped) == (0, 9)
    with connect() as conn:
        marked = conn.execute(
            "SELECT count(*) FROM processed_events WHERE consumer = 'buggy' AND event_id = %s",
            (bad,),
        ).fetchone()
    assert marked == (0,)  # released, so a redrive after the fix is applied
