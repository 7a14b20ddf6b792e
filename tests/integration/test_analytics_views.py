"""Migration 0002 (schema `analytics`, role learnstream_analyst) against real Postgres: the views
return the expected numbers for a hand-built dataset, the role reads the views and nothing
else, and the migrations go up and down on empty and on filled databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from sinks.database import downgrade, upgrade

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
E = datetime(2025, 1, 6, 10, tzinfo=UTC)  # a Monday: the first cohort's week
ROLE = "learnstream_analyst"
VIEWS = [
    "certificates_expiring",
    "completion_funnel",
    "course_stats",
    "current_reporting_lines",
    "team_compliance",
    "weekly_engagement",
]


@pytest.fixture
def url(pg_url: str) -> str:
    """The SQLAlchemy URL Alembic needs, for the test's fresh database."""
    return make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False)


@pytest.fixture
def conn(pg_url: str, url: str) -> Iterator[psycopg.Connection]:
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as connection:
        yield connection


# --- the dataset -------------------------------------------------------------------------------
def course(conn: psycopg.Connection, course_id: str, version: int, title: str) -> None:
    conn.execute(
        "INSERT INTO course_versions (course_id, version, tenant_id, title, rules, catalog, "
        "published_at) VALUES (%s, %s, 'acme', %s, %s, %s, %s)",
        (course_id, version, title, Jsonb({}), Jsonb({}), E - 30 * DAY),
    )


def pair(
    conn: psycopg.Connection,
    learner: str,
    course_id: str,
    status: str,
    percent: float,
    *,
    enrolled: datetime | None = E,
    done_after: timedelta | None = None,
    active: bool = True,
) -> None:
    conn.execute(
        "INSERT INTO learner_course_progress (learner_id, course_id, tenant_id, status, "
        "required_done, required_total, percent, time_spent_seconds, best_scores, "
        "last_activity_at, enrolled_at, due_at, completed_at, active) "
        "VALUES (%s, %s, 'acme', %s, 0, 10, %s, 0, '{}', %s, %s, %s, %s, %s)",
        (
            learner,
            course_id,
            status,
            percent,
            None if status == "not_started" else E + DAY,
            enrolled,
            E + 7 * DAY if status == "overdue" else None,
            None if done_after is None or enrolled is None else enrolled + done_after,
            active,
        ),
    )


def cert(
    conn: psycopg.Connection,
    learner: str,
    course_id: str,
    expires: datetime | None,
    *,
    attempt: int = 1,
    revoked: bool = False,
) -> uuid.UUID:
    certificate_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO certificates (certificate_id, learner_id, course_id, tenant_id, attempt, "
        "score, issued_at, expires_at, revoked_at) "
        "VALUES (%s, %s, %s, 'acme', %s, 1.0, %s, %s, %s)",
        (
            certificate_id,
            learner,
            course_id,
            attempt,
            E + attempt * DAY,
            expires,
            E + 20 * DAY if revoked else None,
        ),
    )
    return certificate_id


def employment(
    conn: psycopg.Connection, learner: str, effective: datetime, manager: str, status: str
) -> None:
    conn.execute(
        "INSERT INTO org_chart (learner_id, effective_at, event_id, occurred_at, tenant_id, "
        "manager_id, employment_status) VALUES (%s, %s, %s, %s, 'acme', %s, %s)",
        (learner, effective, uuid.uuid4(), effective, manager, status),
    )


def activity(conn: psycopg.Connection, learner: str, day: date, events: int = 3) -> None:
    conn.execute(
        "INSERT INTO learner_daily_activity (learner_id, day, events) VALUES (%s, %s, %s)",
        (learner, day, events),
    )


