"""The effectively-once ledger on a real Postgres: processed markers keep the first copy of an
event id, whether or not some of the batch's ids were seen before, and the transaction stays
usable (large batches' pipelined markers: test_pipelined_claims.py). Offset rows are created
on first use and locked against a second writer."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from learnstream.runtime import ledger
from learnstream.runtime.records import Event, InboundRecord
from learnstream.settings import Settings

pytestmark = pytest.mark.integration
CONSUMER = "ledger-test"


def _event(event_id: str, offset: int) -> Event:
    record = {"envelope": {"event_id": event_id}, "learner_id": "l-1"}
    return Event("x", record, InboundRecord("t", 0, offset, b"l-1", None))


def _markers(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT event_id::text FROM processed_events WHERE consumer = %s", (CONSUMER,)
    ).fetchall()
    return {row[0] for row in rows}


def test_first_copies_win_whether_or_not_ids_were_seen_before(world: Settings) -> None:
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    with psycopg.connect(world.postgres_url) as conn:
        first = ledger.claim_new(conn, CONSUMER, [_event(a, 0), _event(b, 1), _event(a, 2)])
        assert [e.source.offset for e in first] == [0, 1]  # the in-batch copy of a is dropped
        conn.commit()
        # b was claimed by the earlier batch: it is skipped, the others kept
        second = ledger.claim_new(conn, CONSUMER, [_event(c, 3), _event(b, 4), _event(d, 5)])
        assert [e.source.offset for e in second] == [3, 5]
        conn.execute("SELECT 1")  # the transaction is still usable: its later work commits
        conn.commit()
        assert _markers(conn) == {a, b, c, d}
        assert ledger.claim_new(conn, CONSUMER, [_event(d, 6)]) == []


def test_an_id_spelled_in_capitals_is_kept(world: Settings) -> None:
    """Postgres prints uuids in lower case; an event whose id a client spelled in capitals must
    still count as new when its batch also holds a re-send."""
    seen, loud = str(uuid.uuid4()), str(uuid.uuid4()).upper()
    with psycopg.connect(world.postgres_url) as conn:
        ledger.claim_new(conn, CONSUMER, [_event(seen, 0)])
        kept = ledger.claim_new(conn, CONSUMER, [_event(seen, 1), _event(loud, 2)])
        assert [e.source.offset for e in kept] == [2]
        assert loud.lower() in _markers(conn)


def test_offset_rows_are_created_once_and_locked_against_a_second_writer(world: Settings) -> None:
    topic = f"ledger-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(world.postgres_url) as conn:
        assert ledger.lock_offsets(conn, CONSUMER, [(topic, 1), (topic, 0)]) == {
            (topic, 0): 0,
            (topic, 1): 0,
        }
        records = [InboundRecord(topic, 1, 41, b"k", None), InboundRecord(topic, 1, 40, b"k", None)]
        ledger.advance_offsets(conn, CONSUMER, records)
        conn.commit()
        assert ledger.lock_offsets(conn, CONSUMER, [(topic, 1)]) == {(topic, 1): 42}
        # a zombie asking for the same row waits until this transaction ends
        with psycopg.connect(world.postgres_url) as zombie:
            zombie.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                ledger.lock_offsets(zombie, CONSUMER, [(topic, 1)])
            zombie.rollback()
            conn.commit()
            assert ledger.lock_offsets(zombie, CONSUMER, [(topic, 1)]) == {(topic, 1): 42}
