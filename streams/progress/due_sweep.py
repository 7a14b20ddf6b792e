"""Overdue and at-risk are about time passing, not about events. Once the event-time
watermark passes a pair's threshold (due_at for OVERDUE, due_at - 7 days for AT_RISK), the lane
that owns the pair decides between two of its batches, once, from what had happened *by the
threshold* (docs/domain-rules.md): a pair that was not completed at its due date was overdue,
even if it completed later."""

from __future__ import annotations

from typing import Any, Protocol

import psycopg
import redis

from learnstream import ids
from learnstream.clock import ALLOWED_LATENESS_MS, AT_RISK_PERCENT, AT_RISK_WINDOW_MS
from learnstream.names import PROGRESS_CHANGED
from learnstream.runtime.locks import try_lock_learners
from learnstream.runtime.records import Outbound
from streams.derive import derived
from streams.progress import store
from streams.progress.events import progress_fields
from streams.progress.pair_cache import PairCache
from streams.progress.timeline import Progress, fold_until, progress_as_of, timeline_of
from streams.views.dashboards import refresh_learners

# A pair belongs to the lane that owns the partition its events arrive on; a pair written
# before pair_state.lane_partition existed belongs to every lane until its owner writes it.
# `mine` NULL asks for every lane's pairs (the backlog check).
OWNED = """
LEFT JOIN pair_state s ON s.learner_id = p.learner_id AND s.course_id = p.course_id
WHERE (%(mine)s::smallint[] IS NULL OR s.lane_partition IS NULL
       OR s.lane_partition = ANY(%(mine)s::smallint[]))
"""
# Pairs still learning whose due date passed (a partial index holds exactly those rows).
STATUS_REFRESH = f"""
SELECT p.learner_id, p.course_id FROM learner_course_progress p {OWNED}
AND p.status IN ('in_progress', 'not_started') AND p.active AND p.due_at < %(wm)s
ORDER BY p.due_at, p.learner_id, p.course_id LIMIT %(limit)s
"""
# Pairs whose next undecided threshold has passed: the timer column the progress stage arms
# when a due date is set or changes, and the sweep moves on when it decides (a partial index
# holds the armed rows only, so a sweep reads what is owed, not every pair ever enrolled).
CANDIDATES = f"""
SELECT p.learner_id, p.course_id FROM learner_course_progress p {OWNED}
AND p.next_due_check_at <= %(decided)s
ORDER BY p.next_due_check_at, p.learner_id, p.course_id LIMIT %(limit)s
"""


class Lane(Protocol):
    """What the sweep needs of the progress handler (streams.progress.handler): its clock,
    its pair state in memory and its Redis views. A protocol, so the handler can use the sweep
    (its backlog) without the two importing each other."""

    pairs: PairCache
    client: redis.Redis[str] | None
    prefix: str

    def clock(
        self, conn: psycopg.Connection, end_offsets: dict[tuple[str, int], int] | None = None
    ) -> int | None: ...


def pending(
    conn: psycopg.Connection,
    clock: Lane,
    end_offsets: dict[tuple[str, int], int] | None,
    limit: int = 500,
) -> tuple[int | None, list[tuple[str, str]]]:
    """(low watermark, pairs with a due decision or a status change owed at that watermark),
    over every lane's pairs."""
    watermark, decisions, statuses = _owed(conn, clock, end_offsets, limit, None)
    return watermark, decisions + statuses


def _owed(
    conn: psycopg.Connection,
    clock: Lane,
    end_offsets: dict[tuple[str, int], int] | None,
    limit: int,
    mine: list[int] | None,
) -> tuple[int | None, list[store.Pair], list[store.Pair]]:
    watermark = clock.clock(conn, end_offsets)
    if watermark is None:
        return None, [], []
    decided_until = ids.from_epoch_ms(watermark - ALLOWED_LATENESS_MS)
    params = {
        "wm": ids.from_epoch_ms(watermark),
        "decided": decided_until,
        "limit": limit,
        "mine": mine,
    }
    decisions = [(learner, course) for learner, course in conn.execute(CANDIDATES, params)]
    statuses = [(learner, course) for learner, course in conn.execute(STATUS_REFRESH, params)]
    return watermark, decisions, statuses


