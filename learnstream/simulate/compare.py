"""The views in Postgres against the simulator's oracle: what the pipeline wrote, compared with
what an independent model of the rules says it should have written (tests, `make run`, the
benchmark and the reliability suite)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import psycopg

from learnstream.simulate.oracle_model import Oracle


@dataclass
class Comparison:
    checked: dict[str, int] = field(default_factory=dict)
    differences: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not any(self.differences.values())


# The audit payload's status of a revoked Workday enrolment (connectors.workday.NOT_COMPLETED;
# tests/unit/connectors/test_workday_update_contract.py pins the two equal). Spelled here so the
# core never imports the connectors above it.
REVOKED_IN_WORKDAY = "Not_Completed"


def compare_hr(conn: psycopg.Connection, oracle: Oracle, result: Comparison) -> None:
    """HR records recorded as delivered, in the state delivered (a Workday enrolment updated
    after a revocation is REVOKED), against the records the oracle says are owed."""
    got = set(conn.execute(
        "SELECT target, hr_user_id, learner_id, course_id, completion_id::text, "
        "CASE WHEN payload->>'completion_status' = %s THEN 'REVOKED' ELSE 'COMPLETED' END "
        "FROM hr_sync_audit WHERE status IN ('SENT', 'ALREADY_RECORDED')",
        (REVOKED_IN_WORKDAY,)).fetchall())  # fmt: skip
    want = {(r.target, r.hr_user_id, r.learner_id, r.course_id, r.completion_id, r.state)
            for r in oracle.hr_records}  # fmt: skip
    result.checked["hr_records"] = len(want)
    result.differences["hr_records"] = sorted(
        [("missing", *r) for r in want - got] + [("extra", *r) for r in got - want]
    )


# Notification kinds docs/domain-rules.md decides (the oracle knows no digests).
RULED_KINDS = (
    "CERTIFICATE_ISSUED",
    "COURSE_COMPLETED",
    "OVERDUE",
    "AT_RISK",
    "RECERTIFICATION_REQUIRED",
)


def compare_with_oracle(
    conn: psycopg.Connection, oracle: Oracle, *, hr: bool = False
) -> Comparison:
    result = Comparison()
    if hr:
        compare_hr(conn, oracle, result)
    views = {
        (r[0], r[1]): r[2:]
        for r in conn.execute(
            "SELECT learner_id, course_id, status, required_done, required_total, percent, "
            "time_spent_seconds FROM learner_course_progress"
        ).fetchall()
    }
    expected = {
        (p.learner_id, p.course_id): (
            p.status,
            p.required_done,
            p.required_total,
            p.percent,
            p.time_spent_seconds,
        )
        for p in oracle.progress
    }
    result.checked["progress"] = len(expected)
    result.differences["progress"] = [
        (pair, views.get(pair), want)
        for pair, want in expected.items()
        if views.get(pair) is None
        or views[pair][:4] != want[:4]
        or not math.isclose(views[pair][4], want[4], abs_tol=1e-6)
    ] + [(pair, got, None) for pair, got in views.items() if pair not in expected]
    certs = {
        str(r[0]): (r[1], r[2] is not None, r[3])
        for r in conn.execute(
            "SELECT certificate_id, attempt, revoked_at, expires_at FROM certificates"
        ).fetchall()
    }
    want_certs = {
        c.certificate_id: (c.attempt, c.revoked, c.expires_at) for c in oracle.certificates
    }
    result.checked["certificates"] = len(want_certs)
    result.differences["certificates"] = sorted(
        (cid, certs.get(cid), want_certs.get(cid))
        for cid in set(certs) | set(want_certs)
        if certs.get(cid) != want_certs.get(cid)
    )
    notes = {
        str(r[0])
        for r in conn.execute(
            "SELECT notification_id FROM notifications WHERE kind = ANY(%s)", (list(RULED_KINDS),)
        ).fetchall()
    }
    want_notes = {n.notification_id for n in oracle.notifications if n.kind in RULED_KINDS}
    result.checked["notifications"] = len(want_notes)
    result.differences["notifications"] = sorted(
        [("missing", n) for n in want_notes - notes] + [("extra", n) for n in notes - want_notes]
    )
    return result
