"""A small, hand-written read model for the API tests: a migrated database with view rows as the
stream agents would have written them, plus the HS256 settings and tokens to read it with.

Org chart as of now: m1 manages l1 and l2; l3 moved from m1 to m2; l4 was m1's until terminated;
l2 has a future snapshot naming m9 (not in effect yet). Courses c1 and c2 are in the catalog."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from learnstream.events import make_envelope
from learnstream.runtime.records import Event, InboundRecord
from learnstream.sdk.models import EVENT_MODELS
from learnstream.sections import ApiSettings
from learnstream.settings import Settings
from sinks.api import mint_token
from sinks.database import upgrade
from streams.progress import handler as progress

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
SECRET = "test-secret-that-is-long-enough-for-hs256!"
CATALOG = "org.learnstream.catalog.course.published.v1"
LEARNERS = ("l1", "l2", "l3", "l4")
_offsets = itertools.count()


def catalog_event(course_id: str, item: str) -> Event:
    name = CATALOG
    envelope = make_envelope(name, tenant_id="acme", source="/tests/api", occurred_at=NOW - DAY)
    fields = {
        "course_id": course_id,
        "title": course_id.upper(),
        "version": 1,
        "modules": [
            {
                "module_id": f"{course_id}-m1",
                "title": "Module 1",
                "required": True,
                "items": [{"item_id": item, "kind": "LESSON", "required": True}],
            }
        ],
        "pass_mark": 0.7,
        "due_days": None,
        "prerequisites": [],
        "skills": [{"skill": "safety", "weight": 1.0}],
    }
    record = EVENT_MODELS[name].from_avro({"envelope": envelope, **fields}).to_avro()
    inbound = InboundRecord("catalog.course", 0, next(_offsets), course_id.encode(), None)
    return Event(name, record, inbound)


def snapshot(
    conn: psycopg.Connection, learner: str, at: datetime, manager: str | None, status: str
) -> None:
    conn.execute(
        "INSERT INTO org_chart (learner_id, effective_at, event_id, occurred_at, tenant_id, "
        "manager_id, department, employment_status) VALUES (%s, %s, %s, %s, 'acme', %s, 'ops', %s)",
        (learner, at, uuid.uuid4(), at, manager, status),
    )


def progress_row(
    conn: psycopg.Connection, learner: str, course: str, status: str, percent: float, **extra: Any
) -> None:
    row: dict[str, Any] = {
        "learner_id": learner,
        "course_id": course,
        "tenant_id": "acme",
        "status": status,
        "required_done": int(percent // 25),
        "required_total": 4,
        "percent": percent,
        "time_spent_seconds": 60.0 * percent,
        "best_scores": Jsonb({"q1": 0.8} if percent else {}),
        "last_activity_at": None if status == "not_started" else NOW - DAY,
        "enrolled_at": NOW - 20 * DAY,
        "due_at": None,
        "completed_at": NOW - 2 * DAY if status == "completed" else None,
        "active": True,
        **extra,
    }
    columns = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    conn.execute(f"INSERT INTO learner_course_progress ({columns}) VALUES ({values})", row)


def certificate(
    conn: psycopg.Connection,
    learner: str,
    course: str,
    expires: datetime | None,
    revoked: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO certificates (certificate_id, learner_id, course_id, tenant_id, attempt, "
        "score, issued_at, expires_at, revoked_at, revoke_reason) "
        "VALUES (%s, %s, %s, 'acme', 1, 0.9, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            learner,
            course,
            NOW - 100 * DAY,
            expires,
            revoked,
            None if revoked is None else "grade_corrected",
        ),
    )


def seed(pg_url: str, stack: Settings) -> None:
    """Migrate the (empty) database at `pg_url` and write the read model described above."""
    upgrade(url=make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False))
    with psycopg.connect(pg_url) as conn:
        with conn.transaction():
            progress.build_handler(stack).apply(
                conn, [catalog_event("c1", "c1-l1"), catalog_event("c2", "c2-l1")]
            )
        snapshot(conn, "l1", NOW - 30 * DAY, "m0", "ACTIVE")
        snapshot(conn, "l1", NOW - 10 * DAY, "m1", "ACTIVE")
        snapshot(conn, "l2", NOW - 20 * DAY, "m1", "ACTIVE")
        snapshot(conn, "l2", NOW + 5 * DAY, "m9", "ACTIVE")  # not in effect yet
        snapshot(conn, "l3", NOW - 20 * DAY, "m1", "ACTIVE")
        snapshot(conn, "l3", NOW - 5 * DAY, "m2", "ACTIVE")  # moved to m2
        snapshot(conn, "l4", NOW - 20 * DAY, "m1", "ACTIVE")
        snapshot(conn, "l4", NOW - 2 * DAY, "m1", "TERMINATED")
        snapshot(conn, "m1", NOW - 90 * DAY, "boss", "ACTIVE")
        progress_row(conn, "l1", "c1", "in_progress", 50.0)
        progress_row(conn, "l1", "c2", "completed", 100.0)
        progress_row(conn, "l2", "c1", "overdue", 25.0, due_at=NOW - 3 * DAY)
        progress_row(conn, "l3", "c1", "completed", 100.0)
        progress_row(conn, "l4", "c1", "not_started", 0.0)
        certificate(conn, "l1", "c2", NOW + 200 * DAY)
        certificate(conn, "l1", "c0", NOW + 200 * DAY, revoked=NOW - 50 * DAY)
        certificate(conn, "l1", "c9", NOW - DAY)


def api_settings(pg_url: str, stack: Settings, redis_key_prefix: str) -> ApiSettings:
    """HS256 settings (SECRET, a test issuer and audience) over `pg_url` and the stack's Redis."""
    return ApiSettings(
        jwt_algorithm="HS256",
        jwt_secret=SecretStr(SECRET),
        jwt_issuer="learnstream-test",
        jwt_audience="learnstream-api-test",
        postgres_dsn=SecretStr(pg_url),
        redis_url=SecretStr(stack.redis_address),
        redis_key_prefix=redis_key_prefix,
        cache_ttl_s=120,
        connect_timeout_s=2.0,
    )


def auth(settings: ApiSettings, sub: str, *roles: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, sub, roles, **kwargs)}"}
