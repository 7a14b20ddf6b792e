"""Retention of the runtime's bookkeeping on a real, migrated Postgres: markers past the
de-duplication window and relayed outbox rows past theirs go, in chunks; markers inside the
window, recent relayed rows and unsent rows (however old) stay; one worker prunes at a time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from learnstream.runtime import retention
from learnstream.settings import Settings

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def _marker(conn: psycopg.Connection, at: datetime) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('c', %s, %s)",
        (event_id, at),
    )
    return event_id


def _outbox(conn: psycopg.Connection, created: datetime, sent: datetime | None) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value, headers, created_at, sent_at) "
        "VALUES (%s, 't', 'k', 'v', %s, %s, %s)",
        (event_id, json.dumps({}), created, sent),
    )
    return event_id


def _ids(conn: psycopg.Connection, table: str) -> set[str]:
    return {row[0] for row in conn.execute(f"SELECT event_id::text FROM {table}")}


def test_old_markers_and_relayed_rows_go_everything_else_stays(world: Settings) -> None:
    with psycopg.connect(world.postgres_url, autocommit=True) as conn:
        old_markers = {_marker(conn, NOW - 9 * DAY) for _ in range(23)}
        kept_markers = {_marker(conn, NOW - 6 * DAY), _marker(conn, NOW)}
        old_sent = {_outbox(conn, NOW - 3 * DAY, NOW - 3 * DAY) for _ in range(17)}
        unsent = _outbox(conn, NOW - 30 * DAY, None)  # never relayed: never pruned
        recent = _outbox(conn, NOW - DAY / 2, NOW - DAY / 2)
        sent_late = _outbox(conn, NOW - 3 * DAY, NOW - DAY / 2)  # relayed within the day

    markers_before, outbox_before = retention.cutoffs(NOW, 168, 24)
    pruned = retention.prune(
        lambda: psycopg.connect(world.postgres_url),
        markers_before=markers_before,
        outbox_before=outbox_before,
        chunk=5,  # several chunks, and a last one that is not full
    )

    assert pruned == retention.Pruned(markers=23, outbox_rows=17)
    with psycopg.connect(world.postgres_url) as conn:
        assert _ids(conn, "processed_events") == kept_markers
        assert not old_markers & _ids(conn, "processed_events")
        assert _ids(conn, "outbox") == {unsent, recent, sent_late}
        assert not old_sent & _ids(conn, "outbox")


def test_a_second_worker_does_not_prune_while_one_is(world: Settings) -> None:
    with psycopg.connect(world.postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (retention.RETENTION_LOCK_KEY,))
        _marker(holder, NOW - 30 * DAY)
        pruned = retention.prune(
            lambda: psycopg.connect(world.postgres_url), markers_before=NOW, outbox_before=NOW
        )
        assert pruned is None
        assert len(_ids(holder, "processed_events")) == 1
        holder.execute("SELECT pg_advisory_unlock(%s)", (retention.RETENTION_LOCK_KEY,))
    assert retention.prune(
        lambda: psycopg.connect(world.postgres_url), markers_before=NOW, outbox_before=NOW
    ) == retention.Pruned(markers=1, outbox_rows=0)


def test_the_old_rows_are_found_by_the_brin_indexes(world: Settings) -> None:
    with psycopg.connect(world.postgres_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # would the planner be able to use them?
        for table, column in (("processed_events", "processed_at"), ("outbox", "created_at")):
            plan = "\n".join(
                row[0]
                for row in conn.execute(f"EXPLAIN SELECT ctid FROM {table} WHERE {column} < now()")
            )
            assert f"ix_{table}_{column}" in plan, plan
