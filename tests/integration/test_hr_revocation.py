"""Issue 11 item 2, from the user's side: after a grade correction revokes a certificate, the
Workday enrolment must stop saying "Completed" with the old score, learnstream must say so on
hr.sync.result, and `hr reconcile` must catch any HR record that still says completed.

Real Postgres, the contract simulators on loopback, the handler as the runtime drives it.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from connectors.hr_sync import Item
from connectors.reconcile import reconcile
from learnstream import ids
from learnstream.errors import TransientError
from learnstream.names import HR_CORRECTION_REQUIRED, HR_SYNC_RESULT
from learnstream.runtime.records import Outbound
from learnstream.settings import Settings
from tests.integration import test_hr_sync
from tests.integration.test_hr_sync import (
    T0,
    TENANT,
    Rig,
    apply,
    assert_schema_valid,
    employ,
    issued,
    revoked,
)

pytestmark = pytest.mark.integration
rig = test_hr_sync.rig  # the same fixture: Postgres tables and both simulators on loopback


def certificate(conn: psycopg.Connection, learner: str, course: str, *, revoked: bool) -> None:
    """The certificates view as the certification agent leaves it (reconcile reads it)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO certificates (certificate_id, learner_id, course_id, tenant_id, attempt, "
            "score, issued_at, revoked_at, revoke_reason) VALUES (%s, %s, %s, %s, 1, 0.9, %s, %s, "
            "%s) ON CONFLICT (certificate_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at",
            (
                ids.certificate_id(TENANT, learner, course, 1),
                learner,
                course,
                TENANT,
                T0 + timedelta(hours=1),
                T0 + timedelta(days=2) if revoked else None,
                "GRADE_VOIDED" if revoked else None,
            ),
        )


def results(out: list[Outbound], target: str) -> list[dict[str, object]]:
    return [
        o.record for o in out if o.event_name == HR_SYNC_RESULT and o.record["target"] == target
    ]


def corrections(out: list[Outbound]) -> list[tuple[object, object]]:
    return [
        (o.record["target"], o.record["remote_ref"])
        for o in out
        if o.event_name == HR_CORRECTION_REQUIRED
    ]


def the_enrolment(rig: Rig) -> dict[str, object]:
    [enrolment] = rig.workday.enrollments.values()
    return enrolment


def test_revocation_updates_the_same_workday_enrolment_once_and_says_so(
    rig: Rig, stack_settings: Settings
) -> None:
    employ(rig.conn, "L1", worker="W1", sap="S1")
    certificate(rig.conn, "L1", "safety", revoked=False)
    handler = rig.handler()
    apply(rig, handler, [issued("L1", "safety", score=0.9)])
    completed = dict(the_enrolment(rig))
    assert (completed["completion_status"], completed["score"]) == ("Completed", "90.0")

    certificate(rig.conn, "L1", "safety", revoked=True)
    out = apply(rig, handler, [revoked("L1", "safety")])

    # the enrolment Workday already had, no longer completed and without the voided score
    enrolment = the_enrolment(rig)
    assert enrolment["wid"] == completed["wid"]
    assert enrolment["enrollment_id"] == ids.completion_id(TENANT, "L1", "safety", 1)
    assert (enrolment["completion_status"], enrolment["score"]) == ("Not_Completed", None)
    assert (enrolment["worker_id"], enrolment["course_id"]) == ("W1", "safety")
    assert enrolment["completion_date"] == completed["completion_date"]
    history = rig.workday.history[str(enrolment["enrollment_id"])]
    assert [(h["completion_status"], h["score"]) for h in history] == [
        ("Completed", "90.0"),
        ("Not_Completed", None),
    ]
    # a result a consumer can tell apart from the completion's, valid against the schema
    [result] = results(out, "WORKDAY")
    assert result["status"] == "SENT" and result["change"] == "REVOCATION"
    assert result["remote_ref"] == completed["wid"]
    assert result["completion_id"] == enrolment["enrollment_id"]
    assert_schema_valid(stack_settings, out)
    # SAP cannot be updated: still one record, and an administrator is told
    assert corrections(out) == [("SAP", rig.sap.records[0]["eventID"])]
    assert len(rig.sap.records) == 1
    # the audit and the journal tell the same story: two payloads, one attempt each
    row = rig.conn.execute(
        "SELECT payload->>'completion_status', status FROM hr_sync_audit WHERE target = 'WORKDAY'"
    ).fetchone()
    assert row == ("Not_Completed", "SENT")
    attempts = rig.conn.execute(
        "SELECT count(DISTINCT payload_hash), count(*) FROM hr_sync_attempts "
        "WHERE target = 'WORKDAY'"
    ).fetchone()
    assert attempts == (2, 2)

    # redelivery of both events: nothing is sent again, nothing flips back to Completed
    puts = len(rig.workday.puts())
    again = apply(rig, handler, [issued("L1", "safety", score=0.9), revoked("L1", "safety")])
    assert len(rig.workday.puts()) == puts and results(again, "WORKDAY") == []
    assert the_enrolment(rig)["completion_status"] == "Not_Completed"

    # reconcile: Workday is right; SAP still says completed, which an admin must correct
    drift = reconcile(rig.conn, rig.settings)
    assert [(d.target, d.kind) for d in drift] == [("SAP", "CORRECTION_PENDING")]


