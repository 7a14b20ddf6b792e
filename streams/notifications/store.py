"""Postgres reads and writes of the notifications agent, one round trip per batch each: the
causes waiting to be routed and the notification rows (the org chart lives in streams.orgchart)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from learnstream import ids


@dataclass(frozen=True)
class Cause:
    """Something a manager is told about, kept so late org data can still route it."""

    kind: str
    cause_id: str
    learner_id: str
    course_id: str | None
    tenant_id: str
    at_ms: int  # event time of the cause
    lookup_ms: int  # the manager is the one in charge at this event time
    event_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.cause_id)


def remember(conn: psycopg.Connection, causes: list[Cause]) -> list[Cause]:
    """Record causes; return those not known before (a known one was routed back then)."""
    if not causes:
        return []
    rows = conn.execute(
        "INSERT INTO notification_causes (kind, cause_id, learner_id, course_id, tenant_id, "
        "at_time, lookup_time, event_id) SELECT * FROM unnest(%s::text[], %s::text[], "
        "%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::uuid[]) "
        "ON CONFLICT DO NOTHING RETURNING kind, cause_id",
        _columns(
            [
                (
                    c.kind,
                    c.cause_id,
                    c.learner_id,
                    c.course_id,
                    c.tenant_id,
                    ids.from_epoch_ms(c.at_ms),
                    ids.from_epoch_ms(c.lookup_ms),
                    c.event_id,
                )
                for c in causes
            ],
            8,
        ),
    ).fetchall()
    new = {(kind, cause_id) for kind, cause_id in rows}
    fresh = []
    for cause in causes:
        if cause.key in new:
            fresh.append(cause)
            new.discard(cause.key)  # the same cause twice in one batch counts once
    return fresh


def mark_routed(conn: psycopg.Connection, routed: list[tuple[Cause, str]]) -> None:
    if routed:
        conn.execute(
            "UPDATE notification_causes AS n SET recipient_id = u.r "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(k, c, r) "
            "WHERE n.kind = u.k AND n.cause_id = u.c",
            _columns([(c.kind, c.cause_id, recipient) for c, recipient in routed], 3),
        )


def causes_affected_by(conn: psycopg.Connection, changes: Iterable[tuple[str, int]]) -> list[Cause]:
    """Unrouted causes whose manager lookup falls at or after a (learner, effective) change."""
    changes = sorted(set(changes))
    if not changes:
        return []
    rows = conn.execute(
        "SELECT DISTINCT n.kind, n.cause_id, n.learner_id, n.course_id, n.tenant_id, n.at_time, "
        "n.lookup_time, n.event_id::text FROM notification_causes n "
        "JOIN unnest(%s::text[], %s::timestamptz[]) AS u(l, e) "
        "ON n.learner_id = u.l AND n.lookup_time >= u.e WHERE n.recipient_id IS NULL "
        "ORDER BY n.kind, n.cause_id",
        _columns([(learner, ids.from_epoch_ms(ms)) for learner, ms in changes], 2),
    ).fetchall()
    return [
        Cause(r[0], r[1], r[2], r[3], r[4], ids.epoch_ms(r[5]), ids.epoch_ms(r[6]), r[7])
        for r in rows
    ]


def insert_notifications(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    """(notification_id, kind, recipient, learner, course, channel, payload) rows; returns the
    ids that are new (the others were notified before)."""
    if not rows:
        return set()
    inserted = conn.execute(
        "INSERT INTO notifications (notification_id, kind, recipient_id, subject_learner_id, "
        "course_id, channel, payload, attempts, delivered) SELECT *, 0, false FROM "
        "unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
        "%s::jsonb[]) ON CONFLICT DO NOTHING RETURNING notification_id::text",
        _columns([(*row[:6], Jsonb(row[6])) for row in rows], 7),
    ).fetchall()
    return {row[0] for row in inserted}


def _columns(rows: list[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Row tuples as per-column lists, for unnest()."""
    return tuple([row[i] for row in rows] for i in range(width))
