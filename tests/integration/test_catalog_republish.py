"""A course owner republishes a live course: what learners, managers and HR must see.

Written from the user's side: adding a required module to a course must not take a
certificate away from anyone who earned it; new enrolments need the new module; a version that
explicitly asks everyone to re-certify expires the old certificates at its deadline and tells the
learner and the manager, without revoking anything. Real Kafka, Postgres and a real worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from learnstream import ids
from learnstream.runtime.drain import wait_until_drained
from learnstream.sdk import (
    CoursePublished,
    EmploymentChanged,
    EnrollmentCreated,
    Event,
    LessonCompleted,
    Publisher,
)
from learnstream.settings import Settings
from learnstream.simulate import compute_oracle
from learnstream.simulate.compare import compare_with_oracle
from learnstream.simulate.model import SimEvent
from learnstream.topology import load_topology
from tests.support.pipeline import running_worker

pytestmark = [pytest.mark.integration]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "acme"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def module(module_id: str, lesson: str) -> dict[str, Any]:
    return {
        "module_id": module_id,
        "title": module_id,
        "required": True,
        "items": [{"item_id": lesson, "kind": "LESSON", "required": True}],
    }


def course(minutes: float, course_id: str, version: int, modules: list[dict[str, Any]], **kw: Any):  # type: ignore[no-untyped-def]
    return CoursePublished.new(
        tenant_id=TENANT,
        source="/catalog",
        occurred_at=at(minutes),
        course_id=course_id,
        title=course_id,
        version=version,
        modules=modules,
        pass_mark=0.7,
        certificate_validity_days=365,
        **kw,
    )


def enrol(minutes: float, learner: str, course_id: str) -> Event:
    return EnrollmentCreated.new(
        tenant_id=TENANT,
        source="/lms",
        occurred_at=at(minutes),
        enrollment_id=f"{learner}:{course_id}",
        learner_id=learner,
        course_id=course_id,
    )


def lesson(minutes: float, learner: str, course_id: str, lesson_id: str) -> Event:
    return LessonCompleted.new(
        tenant_id=TENANT,
        source="/lms",
        occurred_at=at(minutes),
        learner_id=learner,
        course_id=course_id,
        lesson_id=lesson_id,
        time_spent_seconds=60.0,
    )


def employ(learner: str) -> Event:
    return EmploymentChanged.new(
        tenant_id=TENANT,
        source="/hr",
        occurred_at=at(0),
        learner_id=learner,
        manager_id="boss",
        employment_status="ACTIVE",
        effective_at=at(0),
    )


def certificates(conn: psycopg.Connection) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT learner_id, course_id, attempt, expires_at, revoked_at, revoke_reason "
        "FROM certificates"
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def publish_tables_first(publisher: Publisher, events: list[Event]) -> None:
    """Catalog versions, then the rest: a version counts as published before an enrolment once
    the broker acknowledged it (the lane's table barrier, ADR 0010). Sent in one call, records
    of different topics reach the broker in no fixed order, and an enrolment that arrived
    before the version it follows in event time was pinned to the older one (seen as a
    certificate the oracle does not have, about one run in ten)."""
    publisher.publish_many([e for e in events if isinstance(e, CoursePublished)])
    publisher.publish_many([e for e in events if not isinstance(e, CoursePublished)])


def test_republishing_a_course_keeps_earned_certificates_and_recertify_expires_them(
    world: Settings, tmp_path: Path
) -> None:
    topology = load_topology(world.topology_file)
    safety_v1 = [module("m1", "l1")]
    safety_v2 = [*safety_v1, module("m9", "l9")]  # the editor adds a required module
    before = [
        *(employ(learner) for learner in ("l-1", "l-2", "l-3")),
        course(0, "safety", 1, safety_v1),
        course(0, "audit", 1, safety_v1),
        enrol(1, "l-1", "safety"),
        lesson(2, "l-1", "safety", "l1"),  # certified on version 1
        enrol(1, "l-1", "audit"),
        lesson(2, "l-1", "audit", "l1"),  # certified on version 1
        enrol(3, "l-3", "safety"),  # enrolled on version 1, not done yet
    ]
    deadline = at(30 * 24 * 60)
    after = [
        course(10, "safety", 2, safety_v2),
        course(10, "audit", 2, safety_v2, recertify_on_publish=True, recertify_by=deadline),
        enrol(11, "l-2", "safety"),  # enrols on version 2
        lesson(12, "l-2", "safety", "l1"),
        lesson(20, "l-3", "safety", "l1"),  # finishes what it enrolled in
    ]
    with Publisher(world) as publisher, running_worker(world, tmp_path / "worker.log"):
        publish_tables_first(publisher, before)
        wait_until_drained(world, topology)
        with psycopg.connect(world.postgres_url) as conn:
            earned = certificates(conn)
        assert set(earned) == {("l-1", "safety"), ("l-1", "audit")}
        publish_tables_first(publisher, after)
        wait_until_drained(world, topology)

    with psycopg.connect(world.postgres_url) as conn:
        now = certificates(conn)
        progress = {
            (r[0], r[1]): (r[2], r[3], r[4])
            for r in conn.execute(
                "SELECT learner_id, course_id, status, required_done, required_total "
                "FROM learner_course_progress"
            ).fetchall()
        }
        notes = conn.execute(
            "SELECT notification_id::text, recipient_id FROM notifications "
            "WHERE kind = 'RECERTIFICATION_REQUIRED'"
        ).fetchall()
        oracle = compute_oracle(
            [SimEvent(e.EVENT_NAME, e.key(), e.to_avro()) for e in [*before, *after]]
        )
        comparison = compare_with_oracle(conn, oracle)

    # 1. Adding a required module revokes nothing and changes no earned expiry.
    assert now[("l-1", "safety")] == earned[("l-1", "safety")]
    assert all(revoked is None for _, _, revoked, _ in now.values()), now
    assert progress[("l-1", "safety")] == ("completed", 1, 1)
    # 2. New enrolments need the new module; an enrolment keeps the version it began with.
    assert progress[("l-2", "safety")] == ("in_progress", 1, 2)
    assert progress[("l-3", "safety")] == ("completed", 1, 1)
    assert ("l-3", "safety") in now
    # 3. An explicit recertification expires the old certificate at the deadline, revokes
    # nothing, and tells the learner and the manager once each.
    attempt, expires_at, revoked_at, _ = now[("l-1", "audit")]
    assert (attempt, expires_at, revoked_at) == (1, deadline, None)
    certificate_id = ids.certificate_id(TENANT, "l-1", "audit", 1)
    cause = ids.recertification_cause_id(certificate_id, 2)
    assert sorted(notes) == sorted(
        (ids.notification_id("RECERTIFICATION_REQUIRED", cause, to), to) for to in ("boss", "l-1")
    )
    # 4. And the views equal the independent oracle of docs/domain-rules.md.
    assert not any(comparison.differences.values()), comparison.differences