def test_issued_and_revoked_in_one_batch_end_revoked(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    out = apply(rig, rig.handler(), [issued("L1", "safety"), revoked("L1", "safety")])

    assert the_enrolment(rig)["completion_status"] == "Not_Completed"
    changes = [(r["change"], r["status"]) for r in results(out, "WORKDAY")]
    assert changes == [("COMPLETION", "SENT"), ("REVOCATION", "SENT")]


def test_revocation_timeout_after_commit_asks_workday_before_resending(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    handler = rig.handler()
    apply(rig, handler, [issued("L1", "safety")])
    rig.workday.faults.timeout_after_commit_next_n = 1  # the update lands, the answer does not

    out = apply(rig, handler, [revoked("L1", "safety")])

    [result] = results(out, "WORKDAY")
    assert (result["status"], result["change"]) == ("ALREADY_RECORDED", "REVOCATION")
    assert len(rig.workday.puts()) == 2  # completion + one revocation: asked, not re-sent
    assert the_enrolment(rig)["completion_status"] == "Not_Completed"


def test_crash_after_the_revocation_landed_then_redelivery(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    apply(rig, rig.handler(), [issued("L1", "safety")])

    def crash(target: str, chunk: list[Item]) -> None:
        raise TransientError("worker died after Workday committed")

    dying = rig.handler()
    dying.after_remote_write = crash
    with pytest.raises(TransientError):
        apply(rig, dying, [revoked("L1", "safety")])  # the batch, audit included, rolls back

    out = apply(rig, rig.handler(), [revoked("L1", "safety")])

    assert [r["status"] for r in results(out, "WORKDAY")] == ["ALREADY_RECORDED"]
    assert len(rig.workday.puts()) == 2 and len(rig.workday.enrollments) == 1


def test_a_tenant_whose_workday_cannot_be_updated_gets_a_correction(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    certificate(rig.conn, "L1", "safety", revoked=True)
    handler = rig.handler(workday_no_update_tenants=frozenset({TENANT}))
    apply(rig, handler, [issued("L1", "safety")])
    wid = the_enrolment(rig)["wid"]

    out = apply(rig, handler, [revoked("L1", "safety")])

    assert corrections(out) == [("WORKDAY", wid)]
    assert results(out, "WORKDAY") == [] and len(rig.workday.puts()) == 1
    assert the_enrolment(rig)["completion_status"] == "Completed"
    # reconcile lists it for the administrator; for an updatable tenant it would be drift
    no_updates = rig.settings.model_copy(update={"workday_updates_enabled": False})
    assert [d.kind for d in reconcile(rig.conn, no_updates)] == ["CORRECTION_PENDING"]
    [drift] = reconcile(rig.conn, rig.settings)
    assert (drift.target, drift.kind) == ("WORKDAY", "REVOKED_STILL_COMPLETED")
    assert drift.remote_key == the_enrolment(rig)["enrollment_id"]


def test_a_refused_revocation_fails_dead_letters_and_asks_for_a_correction(rig: Rig) -> None:
    employ(rig.conn, "L1", worker="W1")
    handler = rig.handler()
    apply(rig, handler, [issued("L1", "safety")])
    rig.workday.enrollments.clear()  # Workday lost it: an update of an unknown enrolment
    rig.workday.history.clear()

    event = revoked("L1", "safety")
    out = apply(rig, handler, [event])

    [result] = results(out, "WORKDAY")
    assert (result["status"], result["change"]) == ("FAILED", "REVOCATION")
    assert "Invalid ID value" in str(result["error"])
    assert [target for target, _ref in corrections(out)] == ["WORKDAY"]
    assert [letter.record for letter in rig.letters] == [event.source]
