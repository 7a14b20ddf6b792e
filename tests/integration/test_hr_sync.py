"""The HR sync handler against real Postgres and the contract simulators on loopback.

Each test drives `handler.apply(conn, events)` inside a transaction, as the runtime does, and
asserts exact effects on the simulators: one HR record per completion whatever fails.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from connectors.audit import Journal
from connectors.hr_sync import HrSyncHandler
from connectors.reconcile import reconcile
from connectors.simulators.common import running
from connectors.simulators.sap import SapSimulator
from connectors.simulators.workday import WorkdaySimulator
from connectors.targets import SapTarget, WorkdayTarget
from learnstream import ids
from learnstream.errors import TransientError
from learnstream.events import make_envelope
from learnstream.names import (
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    HR_CORRECTION_REQUIRED,
    HR_SYNC_RESULT,
)
from learnstream.runtime.records import DeadLetter, Event, InboundRecord, Outbound
from learnstream.sdk.models import EVENT_MODELS
from learnstream.sections import HrSettings
from learnstream.serde import build_serde
from learnstream.settings import Settings
from sinks.hr_tables import HR_SYNC_STATUS_VIEW, HR_TABLES
from sinks.tables import Certificate, OrgSnapshot

pytestmark = pytest.mark.integration

TENANT = "acme"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
WORKERS = {f"W{i}" for i in range(30)}
SAP_USERS = {f"S{i}" for i in range(30)}


# --- fixtures -----------------------------------------------------------------------------
@dataclass
class Rig:
    url: str
    conn: psycopg.Connection
    sap: SapSimulator
    workday: WorkdaySimulator
    settings: HrSettings
    letters: list[DeadLetter] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)

    def handler(self, **overrides: Any) -> HrSyncHandler:
        settings = self.settings.model_copy(update=overrides)
        journal = Journal()
        self.journals.append(journal)
        return HrSyncHandler(
            settings,
            targets={"WORKDAY": WorkdayTarget(settings), "SAP": SapTarget(settings)},
            dead_letters=self.letters.extend,
            journal=journal,
        )


@pytest.fixture
def rig(pg_url: str) -> Iterator[Rig]:
    engine = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    tables = [OrgSnapshot.__table__, Certificate.__table__, *HR_TABLES]
    OrgSnapshot.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
    with engine.begin() as c:
        c.exec_driver_sql(HR_SYNC_STATUS_VIEW)
    engine.dispose()
    sap = SapSimulator(client_secret="s3cret", company_id=TENANT, known_users=set(SAP_USERS))
    workday = WorkdaySimulator(tenant=TENANT, password="pw", known_workers=set(WORKERS))
    for simulator in (sap, workday):
        simulator.faults.timeout_sleep_s = 1.5
    with running(sap.app) as sap_url, running(workday.app) as workday_url:
        settings = HrSettings(
            sap_base_url=sap_url,
            sap_client_secret=SecretStr("s3cret"),
            sap_company_id=TENANT,
            workday_base_url=workday_url,
            workday_tenant=TENANT,
            workday_username="isu_learning@learnstream",
            workday_password=SecretStr("pw"),
            workday_requests_per_second=10,
            http_timeout_s=0.5,
            backoff_initial_s=0.02,
            backoff_max_s=0.1,
            max_attempts=6,
        )
        conn = psycopg.connect(pg_url)
        rig = Rig(pg_url, conn, sap, workday, settings)
        yield rig
        conn.close()
        for journal in rig.journals:
            journal.close()


# --- events and helpers -------------------------------------------------------------------
def employ(
    conn: psycopg.Connection,
    learner: str,
    *,
    worker: str | None = None,
    sap: str | None = None,
    status: str = "ACTIVE",
    at: datetime = T0 - timedelta(days=30),
) -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO org_chart (learner_id, effective_at, event_id, occurred_at, tenant_id, "
            "hr_worker_id, sap_user_id, employment_status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (learner, at, uuid.uuid4(), at, TENANT, worker, sap, status),
        )


_offsets = iter(range(10**9))


def event(name: str, at: datetime, learner: str, **fields: Any) -> Event:
    envelope = make_envelope(
        name,
        tenant_id=TENANT,
        source="/tests/hr",
        event_id=uuid.UUID(ids.v5(f"test:{name}:{learner}:{fields}")),
        occurred_at=at,
        correlation_id=fields.pop("correlation_id", None),
    )
    # through the SDK model, so the record is exactly what a consumer decodes
    record = EVENT_MODELS[name].from_avro({"envelope": envelope, **fields}).to_avro()
    source = InboundRecord("credential.certificate", 0, next(_offsets), learner.encode(), None)
    return Event(name, record, source)


def issued(learner: str, course: str, *, attempt: int = 1, score: float = 0.9) -> Event:
    at = T0 + timedelta(hours=attempt)
    return event(
        CERTIFICATE_ISSUED,
        at,
        learner,
        certificate_id=ids.certificate_id(TENANT, learner, course, attempt),
        learner_id=learner,
        course_id=course,
        attempt=attempt,
        score=score,
        issued_at=at,
        expires_at=None,
        correlation_id=ids.completion_id(TENANT, learner, course, attempt),
    )


def revoked(learner: str, course: str, attempt: int = 1) -> Event:
    at = T0 + timedelta(days=2)
    return event(
        CERTIFICATE_REVOKED,
        at,
        learner,
        certificate_id=ids.certificate_id(TENANT, learner, course, attempt),
        learner_id=learner,
        course_id=course,
        reason="GRADE_VOIDED",
        revoked_at=at,
    )


def apply(rig: Rig, handler: HrSyncHandler, events: list[Event]) -> list[Outbound]:
    with rig.conn.transaction():
        return handler.apply(rig.conn, events)


def statuses(out: list[Outbound]) -> list[tuple[str, str, str]]:
    return sorted(
        (o.record["target"], o.record["learner_id"], o.record["status"])
        for o in out
        if o.event_name == HR_SYNC_RESULT
    )


def audit_rows(rig: Rig) -> list[tuple[Any, ...]]:
    return rig.conn.execute(
        "SELECT target, learner_id, course_id, status, attempts, remote_ref FROM hr_sync_status "
        "ORDER BY target, learner_id, course_id"
    ).fetchall()


def sap_records(rig: Rig) -> list[tuple[str, str, int]]:
    return sorted((r["userID"], r["courseID"], r["completedTimestamp"]) for r in rig.sap.records)


def assert_schema_valid(stack_settings: Settings, out: list[Outbound]) -> None:
    serde = build_serde(stack_settings)
    for o in out:
        serde.encode(o.event_name, o.record)  # raises when a derived event breaks its schema


# --- tests --------------------------------------------------------------------------------
def test_5xx_bursts_still_give_one_record_per_completion(
    rig: Rig, stack_settings: Settings
) -> None:
    learners = [f"L{i}" for i in range(12)]
    for i, learner in enumerate(learners):
        employ(rig.conn, learner, worker=f"W{i}", sap=f"S{i}")
    rig.sap.faults.fail_5xx_next_n = 3
    rig.workday.faults.fail_5xx_next_n = 3

    out = apply(rig, rig.handler(), [issued(learner, "safety") for learner in learners])

    assert statuses(out) == sorted(
        (target, learner, "SENT") for learner in learners for target in ("SAP", "WORKDAY")
    )
    assert_schema_valid(stack_settings, out)
    assert len(rig.sap.records) == 12 and len(rig.workday.enrollments) == 12
    assert rig.workday.updates == 0
    posts = rig.sap.posted()
    assert all(len(p.body["ocnLearningEvents"]) <= 10 for p in posts)
    assert sum(r.status == 503 for r in rig.sap.received) == 3
    assert sum(len(p.body["ocnLearningEvents"]) for p in posts if p.status == 200) == 12
    assert {r[3] for r in audit_rows(rig)} == {"SENT"}


def test_timeout_after_commit_reconciles_on_redelivery_instead_of_resending(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    rig.sap.faults.timeout_after_commit_next_n = 1
    rig.workday.faults.timeout_after_commit_next_n = 1
    handler = rig.handler(max_attempts=1)  # the call gives up: the runtime will redeliver
    certificate = issued("L1", "safety")

    with pytest.raises(TransientError):
        apply(rig, handler, [certificate])
    # rolled back, yet Workday (synced first) committed; SAP was not reached
    assert audit_rows(rig) == []
    assert (len(rig.workday.enrollments), len(rig.sap.records)) == (1, 0)
    with pytest.raises(TransientError):  # redelivery: Workday reconciled, SAP times out
        apply(rig, handler, [certificate])
    assert audit_rows(rig) == []
    assert (len(rig.workday.enrollments), len(rig.sap.records)) == (1, 1)

    out = apply(rig, handler, [certificate])  # the next redelivery

    assert statuses(out) == [
        ("SAP", "L1", "ALREADY_RECORDED"),
        ("WORKDAY", "L1", "ALREADY_RECORDED"),
    ]
    assert len(rig.sap.posted()) == 1  # asked (GET), never posted a second time
    assert len(rig.workday.puts()) == 1 and rig.workday.updates == 0
    rows = audit_rows(rig)
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("SAP", "ALREADY_RECORDED", 1),
        ("WORKDAY", "ALREADY_RECORDED", 1),
    ]
    assert rows[0][5] == rig.sap.records[0]["eventID"]
    assert rows[1][5] == next(iter(rig.workday.enrollments.values()))["wid"]


def test_timeout_after_commit_within_one_call_asks_before_retrying(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    rig.sap.faults.timeout_after_commit_next_n = 1
    rig.workday.faults.timeout_after_commit_next_n = 1

    out = apply(rig, rig.handler(), [issued("L1", "safety")])

    assert statuses(out) == [
        ("SAP", "L1", "ALREADY_RECORDED"),
        ("WORKDAY", "L1", "ALREADY_RECORDED"),
    ]
    assert len(rig.sap.records) == 1 and len(rig.sap.posted()) == 1
    assert len(rig.workday.enrollments) == 1 and len(rig.workday.puts()) == 1


def test_429_storm_waits_for_retry_after_and_records_once(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    rig.sap.faults.throttle_next_n = 2
    rig.workday.faults.throttle_next_n = 2
    began = time.monotonic()

    out = apply(rig, rig.handler(), [issued("L1", "safety")])

    assert time.monotonic() - began >= 4.0  # 2 x Retry-After: 1 s, per system
    assert statuses(out) == [("SAP", "L1", "SENT"), ("WORKDAY", "L1", "SENT")]
    assert len(rig.sap.records) == 1 and len(rig.workday.enrollments) == 1
    for attempts in (rig.sap.posted(), rig.workday.puts()):
        assert [a.status for a in attempts] == [429, 429, 200]
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 0.95 for gap in gaps), gaps
    # a 429 is certain not to have been applied: no reconcile lookups were needed
    assert not [r for r in rig.sap.received if r.operation == "find_events"]
    assert audit_rows(rig)[0][4] == 3  # attempts, including the throttled ones


def test_crash_after_the_remote_write_then_redelivery(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    handler = rig.handler()
    crashes: list[str] = []

    def crash(target: str, chunk: list[Any]) -> None:
        if target == "SAP" and not crashes:
            crashes.append(target)
            raise RuntimeError("worker died before its commit")

    handler.after_remote_write = crash
    certificate = issued("L1", "safety")
    with pytest.raises(RuntimeError):
        apply(rig, handler, [certificate])
    assert audit_rows(rig) == [] and len(rig.sap.records) == 1

    out = apply(rig, handler, [certificate])

    assert ("SAP", "L1", "ALREADY_RECORDED") in statuses(out)
    assert len(rig.sap.records) == 1 and len(rig.sap.posted()) == 1
    assert len(rig.workday.enrollments) == 1 and rig.workday.updates == 0


CRASHING_WORKER = """
import json, os, signal, sys
import psycopg
from pydantic import SecretStr
from learnstream.sections import HrSettings
from connectors.hr_sync import HrSyncHandler
from tests.integration.test_hr_sync import issued

