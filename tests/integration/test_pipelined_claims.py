"""A large batch's processed markers are sent chunk by chunk in psycopg's pipeline mode, while
the next chunk decodes (learnstream/runtime/processor.py). On a real Postgres: every new event is
applied once, a batch's own re-send once, and an id claimed before (a client's re-send that
another member or an earlier life of this one applied) aborts the pipelined attempt, which is
redone with checked claims: the re-send is skipped, the rest applied, the connection usable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from learnstream.runtime import intake, ledger
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.processor import BatchProcessor
from learnstream.runtime.records import Event, InboundRecord, Outbound
from learnstream.serde import AvroSerde, build_serde
from learnstream.settings import Settings
from tests.support.events import LESSON, lesson_completed

pytestmark = pytest.mark.integration
CONSUMER = "pipelined-claims"


class _Recorder(BaseHandler):
    consumer = CONSUMER

    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        del conn
        self.applied += [e.event_id for e in events]
        return []


def _inbound(
    serde: AvroSerde, records: list[dict[str, Any]], first_offset: int
) -> list[InboundRecord]:
    return [
        InboundRecord("t", 0, first_offset + i, r["learner_id"].encode(), serde.encode(LESSON, r))
        for i, r in enumerate(records)
    ]


@pytest.fixture
def sent_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Chunks of 100 (the batches here are a few hundred) and a count of the pipelined sends."""
    monkeypatch.setattr(intake, "CLAIM_CHUNK", 100)
    sizes: list[int] = []
    real = ledger.send_claims

    def counting(conn: psycopg.Connection, consumer: str, ids: list[str]) -> None:
        sizes.append(len(ids))
        real(conn, consumer, ids)

    monkeypatch.setattr(ledger, "send_claims", counting)
    yield sizes


def _markers(world: Settings) -> int:
    with psycopg.connect(world.postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM processed_events WHERE consumer = %s", (CONSUMER,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_markers_are_pipelined_and_a_seen_id_is_skipped(
    world: Settings, sent_chunks: list[int]
) -> None:
    serde = build_serde(world)

    def connect() -> psycopg.Connection:
        return psycopg.connect(world.postgres_url)

    first = [lesson_completed(f"l-{i % 7}") for i in range(450)]
    first.insert(300, first[20])  # a client's re-send inside the batch, chunks apart
    handler = _Recorder()
    stats = BatchProcessor(world, serde, handler, "learning.activity.dlq", connect).process(
        _inbound(serde, first, 0)
    )
    assert (stats.applied, stats.skipped) == (450, 1)
    assert len(handler.applied) == len(set(handler.applied)) == 450
    assert sum(sent_chunks) == 450 and len(sent_chunks) == 5  # 451 records in chunks of 100
    assert _markers(world) == 450

    # Another member (no memory of the ids above) meets a re-send of one of them at a new
    # offset, in a batch large enough for the pipelined path.
    second = [lesson_completed(f"l-{i % 7}") for i in range(299)]
    second.insert(150, first[75])
    other = _Recorder()
    processor = BatchProcessor(world, serde, other, "learning.activity.dlq", connect)
    stats = processor.process(_inbound(serde, second, 451))
    assert (stats.applied, stats.skipped, stats.attempts) == (299, 1, 1)
    assert str(first[75]["envelope"]["event_id"]) not in other.applied
    assert len(other.applied) == len(set(other.applied)) == 299  # the aborted try applied none
    assert _markers(world) == 450 + 299

    # The kept connection came through the aborted pipeline and still serves the next batch.
    third = [lesson_completed("l-1") for _ in range(250)]
    assert processor.process(_inbound(serde, third, 751)).applied == 250
    assert _markers(world) == 450 + 299 + 250
