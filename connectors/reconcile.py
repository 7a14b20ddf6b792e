"""Drift between the audit (what we believe each HR system holds) and what it really holds,
and revoked certificates whose HR record still says completed.

A revoked certificate is CORRECTION_PENDING where only an administrator can fix the record
(SAP always; Workday when the tenant cannot be updated): expected until the manual correction,
so it is listed, not counted as drift. In an updatable Workday it is REVOKED_STILL_COMPLETED,
which is drift: learnstream should have updated the enrolment.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from connectors.audit import RECORDED
from connectors.http import retrying
from connectors.sap import SapClient, record_key
from connectors.targets import SAP, WORKDAY
from connectors.workday import COMPLETED, WorkdayClient
from learnstream.sections import HrSettings

T = TypeVar("T")
SAP_COMPARED = ("grade", "totalHours", "creditHours", "courseCompleted")
WORKDAY_COMPARED = ("worker_id", "course_id", "completion_status", "completion_date", "score")


CORRECTION_PENDING = "CORRECTION_PENDING"


@dataclass(frozen=True)
class Drift:
    target: str
    # MISSING_REMOTE | DUPLICATE_REMOTE | UNEXPECTED_REMOTE | MISMATCH
    # | REVOKED_STILL_COMPLETED | CORRECTION_PENDING (not drift: an admin's to-do)
    kind: str
    remote_key: str
    learner_id: str | None = None
    course_id: str | None = None
    completion_id: str | None = None
    detail: str = ""

    @property
    def pending(self) -> bool:
        return self.kind == CORRECTION_PENDING


def _revoked(conn: psycopg.Connection, target: str) -> dict[str, str]:
    """completion_id → tenant of each recorded completion whose certificate was revoked."""
    rows = conn.execute(
        "SELECT a.completion_id::text, c.tenant_id FROM hr_sync_audit a JOIN certificates c "
        "ON c.certificate_id = a.certificate_id WHERE a.target = %s AND a.status = ANY(%s) "
        "AND c.revoked_at IS NOT NULL",
        (target, list(RECORDED)),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _expected(conn: psycopg.Connection, target: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = conn.execute(
        "SELECT learner_id, course_id, completion_id::text, payload FROM hr_sync_audit "
        "WHERE target = %s AND status = ANY(%s) ORDER BY learner_id, course_id, completion_id",
        (target, list(RECORDED)),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _diff(fields: tuple[str, ...], ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    return ", ".join(
        f"{f}: {ours.get(f)!r} != {theirs.get(f)!r}"
        for f in fields
        if str(ours.get(f)) != str(theirs.get(f))
    )


def reconcile_sap(conn: psycopg.Connection, remote: list[dict[str, Any]]) -> list[Drift]:
    counts = Counter(record_key(r) for r in remote)
    by_key = {record_key(r): r for r in remote}
    drifts: list[Drift] = []
    expected: set[tuple[str, str, str, int]] = set()
    revoked = _revoked(conn, SAP)
    for learner, course, completion, payload in _expected(conn, SAP):
        key = record_key(payload)
        expected.add(key)
        ids = {"learner_id": learner, "course_id": course, "completion_id": completion}
        label = ":".join(map(str, key[1:]))
        if key not in by_key:
            drifts.append(Drift(SAP, "MISSING_REMOTE", label, **ids))
            continue
        if counts[key] > 1:
            drifts.append(Drift(SAP, "DUPLICATE_REMOTE", label, **ids, detail=f"{counts[key]}x"))
        detail = _diff(SAP_COMPARED, payload, by_key[key])
        if detail:
            drifts.append(Drift(SAP, "MISMATCH", label, **ids, detail=detail))
        if completion in revoked and by_key[key].get("courseCompleted"):
            note = "certificate revoked; SAP records cannot be updated: an admin must correct it"
            drifts.append(Drift(SAP, CORRECTION_PENDING, label, **ids, detail=note))
    for key in sorted(set(counts) - expected):
        drifts.append(Drift(SAP, "UNEXPECTED_REMOTE", ":".join(map(str, key[1:]))))
    return drifts


def reconcile_workday(
    conn: psycopg.Connection,
    remote: list[dict[str, Any]],
    can_update: Callable[[str], bool] = lambda _tenant: True,
) -> list[Drift]:
    by_id = {str(r["enrollment_id"]): r for r in remote}
    drifts: list[Drift] = []
    expected: set[str] = set()
    revoked = _revoked(conn, WORKDAY)
    for learner, course, completion, payload in _expected(conn, WORKDAY):
        ref = str(payload["enrollment_id"])
        expected.add(ref)
        ids = {"learner_id": learner, "course_id": course, "completion_id": completion}
        if ref not in by_id:
            drifts.append(Drift(WORKDAY, "MISSING_REMOTE", ref, **ids))
            continue
        if completion in revoked and by_id[ref].get("completion_status") == COMPLETED:
            fixable = can_update(revoked[completion])
            kind = "REVOKED_STILL_COMPLETED" if fixable else CORRECTION_PENDING
            note = "certificate revoked; Workday still says Completed" + (
                "" if fixable else " and this tenant cannot be updated: an admin must"
            )
            drifts.append(Drift(WORKDAY, kind, ref, **ids, detail=note))
            continue  # the one finding that matters for this enrolment
        detail = _diff(WORKDAY_COMPARED, payload, by_id[ref])
        if detail:
            drifts.append(Drift(WORKDAY, "MISMATCH", ref, **ids, detail=detail))
    for ref in sorted(set(by_id) - expected):
        if _is_ours(ref):
            drifts.append(Drift(WORKDAY, "UNEXPECTED_REMOTE", ref))
    return drifts


def _is_ours(enrollment_id: str) -> bool:
    """A tenant holds enrolments from many sources; ours carry a completion UUID as the id."""
    try:
        uuid.UUID(enrollment_id)
    except ValueError:
        return False
    return True


def _with_retries(settings: HrSettings, fetch: Callable[[], T]) -> T:
    for attempt in retrying(settings):
        with attempt:
            return fetch()
    raise AssertionError("unreachable: tenacity re-raises the last error")


def reconcile(
    conn: psycopg.Connection,
    settings: HrSettings,
    sap: SapClient | None = None,
    workday: WorkdayClient | None = None,
) -> list[Drift]:
    """Compare every enabled target; clients default to the configured ones."""
    drifts: list[Drift] = []
    if sap is None and settings.sap_enabled:
        sap = SapClient(settings)
    if workday is None and settings.workday_enabled:
        workday = WorkdayClient(settings)
    if sap is not None:
        drifts += reconcile_sap(conn, _with_retries(settings, sap.find_events))
    if workday is not None:
        remote = _with_retries(settings, workday.get_enrollments)
        drifts += reconcile_workday(conn, remote, settings.workday_can_update)
    return drifts
