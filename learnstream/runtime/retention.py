"""Retention of the runtime's own bookkeeping, which otherwise grows with every event.

* `processed_events`: a marker de-duplicates a client's re-send of an event id at a new offset.
  Markers older than the de-duplication window go (LEARNSTREAM_DEDUP_RETENTION_HOURS, 7 days
  by default): a re-send later than that is applied as new. Redeliveries of one record are
  fenced by the offset rows, not by markers, whatever their age; the progress fold also drops
  a fact id it already holds, so only counters (the features) could count a very late re-send.
  Kafka Streams' de-duplication keeps its ids for a window in the same way.
* `outbox`: rows already relayed go after LEARNSTREAM_OUTBOX_RETENTION_HOURS (a day by
  default); unsent rows never. A relayed row's event lives on in its topic.

Each run deletes in chunks, one short transaction each, so it never holds the tables long; one
worker at a time prunes (an advisory try-lock). BRIN indexes on the insert times (migration
0011) find the old rows without a scan of the whole table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

RETENTION_LOCK_KEY = 0x7072756E65  # "prune": one advisory lock id for the whole cluster
CHUNK = 5_000

# Oldest rows first, a chunk at a time, by row address: a DELETE of the whole range in one
# statement would hold its row locks and its WAL for as long as a large backlog takes.
_PRUNE = {
    "processed_events": (
        "DELETE FROM processed_events WHERE ctid = ANY(ARRAY(SELECT ctid FROM processed_events "
        "WHERE processed_at < %(before)s LIMIT %(chunk)s))"
    ),
    "outbox": (
        "DELETE FROM outbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM outbox "
        "WHERE created_at < %(before)s AND sent_at < %(before)s LIMIT %(chunk)s))"
    ),
}


@dataclass(frozen=True)
class Pruned:
    markers: int
    outbox_rows: int


def prune(
    connect: Callable[[], psycopg.Connection],
    *,
    markers_before: datetime,
    outbox_before: datetime,
    chunk: int = CHUNK,
) -> Pruned | None:
    """Delete markers processed before `markers_before` and relayed outbox rows created and
    sent before `outbox_before`. None when another worker is pruning."""
    with connect() as conn:
        conn.autocommit = True
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (RETENTION_LOCK_KEY,)).fetchone()
        if not got or not got[0]:
            return None
        try:
            return Pruned(
                markers=_delete(conn, "processed_events", markers_before, chunk),
                outbox_rows=_delete(conn, "outbox", outbox_before, chunk),
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK_KEY,))


def cutoffs(now: datetime, dedup_hours: float, outbox_hours: float) -> tuple[datetime, datetime]:
    return now - timedelta(hours=dedup_hours), now - timedelta(hours=outbox_hours)


def _delete(conn: psycopg.Connection, table: str, before: datetime, chunk: int) -> int:
    total = 0
    while True:
        deleted = conn.execute(_PRUNE[table], {"before": before, "chunk": chunk}).rowcount
        total += deleted
        if deleted < chunk:
            return total
