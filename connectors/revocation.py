"""What a revoked certificate owes each HR system (docs/domain-rules.md, "HR records").

* Workday: an update of the very enrolment the completion created (ADR 0011), through the same
  audit row and attempt journal as a completion, so it is sent once whatever fails.
* SAP, and a Workday tenant that cannot be updated: one hr.correction.required, because only
  an administrator can fix the record there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from connectors import audit
from connectors.audit import AuditKey
from connectors.targets import SAP, WORKDAY, hr_user_id
from connectors.workday import is_revoked, revoked_payload
from learnstream import ids
from learnstream.names import HR_CORRECTION_REQUIRED
from learnstream.runtime.records import Event, Outbound
from streams.derive import derived
from streams.orgchart import load_snapshots, snapshot_at

REVOKED_REASON = "CERTIFICATE_REVOKED"
# a late fact moved the completion earlier or raised its score (docs/contract)
CORRECTED = "COMPLETION_CORRECTED"


@dataclass(frozen=True)
class WorkdayRevocation:
    """The revoked state owed to Workday for one audit row (already locked by us)."""

    key: AuditKey
    hr_user_id: str
    payload: dict[str, Any]
    digest: str
    done: bool  # the audit says Workday already holds exactly this state
    remote_ref: str | None


def workday_revocation(conn: psycopg.Connection, certificate_id: str) -> WorkdayRevocation | None:
    """None when Workday never recorded this completion: there is nothing to take back."""
    row = conn.execute(
        "SELECT learner_id, course_id, completion_id::text, hr_user_id, status, payload, "
        "payload_hash, remote_ref FROM hr_sync_audit WHERE target = %s AND certificate_id = %s "
        "FOR UPDATE",
        (WORKDAY, certificate_id),
    ).fetchone()
    if row is None or row[4] not in audit.RECORDED:
        return None  # never sent, or permanently refused: Workday holds no completion
    payload = row[5] if is_revoked(row[5]) else revoked_payload(row[5])
    digest = audit.payload_hash(payload)
    key = AuditKey(WORKDAY, row[0], row[1], row[2])
    return WorkdayRevocation(key, row[3], payload, digest, row[6] == digest, row[7])


def superseded(target: str, row: audit.AuditRow) -> bool:
    """A redelivered issue must not undo a revocation Workday already holds."""
    return target == WORKDAY and row.status in audit.RECORDED and is_revoked(row.payload)


def corrections(
    conn: psycopg.Connection,
    event: Event,
    workday: WorkdayRevocation | None,
    workday_updatable: bool,
) -> list[Outbound]:
    """hr.correction.required for each system an administrator must fix by hand."""
    r = event.record
    out: list[Outbound] = []
    sap = conn.execute(
        "SELECT remote_ref FROM hr_sync_audit WHERE target = %s AND certificate_id = %s",
        (SAP, r["certificate_id"]),
    ).fetchone()
    if sap is not None or _owed_to_sap(conn, r):
        out.append(correction(event, SAP, None if sap is None else sap[0]))
    if workday is not None and not workday.done and not workday_updatable:
        out.append(correction(event, WORKDAY, workday.remote_ref))
    return out


def correction(
    event: Event, target: str, remote_ref: str | None, reason: str = REVOKED_REASON
) -> Outbound:
    """For a certificate.revoked, or a certificate.issued again with corrected values."""
    r = event.record
    at = r["revoked_at"] if reason == REVOKED_REASON else r["issued_at"]
    return derived(
        HR_CORRECTION_REQUIRED,
        r["learner_id"],
        tenant_id=event.tenant_id,
        cause=f"{event.event_id}:{target}",
        at_ms=ids.epoch_ms(at),
        fields={
            "target": target,
            "learner_id": r["learner_id"],
            "course_id": r["course_id"],
            "certificate_id": str(r["certificate_id"]),
            "reason": reason,
            "remote_ref": remote_ref,
        },
    )


def _owed_to_sap(conn: psycopg.Connection, r: dict[str, Any]) -> bool:
    """Owed even if never synced (SAP disabled then): the rule is about employment."""
    issued = conn.execute(
        "SELECT issued_at FROM certificates WHERE certificate_id = %s", (r["certificate_id"],)
    ).fetchone()
    if issued is None:
        return False
    snapshot = snapshot_at(load_snapshots(conn, r["learner_id"]), ids.epoch_ms(issued[0]))
    return hr_user_id(SAP, snapshot) is not None
