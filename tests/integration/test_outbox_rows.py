"""The outbox's writes on a real Postgres: a worker session copies a batch's rows through its
stage table, a plain session (or a small batch) inserts them one by one; either way the rows
keep the order they were derived in (the relay sends by `seq`), an event id is kept once, and
the stage is empty after every batch, committed or rolled back."""

from __future__ import annotations

import uuid
from dataclasses import replace

import psycopg
import pytest

from learnstream.names import COURSE_COMPLETED
from learnstream.runtime import outbox
from learnstream.runtime.records import Outbound
from learnstream.serde import build_serde
from learnstream.settings import Settings
from streams.app import worker_connection
from streams.derive import derived

pytestmark = pytest.mark.integration


def _completions(n: int) -> list[Outbound]:
    # Headers of a handler's own travel with the row (derived events add none: the facts are
    # in their fields); the test's marks them with their position.
    return [
        replace(
            derived(
                COURSE_COMPLETED,
                f"learner-{i % 7}",
                tenant_id="acme",
                cause=str(uuid.uuid4()),
                at_ms=1_767_225_600_000 + i,
                fields={
                    "completion_id": str(uuid.uuid4()),
                    "learner_id": f"learner-{i % 7}",
                    "course_id": "c-1",
                    "course_version": 1,
                    "attempt": 1,
                    "completed_at": 1_767_225_600_000 + i,
                    "score": None,
                    "time_spent_seconds": 30.0,
                    "expires_at": None,
                },
            ),
        )
        for i in range(n)
    ]


def _outbox(conn: psycopg.Connection) -> list[tuple[str, bytes, dict[str, str]]]:
    rows = conn.execute("SELECT event_id::text, key, headers FROM outbox ORDER BY seq").fetchall()
    return [(event_id, bytes(key), headers) for event_id, key, headers in rows]


def _stage_rows(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM outbox_stage").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("session", ["worker session (COPY)", "plain session (executemany)"])
def test_rows_keep_their_order_and_an_id_is_kept_once(world: Settings, session: str) -> None:
    serde = build_serde(world)
    events = _completions(60)
    conn = (
        worker_connection(world)
        if session.startswith("worker")
        else psycopg.connect(world.postgres_url)
    )
    copied = session.startswith("worker")
    assert (conn in outbox._STAGED) is copied and outbox.COPY_FROM <= 20  # the path under test
    with conn:
        outbox.add_to_outbox(conn, world, serde, events[:40])
        conn.commit()
        # A batch re-deriving 20 events already in the outbox, with 20 new ones.
        outbox.add_to_outbox(conn, world, serde, events[20:])
        conn.commit()
        stored = _outbox(conn)
        assert [event_id for event_id, _, _ in stored] == [e.event_id for e in events]
        assert [key for _, key, _ in stored] == [e.key.encode() for e in events]
        assert all(h["ce_id"] == e.event_id for (_, _, h), e in zip(stored, events, strict=True))
        if copied:
            assert _stage_rows(conn) == 0
            conn.commit()


def test_a_rolled_back_batch_leaves_the_stage_empty_and_the_next_batch_whole(
    world: Settings,
) -> None:
    serde = build_serde(world)
    lost, kept = _completions(30), _completions(30)
    with worker_connection(world) as conn:
        outbox.add_to_outbox(conn, world, serde, lost)
        conn.rollback()
        assert _stage_rows(conn) == 0
        with conn.transaction():  # a failed savepoint inside a batch, as isolation makes
            with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
                outbox.add_to_outbox(conn, world, serde, lost)
                conn.execute("SELECT 1 / 0")
            outbox.add_to_outbox(conn, world, serde, kept)
        assert [event_id for event_id, _, _ in _outbox(conn)] == [e.event_id for e in kept]
        assert _stage_rows(conn) == 0


def test_the_stage_does_not_grow_with_the_batches_it_moved(world: Settings) -> None:
    """Autovacuum never visits a temporary table: rows deleted from the stage would stay in its
    pages for the life of the session (a worker's is days), and every move would scan them."""
    serde = build_serde(world)
    with worker_connection(world) as conn:
        for _ in range(40):
            with conn.transaction():
                outbox.add_to_outbox(conn, world, serde, _completions(200))
        row = conn.execute("SELECT pg_relation_size('outbox_stage') / 8192").fetchone()
        assert row is not None
        assert row[0] <= 30, f"{row[0]} pages for an empty stage after 8,000 moved rows"
        assert len(_outbox(conn)) == 8_000
