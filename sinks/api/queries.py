"""SQL behind the read API: plain psycopg over the views the stream agents write.

"Now" is Postgres' now(): the API answers about the present (who reports to whom today),
while each view row carries the status the streams derived at their event-time watermark.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from streams.views.dashboards import DASHBOARD_COLUMNS

# Each learner's latest employment snapshot in effect now (ties: event time, then event id).
LATEST_SNAPSHOTS = """
SELECT DISTINCT ON (o.learner_id) o.learner_id, o.manager_id, o.department,
       o.employment_status
FROM org_chart o
WHERE o.effective_at <= now() {where}
ORDER BY o.learner_id, o.effective_at DESC, o.occurred_at DESC, o.event_id DESC
"""

PROGRESS_COLUMNS = DASHBOARD_COLUMNS  # the cached dashboard and the fallback read agree


def is_current_report(conn: psycopg.Connection, manager_id: str, learner_id: str) -> bool:
    row = conn.execute(
        LATEST_SNAPSHOTS.format(where="AND o.learner_id = %s"), (learner_id,)
    ).fetchone()
    return row is not None and row[1] == manager_id and row[3] == "ACTIVE"


def learner_known(conn: psycopg.Connection, learner_id: str) -> bool:
    """A learner is known once any stream agent has written a row about them."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM learner_course_progress WHERE learner_id = %(id)s) "
        "OR EXISTS (SELECT 1 FROM org_chart WHERE learner_id = %(id)s) "
        "OR EXISTS (SELECT 1 FROM certificates WHERE learner_id = %(id)s) "
        "OR EXISTS (SELECT 1 FROM learner_activity WHERE learner_id = %(id)s)",
        {"id": learner_id},
    ).fetchone()
    return bool(row and row[0])


def manager_known(conn: psycopg.Connection, manager_id: str) -> bool:
    """Anyone in the org chart, as an employee or as someone's manager."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM org_chart WHERE learner_id = %(id)s) "
        "OR EXISTS (SELECT 1 FROM org_chart WHERE manager_id = %(id)s)",
        {"id": manager_id},
    ).fetchone()
    return bool(row and row[0])


def progress(conn: psycopg.Connection, learner_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {PROGRESS_COLUMNS} FROM learner_course_progress "
            "WHERE learner_id = %s ORDER BY course_id",
            (learner_id,),
        )
        return cur.fetchall()


def certificates(conn: psycopg.Connection, learner_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT certificate_id, course_id, tenant_id, attempt, score, issued_at, expires_at, "
            "revoked_at, revoke_reason, CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "
            "WHEN expires_at IS NOT NULL AND expires_at < now() THEN 'expired' "
            "ELSE 'valid' END AS status "
            "FROM certificates WHERE learner_id = %s ORDER BY issued_at, course_id, attempt",
            (learner_id,),
        )
        return cur.fetchall()


TEAM = f"""
WITH reports AS (
    SELECT learner_id, department FROM ({LATEST_SNAPSHOTS.format(where="")}) latest
    WHERE manager_id = %s AND employment_status = 'ACTIVE'
)
SELECT r.learner_id, r.department,
       count(p.course_id) AS assignments,
       count(p.course_id) FILTER (WHERE p.status = 'completed') AS completed,
       count(p.course_id) FILTER (WHERE p.status = 'in_progress') AS in_progress,
       count(p.course_id) FILTER (WHERE p.status = 'not_started') AS not_started,
       count(p.course_id) FILTER (WHERE p.status = 'overdue') AS overdue,
       COALESCE(array_agg(p.course_id::text ORDER BY p.course_id)
                FILTER (WHERE p.status = 'overdue'), '{{}}'::text[]) AS overdue_courses
FROM reports r
LEFT JOIN learner_course_progress p
  ON p.learner_id = r.learner_id AND p.active AND p.enrolled_at IS NOT NULL
GROUP BY r.learner_id, r.department
ORDER BY r.learner_id
"""


def team(conn: psycopg.Connection, manager_id: str) -> list[dict[str, Any]]:
    """The manager's current direct reports, each with their active assignments by status."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(TEAM, (manager_id,))
        return cur.fetchall()


def course_stats(conn: psycopg.Connection, course_id: str) -> dict[str, Any] | None:
    """From the analytics views (migration 0002); None for a course nobody has heard of."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT s.course_id, s.title, s.enrolments, s.active_enrolments, s.completions, "
            "s.completion_rate::float AS completion_rate, "
            "extract(epoch FROM s.median_time_to_complete)::float AS median_time_to_complete_s, "
            "s.avg_percent::float AS avg_percent, s.certificates_issued, "
            "s.certificates_unrevoked, f.enrolled, f.started, f.half_done, f.completed, "
            "f.certified "
            "FROM analytics.course_stats s "
            "JOIN analytics.completion_funnel f ON f.course_id = s.course_id "
            "WHERE s.course_id = %s",
            (course_id,),
        )
        return cur.fetchone()


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
