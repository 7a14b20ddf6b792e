"""What `dlq redrive` re-published, in Postgres (table dlq_redrives, migration 0005).

A row is written only after the broker acknowledged the copy, so the ledger never claims a
letter that was not delivered. A crash between the acknowledgement and the insert can send a
letter once more on the next run; consumers drop such a duplicate by its event_id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from learnstream.errors import LearnstreamError

Coords = tuple[str, int, int]  # topic, partition, offset

# One key for every redrive: two DLQs can hold letters of the same original record (two agents
# read learning.activity), so concurrent redrives of different DLQs could both send it.
LOCK_KEY = 0x6C73_7264_7276  # "lsrdrv"


class LedgerMissing(LearnstreamError, RuntimeError):
    """The database has no dlq_redrives table: it is not migrated to 0005 yet."""


class RedriveRunning(LearnstreamError, RuntimeError):
    """Another `dlq redrive` holds the ledger lock."""


@dataclass(frozen=True)
class Redriven:
    dlq: Coords
    source: Coords
    origin: Coords
    target: Coords
    event_name: str | None
    forced: bool


def _columns(coords: Iterable[Coords]) -> tuple[list[str], list[int], list[int]]:
    topics, partitions, offsets = [], [], []
    for topic, partition, offset in coords:
        topics.append(topic)
        partitions.append(partition)
        offsets.append(offset)
    return topics, partitions, offsets


_DLQ = "dlq_topic, dlq_partition, dlq_offset"
_TARGET = "target_topic, target_partition, target_offset"
_ORIGIN = "origin_topic, origin_partition, origin_offset"


def _coords(row: tuple[object, ...]) -> Coords:
    topic, partition, offset = row
    return str(topic), int(partition), int(offset)  # type: ignore[call-overload]


class RedriveLedger:
    def __init__(self, postgres_url: str) -> None:
        self.conn = psycopg.connect(postgres_url, autocommit=True)
        found = self.conn.execute("SELECT to_regclass('dlq_redrives')").fetchone()
        if found is None or found[0] is None:
            self.conn.close()
            raise LedgerMissing(
                "table dlq_redrives is missing: run `learnstream db upgrade` (migration 0005)"
            )

    def close(self) -> None:
        self.conn.close()  # also releases the session's advisory lock

    def lock(self) -> None:
        """Held until close: one redrive at a time, whichever DLQ."""
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if not (row and row[0]):
            raise RedriveRunning("another `learnstream dlq redrive` is running; try again later")

    def _match(self, select: str, key: str, coords: Iterable[Coords]) -> list[tuple[object, ...]]:
        """Rows whose `key` columns (topic, partition, offset) are among `coords`."""
        wanted = list(coords)
        if not wanted:
            return []
        query = (
            f"SELECT DISTINCT {select} FROM dlq_redrives WHERE ({key}) IN "
            "(SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[]))"
        )
        return [tuple(row) for row in self.conn.execute(query, _columns(wanted)).fetchall()]

    def redriven_letters(self, letters: Iterable[Coords]) -> set[Coords]:
        """The DLQ positions among `letters` that were redriven already."""
        return {_coords(r) for r in self._match(_DLQ, _DLQ, letters)}

    def origins(self, sources: Iterable[Coords]) -> dict[Coords, Coords]:
        """source → origin, for sources that are copies a redrive wrote (they failed again)."""
        rows = self._match(f"{_TARGET}, {_ORIGIN}", _TARGET, sources)
        return {_coords(r[:3]): _coords(r[3:]) for r in rows}

    def redriven_origins(self, origins: Iterable[Coords]) -> set[Coords]:
        """The original records among `origins` that some redrive already re-published."""
        return {_coords(r) for r in self._match(_ORIGIN, _ORIGIN, origins)}

    def record(self, rows: list[Redriven]) -> None:
        if not rows:
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, source_topic, "
                "source_partition, source_offset, origin_topic, origin_partition, "
                "origin_offset, target_topic, target_partition, target_offset, event_name, "
                "forced) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(*r.dlq, *r.source, *r.origin, *r.target, r.event_name, r.forced) for r in rows],
            )