def sweep_due(
    conn: psycopg.Connection,
    lane: Lane,
    end_offsets: dict[tuple[str, int], int] | None,
    mine: list[int],
    limit: int = 500,
) -> tuple[list[Outbound], bool]:
    """(alerts, whether more is owed than this sweep took) for the pairs of the partitions
    `mine`, run by the lane that owns them between two of its batches (ADR 0010, "Due
    decisions in the lane"): it decides from the pair state the lane keeps in memory, and no
    batch of its own can write a pair while it decides."""
    watermark, decisions, statuses = _owed(conn, lane, end_offsets, limit, mine)
    more = len(decisions) >= limit or len(statuses) >= limit
    if watermark is None or not (decisions or statuses):
        return [], False
    touched = set(decisions) | set(statuses)
    store.lock_courses(conn, {course for _, course in touched}, set())
    # Others write these learners too (a catalog re-fold by another member, the org-chart
    # agent): never wait for them; a learner held now is decided at a later sweep.
    free = try_lock_learners(conn, {learner for learner, _ in touched})
    statuses = [pair for pair in statuses if pair[0] in free]
    # Read under the locks, through the lane's cache, which re-reads whatever someone else
    # wrote since (streams/progress/pair_cache.py): the decision sees the pair's current facts.
    decided = [pair for pair in decisions if pair[0] in free]
    states = lane.pairs.states(conn, set(decided))
    versions = store.load_versions(conn, {c for _, c in states})
    owed_alerts, dues = _decisions(states, versions, watermark)
    raised = _decide(conn, [(pair, kind, due, owed) for pair, kind, due, owed, *_ in owed_alerts])
    _rearm(conn, {pair: _next_check(dues.get(pair), watermark) for pair in decided})
    out = [
        alert(pair, tenant, kind, due, threshold, then)
        for pair, kind, due, _, threshold, then, tenant in owed_alerts
        if (pair, kind) in raised
    ]
    overdue = _mark_overdue(conn, statuses, watermark)
    if lane.client is not None and overdue:  # overdue is visible through the API once committed
        refresh_learners(conn, lane.client, lane.prefix, overdue, features=False)
    return out, more


Decision = tuple[store.Pair, str, int, bool, int, Progress, str]


def _decisions(
    states: dict[store.Pair, dict[str, Any]], versions: dict[str, list[Any]], watermark: int
) -> tuple[list[Decision], dict[store.Pair, int | None]]:
    """Per pair and threshold passed: (pair, kind, due, owed, threshold, progress then,
    tenant), decided from what had happened by the threshold; and each pair's due date."""
    decided: list[Decision] = []
    dues: dict[store.Pair, int | None] = {}
    for pair in sorted(states):
        state, course_versions = states[pair], versions.get(pair[1], [])
        due = dues[pair] = progress_as_of(timeline_of(state, course_versions), watermark).due_at
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
            decided.append((pair, kind, due, owed, threshold, progress_then, state["tenant_id"]))
    return decided, dues


def _next_check(due: int | None, watermark: int) -> int | None:
    """The pair's first threshold not yet decidable at `watermark` (at-risk, then overdue);
    None when both were decided now, or the pair has no due date (or no state) any more."""
    if due is None:
        return None
    for threshold in (due - AT_RISK_WINDOW_MS, due):
        if threshold + ALLOWED_LATENESS_MS > watermark:
            return threshold
    return None


def _rearm(conn: psycopg.Connection, checks: dict[store.Pair, int | None]) -> None:
    """Move the decided pairs' timers on, in one statement (the learners' locks are held)."""
    if not checks:
        return
    pairs = sorted(checks)
    times = [checks[pair] for pair in pairs]
    conn.execute(
        "UPDATE learner_course_progress p SET next_due_check_at = u.n "
        "FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS u(l, c, n) "
        "WHERE p.learner_id = u.l AND p.course_id = u.c",
        (
            [learner for learner, _ in pairs],
            [course for _, course in pairs],
            [None if t is None else ids.from_epoch_ms(t) for t in times],
        ),
    )


def _mark_overdue(conn: psycopg.Connection, pairs: list[store.Pair], watermark: int) -> set[str]:
    """Pairs whose due date passed while still learning are overdue now: the view's status
    changes with time alone (progress_as_of), so the view row says it without a fold."""
    if not pairs:
        return set()
    rows = conn.execute(
        "UPDATE learner_course_progress p SET status = 'overdue', updated_at = now() "
        "FROM unnest(%s::text[], %s::text[]) AS u(l, c) WHERE p.learner_id = u.l "
        "AND p.course_id = u.c AND p.status IN ('in_progress', 'not_started') AND p.active "
        "AND p.due_at < %s RETURNING p.learner_id",
        ([p[0] for p in pairs], [p[1] for p in pairs], ids.from_epoch_ms(watermark)),
    ).fetchall()
    return {row[0] for row in rows}


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


def alert(
    pair: store.Pair, tenant: str, kind: str, due: int, at_ms: int, then: Progress
) -> Outbound:
    """A progress snapshot as of the threshold, marked with the transition it announces."""
    status = "overdue" if kind == "overdue" else then.status
    return derived(
        PROGRESS_CHANGED,
        pair[0],
        tenant_id=tenant,
        cause=f"{kind}:{ids.due_cause_id(pair[0], pair[1], due)}",
        at_ms=at_ms,
        fields=progress_fields(pair, then, status=status, transition=kind, due_at=due),
    )