args = json.loads(sys.argv[1])
settings = HrSettings(**args["settings"])
kill = lambda target, chunk: os.kill(os.getpid(), signal.SIGKILL)  # after the remote commit
handler = HrSyncHandler(settings, after_remote_write=kill)
with psycopg.connect(args["url"]) as conn, conn.transaction():
    handler.apply(conn, [issued("L1", "safety")])
print("not killed")
"""


def test_worker_killed_with_sigkill_mid_sync(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    settings = rig.settings.model_dump(mode="json")
    settings["sap_client_secret"] = "s3cret"
    settings["workday_password"] = "pw"
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_WORKER, json.dumps({"url": rig.url, "settings": settings})],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(rig.workday.enrollments) == 1  # Workday goes first: committed, then kill -9
    assert audit_rows(rig) == []

    out = apply(rig, rig.handler(), [issued("L1", "safety")])  # Kafka redelivers

    assert statuses(out) == [("SAP", "L1", "SENT"), ("WORKDAY", "L1", "ALREADY_RECORDED")]
    assert len(rig.workday.enrollments) == 1 and len(rig.workday.puts()) == 1
    assert len(rig.sap.records) == 1


def test_redelivery_of_a_synced_event_sends_nothing(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    handler = rig.handler()
    certificate = issued("L1", "safety")
    apply(rig, handler, [certificate])
    before = (len(rig.sap.received), len(rig.workday.received), audit_rows(rig))

    assert apply(rig, handler, [certificate, certificate]) == []

    assert (len(rig.sap.received), len(rig.workday.received), audit_rows(rig)) == before


def test_a_changed_payload_is_resent_and_workday_updates_in_place(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    handler = rig.handler()
    apply(rig, handler, [issued("L1", "safety", score=0.8)])
    first_hash = rig.conn.execute("SELECT payload_hash FROM hr_sync_audit").fetchone()

    out = apply(rig, handler, [issued("L1", "safety", score=0.95)])

    assert statuses(out) == [("SAP", "L1", "SKIPPED"), ("WORKDAY", "L1", "SENT")]
    assert len(rig.workday.enrollments) == 1 and rig.workday.updates == 1
    assert next(iter(rig.workday.enrollments.values()))["score"] == "95.0"
    assert rig.conn.execute("SELECT payload_hash FROM hr_sync_audit").fetchone() != first_hash


def test_a_corrected_certificate_updates_workday_and_owes_sap_one_correction(
    rig: Rig, stack_settings: Settings
) -> None:
    """A late fact corrected the completion (docs/contract): Workday's enrolment is updated in
    place; SAP, which cannot update a recorded event, gets no second record but one
    hr.correction.required. Issued twice in one batch, only the last issue is owed."""
    employ(rig.conn, "late", worker="W1", sap="S1")
    employ(rig.conn, "batched", worker="W2", sap="S2")
    handler = rig.handler()
    apply(rig, handler, [issued("late", "safety", score=0.8)])

    out = apply(rig, handler, [issued("late", "safety", score=0.95)])
    again = apply(rig, handler, [issued("late", "safety", score=0.95)])  # redelivered
    batched = apply(
        rig, handler, [issued("batched", "safety", score=0.8), issued("batched", "safety")]
    )

    assert statuses(out) == [("WORKDAY", "late", "SENT")]
    corrections = [o for o in out if o.event_name == HR_CORRECTION_REQUIRED]
    assert [(o.record["target"], o.record["reason"]) for o in corrections] == [
        ("SAP", "COMPLETION_CORRECTED")
    ]
    assert corrections[0].record["remote_ref"] == rig.sap.records[0]["eventID"]
    assert_schema_valid(stack_settings, out)
    assert [o.event_id for o in again] == [o.event_id for o in corrections]  # the same one
    assert rig.workday.updates == 1
    scores = sorted(e["score"] for e in rig.workday.enrollments.values())
    assert scores == ["90.0", "95.0"]  # "late" updated to 0.95; "batched" sent 0.9 only
    assert sorted(r["userID"] for r in rig.sap.records) == ["S1", "S2"]  # never twice
    assert statuses(batched) == [("SAP", "batched", "SENT"), ("WORKDAY", "batched", "SENT")]


def test_permanent_rejections_fail_and_dead_letter_without_blocking_others(
    rig: Rig, stack_settings: Settings
) -> None:
    employ(rig.conn, "good", worker="W1", sap="S1")
    employ(rig.conn, "ghost", worker="W-unknown", sap="S-unknown")
    ghost = issued("ghost", "safety")

    out = apply(rig, rig.handler(), [issued("good", "safety"), ghost])

    assert statuses(out) == [
        ("SAP", "ghost", "FAILED"),
        ("SAP", "good", "SENT"),
        ("WORKDAY", "ghost", "FAILED"),
        ("WORKDAY", "good", "SENT"),
    ]
    assert_schema_valid(stack_settings, out)
    errors = {o.record["target"]: o.record["error"] for o in out if o.record["status"] == "FAILED"}
    assert errors["SAP"].startswith("USER_NOT_FOUND")
    assert "Invalid ID value" in errors["WORKDAY"]
    assert [letter.record for letter in rig.letters] == [ghost.source]  # once per event
    assert len(rig.sap.posted()) == 1  # both records in one call; only one was refused
    assert [r["userID"] for r in rig.sap.records] == ["S1"]
    failed = [r for r in audit_rows(rig) if r[3] == "FAILED"]
    assert [(r[0], r[1]) for r in failed] == [("SAP", "ghost"), ("WORKDAY", "ghost")]


def test_unmapped_inactive_and_disabled_targets_are_skipped(rig: Rig) -> None:
    employ(rig.conn, "sap-only", sap="S1")
    employ(rig.conn, "gone", worker="W2", sap="S2", status="TERMINATED")
    handler = rig.handler()
    handler.targets.pop("SAP")  # SAP disabled (no base URL)

    out = apply(rig, handler, [issued("sap-only", "c1"), issued("gone", "c1")])

    assert statuses(out) == [
        ("SAP", "sap-only", "SKIPPED"),
        ("WORKDAY", "gone", "SKIPPED"),
        ("WORKDAY", "sap-only", "SKIPPED"),
    ]
    reasons = sorted(o.record["error"] for o in out)
    assert reasons == ["NOT_MAPPED", "NOT_MAPPED", "TARGET_DISABLED"]
    assert rig.sap.received == [] and rig.workday.received == [] and audit_rows(rig) == []


def test_revocation_owes_sap_one_correction(rig: Rig, stack_settings: Settings) -> None:
    employ(rig.conn, "both", worker="W1", sap="S1")
    employ(rig.conn, "wd-only", worker="W2")
    handler = rig.handler()
    apply(rig, handler, [issued("both", "safety"), issued("wd-only", "safety")])

    revocations = [revoked("both", "safety"), revoked("wd-only", "safety")]
    out = apply(rig, handler, revocations)
    again = apply(rig, handler, revocations)  # a redelivery derives the very same event

    corrections = [o for o in out if o.event_name == HR_CORRECTION_REQUIRED]
    assert [(o.record["target"], o.record["learner_id"]) for o in corrections] == [("SAP", "both")]
    assert corrections[0].record["remote_ref"] == rig.sap.records[0]["eventID"]
    assert corrections[0].record["certificate_id"] == ids.certificate_id(
        TENANT, "both", "safety", 1
    )
    # a redelivery derives the very same correction (Workday, updated once, is not re-sent)
    assert [o.event_id for o in again] == [o.event_id for o in corrections]
    assert_schema_valid(stack_settings, out)
    assert len(rig.sap.records) == 1  # SAP records cannot be updated: nothing was sent


def test_revocation_owed_to_sap_even_if_never_synced(rig: Rig) -> None:
    employ(rig.conn, "L1", sap="S1")
    certificate_id = ids.certificate_id(TENANT, "L1", "safety", 1)
    with rig.conn.transaction():
        rig.conn.execute(
            "INSERT INTO certificates (certificate_id, learner_id, course_id, tenant_id, attempt, "
            "score, issued_at) VALUES (%s, 'L1', 'safety', %s, 1, 0.9, %s)",
            (certificate_id, TENANT, T0 + timedelta(hours=1)),
        )
    out = apply(rig, rig.handler(), [revoked("L1", "safety")])
    assert [(o.record["target"], o.record["remote_ref"]) for o in out] == [("SAP", None)]


def test_status_view_matches_the_simulators_and_reconcile_finds_injected_drift(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(15):
        employ(rig.conn, f"L{i}", worker=f"W{i}", sap=f"S{i}" if i % 3 else None)
    rig.sap.faults.fail_5xx_next_n = 1
    rig.sap.faults.timeout_after_commit_next_n = 1
    rig.workday.faults.throttle_next_n = 1
    rig.workday.faults.timeout_after_commit_next_n = 1
    apply(rig, rig.handler(), [issued(f"L{i}", f"c{i % 2}") for i in range(15)])

    view = rig.conn.execute(
        "SELECT target, hr_user_id, course_id, remote_ref, status FROM hr_sync_status"
    ).fetchall()
    assert {r[4] for r in view} <= {"SENT", "ALREADY_RECORDED"}
    assert sorted((r[1], r[2], r[3]) for r in view if r[0] == "SAP") == sorted(
        (r["userID"], r["courseID"], r["eventID"]) for r in rig.sap.records
    )
    assert sorted((r[1], r[2], r[3]) for r in view if r[0] == "WORKDAY") == sorted(
        (e["worker_id"], e["course_id"], e["wid"]) for e in rig.workday.enrollments.values()
    )
    assert len(rig.sap.records) == 10 and len(rig.workday.enrollments) == 15
    assert reconcile(rig.conn, rig.settings) == []

    env = {
        "LEARNSTREAM_HR_SAP_BASE_URL": str(rig.settings.sap_base_url),
        "LEARNSTREAM_HR_SAP_CLIENT_SECRET": "s3cret",
        "LEARNSTREAM_HR_SAP_COMPANY_ID": TENANT,
        "LEARNSTREAM_HR_WORKDAY_BASE_URL": str(rig.settings.workday_base_url),
        "LEARNSTREAM_HR_WORKDAY_TENANT": TENANT,
        "LEARNSTREAM_HR_WORKDAY_USERNAME": "isu_learning@learnstream",
        "LEARNSTREAM_HR_WORKDAY_PASSWORD": "pw",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from learnstream_cli.commands.hr import app

    clean = CliRunner().invoke(app, ["reconcile", "--database-url", rig.url])
    assert clean.exit_code == 0, clean.output
    assert "no drift" in clean.output

    # drift injected straight into the HR systems
    lost = rig.sap.records.pop(0)
    rig.sap.records.append({**rig.sap.records[0], "eventID": "dup"})
    stray = str(uuid.uuid4())
    rig.workday.enrollments[stray] = {
        **next(iter(rig.workday.enrollments.values())),
        "enrollment_id": stray,
        "wid": "stray",
    }
    edited = next(iter(rig.workday.enrollments.values()))
    edited["score"] = "12.0"

    drift = reconcile(rig.conn, rig.settings)

    kinds = sorted((d.target, d.kind) for d in drift)
    assert kinds == [
        ("SAP", "DUPLICATE_REMOTE"),
        ("SAP", "MISSING_REMOTE"),
        ("WORKDAY", "MISMATCH"),
        ("WORKDAY", "UNEXPECTED_REMOTE"),
    ]
    missing = next(d for d in drift if d.kind == "MISSING_REMOTE")
    assert missing.remote_key.startswith(f"{lost['userID']}:{lost['courseID']}:")
    assert next(d for d in drift if d.kind == "UNEXPECTED_REMOTE").remote_key == stray
    assert "score" in next(d for d in drift if d.kind == "MISMATCH").detail

    dirty = CliRunner().invoke(app, ["reconcile", "--database-url", rig.url])
    assert dirty.exit_code == 1
    assert "4 drift(s)" in dirty.output