def fill(conn: psycopg.Connection) -> dict[str, uuid.UUID]:
    course(conn, "c1", 1, "Old title")
    course(conn, "c1", 2, "Safety 101")
    course(conn, "c2", 1, "Privacy")
    course(conn, "c4", 1, "Nobody enrolled")
    # c1: 7 enrolled (h has activity but no enrolment)
    pair(conn, "a", "c1", "completed", 100, done_after=2 * DAY)
    pair(conn, "b", "c1", "completed", 100, done_after=4 * DAY)
    pair(conn, "c", "c1", "completed", 100, done_after=10 * DAY)
    pair(conn, "d", "c1", "in_progress", 60)
    pair(conn, "e", "c1", "in_progress", 20)
    # Sunday 23:30 UTC: cohort 2025-01-06, whatever the session time zone
    pair(conn, "f", "c1", "not_started", 0, enrolled=datetime(2025, 1, 12, 23, 30, tzinfo=UTC))
    pair(conn, "g", "c1", "overdue", 10)
    pair(conn, "h", "c1", "in_progress", 30, enrolled=None)
    # c2: medians interpolate between 1 and 3 days
    pair(conn, "a", "c2", "completed", 100, done_after=DAY)
    pair(conn, "b", "c2", "completed", 100, done_after=3 * DAY)
    pair(conn, "g", "c2", "overdue", 0)
    # c3: not in the catalog; d's enrolment there was cancelled
    pair(conn, "x", "c3", "in_progress", 40, enrolled=datetime(2025, 1, 15, tzinfo=UTC))
    pair(conn, "d", "c3", "not_started", 0, enrolled=E + 3 * DAY, active=False)

    certs = {
        "a_c1": cert(conn, "a", "c1", NOW + 10 * DAY),
        "c_c1": cert(conn, "c", "c1", NOW + 45 * DAY),
        "a_c2": cert(conn, "a", "c2", NOW + 80 * DAY),
    }
    cert(conn, "b", "c2", NOW + 120 * DAY)  # beyond 90 days
    cert(conn, "b", "c1", NOW + 5 * DAY, revoked=True)
    cert(conn, "x", "c3", NOW - 3 * DAY)  # already expired
    cert(conn, "e", "c1", NOW + 20 * DAY, attempt=1)  # superseded by attempt 2
    cert(conn, "e", "c1", NOW + 400 * DAY, attempt=2)
    cert(conn, "g", "c2", None)  # never expires

    # now: m1 manages a, d, g; m2 manages b, e; m3 manages h
    employment(conn, "a", NOW - 100 * DAY, "m0", "ACTIVE")
    employment(conn, "a", NOW - 10 * DAY, "m1", "ACTIVE")
    employment(conn, "d", NOW - 10 * DAY, "m1", "ACTIVE")
    employment(conn, "g", NOW - 10 * DAY, "m1", "ACTIVE")
    employment(conn, "e", NOW - 30 * DAY, "m1", "ACTIVE")
    employment(conn, "e", NOW - 3 * DAY, "m2", "ACTIVE")  # moved to m2
    employment(conn, "b", NOW - 30 * DAY, "m2", "ACTIVE")
    employment(conn, "f", NOW - 30 * DAY, "m1", "ACTIVE")
    employment(conn, "f", NOW - DAY, "m1", "TERMINATED")  # no manager any more
    employment(conn, "h", NOW - 30 * DAY, "m3", "ACTIVE")
    employment(conn, "h", NOW + 5 * DAY, "m1", "ACTIVE")  # not in effect yet

    activity(conn, "a", date(2025, 1, 6))
    activity(conn, "a", date(2025, 1, 8))
    activity(conn, "a", date(2025, 1, 14))
    activity(conn, "b", date(2025, 1, 12))  # Sunday: still week 0
    activity(conn, "b", date(2025, 1, 27))  # week 3
    activity(conn, "c", date(2025, 1, 5))  # before the cohort week: not counted
    activity(conn, "d", date(2025, 1, 7), events=0)  # no events: not active
    activity(conn, "x", date(2025, 1, 15))
    return certs


