"""Overdue and at-risk are about time passing, not about events. Once the event-time
watermark passes a pair's threshold (due_at for OVERDUE, due_at - 7 days for AT_RISK), a timer
decides, once, from what had happened *by the threshold* (docs/domain-rules.md): a pair that
was not completed at its due date was overdue, even if it completed later."""

from __future__ import annotations

import psycopg

from learnstream import ids
from learnstream.clock import ALLOWED_LATENESS_MS, AT_RISK_PERCENT, AT_RISK_WINDOW_MS
from streams import progress_store as store
from streams.derive import PROGRESS_CHANGED, derived
from streams.progress import OUTPUT_TOPIC, ProgressHandler, progress_fields
from streams.redis_views import refresh_learners
from streams.rules.timeline import Progress, fold, fold_until, progress_as_of
from streams.runtime.locks import lock_learners
from streams.runtime.records import Outbound

STATUS_REFRESH = """
SELECT learner_id, course_id FROM learner_course_progress
WHERE status IN ('in_progress', 'not_started') AND active AND due_at < %(wm)s
ORDER BY learner_id, course_id LIMIT %(limit)s
"""
CANDIDATES = """
SELECT p.learner_id, p.course_id FROM learner_course_progress p
WHERE p.due_at IS NOT NULL AND (
    (p.due_at <= %(decided)s AND NOT EXISTS (
        SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
        AND a.course_id = p.course_id AND a.kind = 'overdue' AND a.due_at = p.due_at))
 OR (p.due_at - interval '7 days' <= %(decided)s AND NOT EXISTS (
        SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
        AND a.course_id = p.course_id AND a.kind = 'at_risk' AND a.due_at = p.due_at)))
ORDER BY p.learner_id, p.course_id LIMIT %(limit)s
"""


def pending(
    conn: psycopg.Connection,
    clock: ProgressHandler,
    end_offsets: dict[tuple[str, int], int] | None,
    limit: int = 500,
) -> tuple[int | None, list[tuple[str, str]]]:
    """(low watermark, pairs with a due decision or a status change owed at that watermark)."""
    watermark = clock.clock(conn, end_offsets)
    if watermark is None:
        return None, []
    decided_until = ids.from_epoch_ms(watermark - ALLOWED_LATENESS_MS)
    params = {"wm": ids.from_epoch_ms(watermark), "decided": decided_until, "limit": limit}
    pairs = conn.execute(CANDIDATES, params).fetchall()
    pairs += conn.execute(STATUS_REFRESH, params).fetchall()
    return watermark, [(learner, course) for learner, course in pairs]


def sweep_due(
    conn: psycopg.Connection,
    clock: ProgressHandler,
    end_offsets: dict[tuple[str, int], int] | None,
    limit: int = 500,
) -> list[Outbound]:
    watermark, pairs = pending(conn, clock, end_offsets, limit)
    if watermark is None or not pairs:
        return []
    wanted = {(learner, course) for learner, course in pairs}
    # Read and fold without locks, then lock and keep the pairs nobody wrote meanwhile: the
    # lane's batches never wait for a sweep's folding (a changed pair waits for the next tick).
    loaded = store.load_learners(conn, sorted({learner for learner, _ in wanted}))
    states = {p: loaded[p[0]][0][p[1]] for p in wanted if p[1] in loaded[p[0]][0]}
    versions = store.load_versions(conn, {course for _, course in wanted})
    views = []
    owed_alerts: list[tuple[store.Pair, str, int, bool, int, Progress, str]] = []
    for pair in sorted(states):
        state, course_versions = states[pair], versions.get(pair[1], [])
        now = progress_as_of(fold(state["facts"], course_versions), watermark)
        views.append((pair, state["tenant_id"], now))  # status moves to overdue as time passes
        due = now.due_at
        if due is None:
            continue
        for kind, threshold in (("overdue", due), ("at_risk", due - AT_RISK_WINDOW_MS)):
            if threshold + ALLOWED_LATENESS_MS > watermark:
                continue
            then = fold_until(state["facts"], course_versions, threshold)
            progress_then = progress_as_of(then, threshold)
            owed = progress_then.active and not then.completed
            if kind == "at_risk":
                owed = owed and progress_then.percent < AT_RISK_PERCENT
            tenant = state["tenant_id"]
            owed_alerts.append((pair, kind, due, owed, threshold, progress_then, tenant))
    store.lock_courses(conn, {course for _, course in states}, set())
    lock_learners(conn, {learner for learner, _ in states})
    now_versions = store.row_versions(conn, sorted({learner for learner, _ in states}))
    kept = {p for p in states if now_versions[p[0]].get(p[1]) == loaded[p[0]][1].get(p[1])}
    views = [view for view in views if view[0] in kept]
    owed_alerts = [alert for alert in owed_alerts if alert[0] in kept]
    raised = _decide(conn, [(pair, kind, due, owed) for pair, kind, due, owed, *_ in owed_alerts])
    out = [
        _alert(pair, tenant, kind, due, threshold, then)
        for pair, kind, due, _, threshold, then, tenant in owed_alerts
        if (pair, kind) in raised
    ]
    store.save_progress(conn, views)
    if clock.client is not None:  # overdue is visible through the API once committed
        learners = {learner for learner, _ in kept}
        refresh_learners(conn, clock.client, clock.prefix, learners, features=False)
    return out


def _decide(
    conn: psycopg.Connection, decisions: list[tuple[store.Pair, str, int, bool]]
) -> set[tuple[store.Pair, str]]:
    """Record the decisions in one statement; returns the owed alerts decided for the first
    time (a decision recorded before, by this or another worker, is never raised again)."""
    if not decisions:
        return set()
    rows = conn.execute(
        "INSERT INTO due_alerts (learner_id, course_id, kind, due_at, raised) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], "
        "%s::bool[]) ON CONFLICT DO NOTHING RETURNING learner_id, course_id, kind, raised",
        (
            [pair[0] for pair, *_ in decisions],
            [pair[1] for pair, *_ in decisions],
            [kind for _, kind, _, _ in decisions],
            [ids.from_epoch_ms(due) for _, _, due, _ in decisions],
            [owed for *_, owed in decisions],
        ),
    ).fetchall()
    return {((learner, course), kind) for learner, course, kind, raised in rows if raised}


def _alert(
    pair: store.Pair, tenant: str, kind: str, due: int, at_ms: int, then: Progress
) -> Outbound:
    """A progress snapshot as of the threshold, marked with the transition it announces."""
    status = "overdue" if kind == "overdue" else then.status
    return derived(
        OUTPUT_TOPIC,
        PROGRESS_CHANGED,
        pair[0],
        tenant_id=tenant,
        cause=f"{kind}:{ids.due_cause_id(pair[0], pair[1], due)}",
        at_ms=at_ms,
        headers={"ls-transition": kind, "ls-due-at": str(due)},
        fields=progress_fields(pair, then, status=status),
    )
