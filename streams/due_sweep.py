"""Overdue and at-risk are about time passing, not about events: a timer sweeps the pairs
whose due date the event-time watermark has reached, and raises each alert once."""

from __future__ import annotations

import psycopg

from learnstream import ids
from streams import progress_store as store
from streams.derive import PROGRESS_CHANGED, derived
from streams.progress import OUTPUT_TOPIC, ProgressHandler, progress_fields
from streams.rules.progress import DAY_MS
from streams.rules.timeline import fold, progress_as_of
from streams.runtime.records import Outbound

AT_RISK_WINDOW_MS = 7 * DAY_MS
AT_RISK_PERCENT = 50.0
CANDIDATES = """
SELECT p.learner_id, p.course_id FROM learner_course_progress p
WHERE p.status <> 'completed' AND p.active AND p.due_at IS NOT NULL
  AND ((p.due_at < %(wm)s AND NOT EXISTS (
          SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
          AND a.course_id = p.course_id AND a.kind = 'overdue' AND a.due_at = p.due_at))
    OR (p.due_at >= %(wm)s AND p.due_at - interval '7 days' <= %(wm)s AND p.percent < %(pct)s
        AND NOT EXISTS (
          SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
          AND a.course_id = p.course_id AND a.kind = 'at_risk' AND a.due_at = p.due_at)))
ORDER BY p.learner_id, p.course_id LIMIT %(limit)s
"""


def sweep_due(conn: psycopg.Connection, limit: int = 500) -> list[Outbound]:
    row = conn.execute(
        "SELECT event_time FROM watermarks WHERE consumer = %s", (ProgressHandler.consumer,)
    ).fetchone()
    if row is None:
        return []
    watermark = ids.epoch_ms(row[0])
    pairs = conn.execute(
        CANDIDATES, {"wm": row[0], "pct": AT_RISK_PERCENT, "limit": limit}
    ).fetchall()
    if not pairs:
        return []
    wanted = {(learner, course) for learner, course in pairs}
    store.lock_courses(conn, {course for _, course in wanted}, set())
    states = store.load_pairs(conn, wanted)
    versions = store.load_versions(conn, {course for _, course in wanted})
    out: list[Outbound] = []
    views = []
    for pair in sorted(states):
        state = states[pair]
        timeline = fold(state["facts"], versions.get(pair[1], []))
        progress = progress_as_of(timeline, watermark)
        views.append((pair, state["tenant_id"], progress))
        due = progress.due_at
        if due is None or timeline.completed:
            continue
        if progress.status == "overdue":
            out += _alert(conn, pair, state["tenant_id"], "overdue", due, due, progress)
        elif due - AT_RISK_WINDOW_MS <= watermark < due and progress.percent < AT_RISK_PERCENT:
            at_risk_from = due - AT_RISK_WINDOW_MS
            out += _alert(conn, pair, state["tenant_id"], "at_risk", due, at_risk_from, progress)
    store.save_progress(conn, views)
    return out


def _alert(
    conn: psycopg.Connection,
    pair: store.Pair,
    tenant: str,
    kind: str,
    due: int,
    at_ms: int,
    progress: object,
) -> list[Outbound]:
    inserted = conn.execute(
        "INSERT INTO due_alerts (learner_id, course_id, kind, due_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING kind",
        (pair[0], pair[1], kind, ids.from_epoch_ms(due)),
    ).fetchone()
    if inserted is None:
        return []
    cause = f"{kind}:{ids.due_cause_id(pair[0], pair[1], due)}"
    return [
        derived(
            OUTPUT_TOPIC,
            PROGRESS_CHANGED,
            pair[0],
            tenant_id=tenant,
            cause=cause,
            at_ms=at_ms,
            headers={"ls-transition": kind, "ls-due-at": str(due)},
            fields=progress_fields(pair, progress),  # type: ignore[arg-type]
        )
    ]
