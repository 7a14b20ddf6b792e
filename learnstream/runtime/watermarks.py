"""Event time per input partition: how far each consumer has applied its topics.

A consumer records, per partition, the largest event time it applied (advance_watermarks); the
low watermark over the partitions is its clock (time-driven decisions wait for it), and
caught_up says whether a consumer has applied a topic up to given end offsets (a table read by
another consumer is ready).
"""

from __future__ import annotations

import psycopg

from learnstream.ids import epoch_ms, from_epoch_ms


def advance_watermarks(
    conn: psycopg.Connection, consumer: str, seen: dict[tuple[str, int], int]
) -> None:
    """Per input partition, the largest event time applied so far."""
    if not seen:
        return
    keys = sorted(seen)
    conn.execute(
        "INSERT INTO partition_watermarks (consumer, topic, partition, event_time) "
        "SELECT %s, t, p, e FROM unnest(%s::text[], %s::int[], %s::timestamptz[]) AS u(t, p, e) "
        "ON CONFLICT (consumer, topic, partition) DO UPDATE SET "
        "event_time = GREATEST(partition_watermarks.event_time, EXCLUDED.event_time), "
        "updated_at = now()",
        (consumer, [k[0] for k in keys], [k[1] for k in keys],
         [from_epoch_ms(seen[k]) for k in keys]),
    )  # fmt: skip


def caught_up(
    conn: psycopg.Connection, consumer: str, topic: str, end_offsets: dict[int, int]
) -> bool:
    rows = conn.execute(
        "SELECT partition, next_offset FROM stream_offsets WHERE consumer = %s AND topic = %s",
        (consumer, topic),
    ).fetchall()
    applied: dict[int, int] = {int(p): int(o) for p, o in rows}
    return all(applied.get(partition, 0) >= end for partition, end in end_offsets.items())


def low_watermark(
    conn: psycopg.Connection,
    consumer: str,
    topic: str,
    partitions: int,
    end_offsets: dict[int, int] | None = None,
) -> int | None:
    """The event time all of `topic` has reached: the minimum over its partitions of the
    largest event time applied. A partition that is caught up (applied offset = end offset)
    no longer holds the clock back; when all are, the clock is the largest time applied.
    Without end offsets, every partition must have been seen and counts."""
    rows = conn.execute(
        "SELECT w.partition, w.event_time, coalesce(o.next_offset, 0) FROM partition_watermarks w "
        "LEFT JOIN stream_offsets o ON o.consumer = w.consumer AND o.topic = w.topic "
        "AND o.partition = w.partition WHERE w.consumer = %s AND w.topic = %s",
        (consumer, topic),
    ).fetchall()
    times = {partition: epoch_ms(t) for partition, t, _ in rows}
    applied = {partition: offset for partition, _, offset in rows}
    if end_offsets is None:
        return min(times.values()) if len(times) >= partitions else None
    behind = [p for p, end in end_offsets.items() if applied.get(p, 0) < end]
    if any(p not in times for p in behind):
        return None  # a partition with unprocessed records has no clock yet
    if behind:
        return min(times[p] for p in behind)
    return max(times.values(), default=None)