def rows(conn: psycopg.Connection, query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


# --- the views -------------------------------------------------------------------------------
def test_completion_funnel(conn: psycopg.Connection) -> None:
    fill(conn)
    assert rows(
        conn,
        "SELECT course_id, title, enrolled, started, half_done, completed, certified, "
        "completion_rate FROM analytics.completion_funnel ORDER BY course_id",
    ) == [
        ("c1", "Safety 101", 7, 6, 4, 3, 2, Decimal("0.4286")),  # b's certificate is revoked
        ("c2", "Privacy", 3, 3, 2, 2, 2, Decimal("0.6667")),
        ("c3", None, 2, 1, 0, 0, 0, Decimal("0.0000")),
        ("c4", "Nobody enrolled", 0, 0, 0, 0, 0, None),
    ]


def test_course_stats(conn: psycopg.Connection) -> None:
    fill(conn)
    assert rows(
        conn,
        "SELECT course_id, enrolments, active_enrolments, completions, completion_rate, "
        "median_time_to_complete, median_days_to_complete, avg_percent, certificates_issued, "
        "certificates_unrevoked FROM analytics.course_stats ORDER BY course_id",
    ) == [
        ("c1", 7, 7, 3, Decimal("0.4286"), 4 * DAY, Decimal("4.00"), Decimal("55.7"), 5, 4),
        ("c2", 3, 3, 2, Decimal("0.6667"), 2 * DAY, Decimal("2.00"), Decimal("66.7"), 3, 3),
        ("c3", 2, 1, 0, Decimal("0.0000"), None, None, Decimal("20.0"), 1, 1),
        ("c4", 0, 0, 0, None, None, None, None, 0, 0),
    ]


def test_team_compliance(conn: psycopg.Connection) -> None:
    fill(conn)
    assert rows(
        conn,
        "SELECT manager_id, reports, assignments, overdue, in_progress, not_started, completed, "
        "completion_rate, overdue_reports FROM analytics.team_compliance ORDER BY manager_id",
    ) == [
        # a: c1+c2 completed; d: c1 in progress (c3 cancelled); g: c1+c2 overdue
        ("m1", 3, 5, 2, 1, 0, 2, Decimal("0.4000"), ["g"]),
        ("m2", 2, 3, 0, 1, 0, 2, Decimal("0.6667"), []),
        ("m3", 1, 0, 0, 0, 0, 0, None, []),  # h has activity but no enrolment
    ]
    assert rows(
        conn, "SELECT learner_id, manager_id FROM analytics.current_reporting_lines ORDER BY 1"
    ) == [("a", "m1"), ("b", "m2"), ("d", "m1"), ("e", "m2"), ("g", "m1"), ("h", "m3")]


def test_certificates_expiring(conn: psycopg.Connection) -> None:
    certs = fill(conn)
    assert rows(
        conn,
        "SELECT certificate_id, learner_id, course_id, bucket, days_left, manager_id "
        "FROM analytics.certificates_expiring ORDER BY expires_at",
    ) == [
        (certs["a_c1"], "a", "c1", "0-30", 10, "m1"),
        (certs["c_c1"], "c", "c1", "31-60", 45, None),
        (certs["a_c2"], "a", "c2", "61-90", 80, "m1"),
    ]


def test_weekly_engagement(conn: psycopg.Connection) -> None:
    fill(conn)
    query = (
        "SELECT cohort_week, week_number, week_start, learners, active_learners, active_rate "
        "FROM analytics.weekly_engagement ORDER BY cohort_week, week_number"
    )
    expected = [
        (date(2025, 1, 6), 0, date(2025, 1, 6), 7, 2, Decimal("0.2857")),
        (date(2025, 1, 6), 1, date(2025, 1, 13), 7, 1, Decimal("0.1429")),
        (date(2025, 1, 6), 2, date(2025, 1, 20), 7, 0, Decimal("0.0000")),
        (date(2025, 1, 6), 3, date(2025, 1, 27), 7, 1, Decimal("0.1429")),
        (date(2025, 1, 13), 0, date(2025, 1, 13), 1, 1, Decimal("1.0000")),
    ]
    assert rows(conn, query) == expected
    conn.execute("SET TIME ZONE 'Asia/Tokyo'")  # weeks are UTC weeks, not the session's
    assert rows(conn, query) == expected


# --- the analyst role ------------------------------------------------------------------------
def test_analyst_reads_the_views_and_no_raw_table(conn: psycopg.Connection) -> None:
    fill(conn)
    # a view added later is covered by the default privileges
    conn.execute("CREATE VIEW analytics.extra AS SELECT count(*) AS n FROM public.pair_state")
    assert rows(conn, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{ROLE}'") == [(False,)]
    for view in [*VIEWS, "extra"]:
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {ROLE}")
            conn.execute(f"SELECT * FROM analytics.{view}").fetchall()
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {ROLE}")
        assert conn.execute("SELECT enrolled FROM analytics.completion_funnel").fetchall()
    for forbidden in (
        "SELECT * FROM public.pair_state",
        "SELECT * FROM public.learner_course_progress",
        "SELECT * FROM public.org_chart",
        "SELECT * FROM public.certificates",
        "CREATE TABLE analytics.mine (x int)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(f"SET LOCAL ROLE {ROLE}")
            conn.execute(forbidden)
    assert conn.execute("SELECT current_user").fetchone() != (ROLE,)  # SET LOCAL ended


# --- migrations ------------------------------------------------------------------------------
def analytics_views(conn: psycopg.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics' "
            "ORDER BY table_name"
        )
    ]


def role_dependencies_here(conn: psycopg.Connection) -> int:
    """Privileges this database still grants the role (blocks DROP ROLE)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
        "JOIN pg_database db ON db.oid = d.dbid "
        "WHERE r.rolname = %s AND db.datname = current_database()",
        (ROLE,),
    ).fetchone()
    return int(row[0]) if row else 0


def public_tables(conn: psycopg.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    from sinks.database import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url=url)).get_current_head()
    assert head is not None
    return head


def test_migrations_on_an_empty_database(pg_url: str, url: str) -> None:
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert analytics_views(conn) == VIEWS
        assert role_dependencies_here(conn) > 0
        for view in VIEWS:
            assert rows(conn, f"SELECT * FROM analytics.{view}") == []
    downgrade("base", url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert analytics_views(conn) == []
        assert rows(conn, "SELECT 1 FROM pg_namespace WHERE nspname = 'analytics'") == []
        assert role_dependencies_here(conn) == 0
        assert public_tables(conn) == ["alembic_version"]
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert analytics_views(conn) == VIEWS
        assert rows(conn, "SELECT version_num FROM alembic_version") == [(head_revision(url),)]


def test_migrations_on_a_filled_database(pg_url: str, url: str) -> None:
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        fill(conn)
        funnel = rows(conn, "SELECT * FROM analytics.completion_funnel ORDER BY course_id")
    downgrade("0001", url=url)  # the views go, the data they read stays
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert analytics_views(conn) == []
        assert role_dependencies_here(conn) == 0
        assert rows(conn, "SELECT count(*) FROM learner_course_progress") == [(13,)]
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert rows(conn, "SELECT * FROM analytics.completion_funnel ORDER BY course_id") == funnel
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {ROLE}")
            assert rows(conn, "SELECT count(*) FROM analytics.course_stats") == [(4,)]
    downgrade("base", url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert public_tables(conn) == ["alembic_version"]
    upgrade(url=url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert rows(conn, "SELECT count(*) FROM analytics.completion_funnel") == [(0,)]
