"""Notifications agent: decides which manager is told what, exactly once per deterministic id.

It keeps the org chart (every employment snapshot) and turns certificates, completions and
overdue/at-risk transitions into rows of the `notifications` outbox plus a
`notification.requested` event. Delivery (webhook, SMTP) is streams.delivery's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from learnstream import ids
from learnstream.clock import AT_RISK_WINDOW_MS
from learnstream.settings import Settings
from streams.certification import header
from streams.derive import CERTIFICATE_ISSUED, COURSE_COMPLETED, NOTIFICATION_REQUESTED, derived
from streams.rules.orgchart import Snapshot, manager_at
from streams.runtime.records import Event, Outbound
from streams.validation import validate_event

EMPLOYMENT_CHANGED = "org.learnstream.org.employment.changed.v1"
PROGRESS_CHANGED = "org.learnstream.learning.progress.changed.v1"
OUTPUT_TOPIC = "notification.requested"
DEFAULT_CHANNEL = "WEBHOOK"
DUE_TRANSITIONS = {"overdue": "OVERDUE", "at_risk": "AT_RISK"}


def load_snapshots(conn: psycopg.Connection, learner_id: str) -> list[Snapshot]:
    return load_org(conn, {learner_id}).get(learner_id, [])


def load_org(conn: psycopg.Connection, learner_ids: set[str]) -> dict[str, list[Snapshot]]:
    """Every snapshot of the given learners, in one round trip."""
    rows = conn.execute(
        "SELECT learner_id, effective_at, occurred_at, event_id::text, manager_id, "
        "employment_status, hr_worker_id, sap_user_id FROM org_chart WHERE learner_id = ANY(%s)",
        (sorted(learner_ids),),
    ).fetchall()
    org: dict[str, list[Snapshot]] = {}
    for r in rows:
        org.setdefault(r[0], []).append(
            Snapshot(ids.epoch_ms(r[1]), ids.epoch_ms(r[2]), r[3], r[4], r[5], r[6], r[7])
        )
    return org


def save_snapshot(conn: psycopg.Connection, event: Event) -> None:
    r = event.record
    conn.execute(
        "INSERT INTO org_chart (learner_id, effective_at, event_id, occurred_at, tenant_id, "
        "manager_id, department, hr_worker_id, sap_user_id, employment_status) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (
            r["learner_id"],
            r["effective_at"],
            event.event_id,
            event.occurred_at,
            event.tenant_id,
            r.get("manager_id"),
            r.get("department"),
            r.get("hr_worker_id"),
            r.get("sap_user_id"),
            r["employment_status"],
        ),
    )


@dataclass(frozen=True)
class Cause:
    """Something a manager is told about, kept so late org data can still route it."""

    kind: str
    cause_id: str
    learner_id: str
    course_id: str | None
    tenant_id: str
    at_ms: int  # event time of the cause
    lookup_ms: int  # the manager is the one in charge at this event time
    event_id: str


def remember(conn: psycopg.Connection, cause: Cause) -> bool:
    """Record a cause; False when it was known already (a replay: it was routed back then)."""
    return (
        conn.execute(
            "INSERT INTO notification_causes (kind, cause_id, learner_id, course_id, tenant_id, "
            "at_time, lookup_time, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING kind",
            (
                cause.kind,
                cause.cause_id,
                cause.learner_id,
                cause.course_id,
                cause.tenant_id,
                ids.from_epoch_ms(cause.at_ms),
                ids.from_epoch_ms(cause.lookup_ms),
                cause.event_id,
            ),
        ).fetchone()
        is not None
    )


def mark_routed(conn: psycopg.Connection, cause: Cause, recipient: str) -> None:
    conn.execute(
        "UPDATE notification_causes SET recipient_id = %s WHERE kind = %s AND cause_id = %s",
        (recipient, cause.kind, cause.cause_id),
    )


def causes_affected_by(conn: psycopg.Connection, learner_id: str, effective_ms: int) -> list[Cause]:
    rows = conn.execute(
        "SELECT kind, cause_id, learner_id, course_id, tenant_id, at_time, lookup_time, "
        "event_id::text FROM notification_causes WHERE learner_id = %s AND lookup_time >= %s "
        "AND recipient_id IS NULL",
        (learner_id, ids.from_epoch_ms(effective_ms)),
    ).fetchall()
    return [
        Cause(r[0], r[1], r[2], r[3], r[4], ids.epoch_ms(r[5]), ids.epoch_ms(r[6]), r[7])
        for r in rows
    ]


class NotificationsHandler:
    consumer = "notifications"

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        causes: list[Cause] = []
        for event in events:
            if event.name == EMPLOYMENT_CHANGED:
                save_snapshot(conn, event)
                # Org data can arrive after what it routes: route the causes still waiting for a
                # manager. A cause is routed once, so late org data never notifies twice.
                learner = event.record["learner_id"]
                effective = ids.epoch_ms(event.record["effective_at"])
                causes += causes_affected_by(conn, learner, effective)
        fresh = [c for c in map(self._cause, events) if c is not None]
        causes += [cause for cause in fresh if remember(conn, cause)]
        if not causes:
            return []
        org = load_org(conn, {c.learner_id for c in causes})
        routed = [(c, manager_at(org.get(c.learner_id, []), c.lookup_ms)) for c in causes]
        out: list[Outbound] = []
        for cause, recipient in routed:
            if recipient is not None:
                mark_routed(conn, cause, recipient)
                out += self._notify(conn, cause, recipient)
        return out

    @staticmethod
    def _cause(event: Event) -> Cause | None:
        r = event.record

        def make(kind: str, cause_id: str, at: int, lookup: int) -> Cause:
            return Cause(
                kind,
                cause_id,
                r["learner_id"],
                r.get("course_id"),
                event.tenant_id,
                at,
                lookup,
                event.event_id,
            )

        if event.name == CERTIFICATE_ISSUED:
            at = ids.epoch_ms(r["issued_at"])
            return make("CERTIFICATE_ISSUED", str(r["certificate_id"]), at, at)
        if event.name == COURSE_COMPLETED:
            at = ids.epoch_ms(r["completed_at"])
            return make("COURSE_COMPLETED", str(r["completion_id"]), at, at)
        transition = header(event, "ls-transition") if event.name == PROGRESS_CHANGED else None
        if transition in DUE_TRANSITIONS:
            due = int(header(event, "ls-due-at") or 0)
            lookup = due if transition == "overdue" else due - AT_RISK_WINDOW_MS
            cause_id = ids.due_cause_id(r["learner_id"], r["course_id"], due)
            return make(
                DUE_TRANSITIONS[transition], cause_id, ids.epoch_ms(event.occurred_at), lookup
            )
        return None

    @staticmethod
    def _notify(conn: psycopg.Connection, cause: Cause, recipient: str) -> list[Outbound]:
        notification_id = ids.notification_id(cause.kind, cause.cause_id, recipient)
        payload = {
            "kind": cause.kind,
            "cause_id": cause.cause_id,
            "course_id": cause.course_id,
            "subject_learner_id": cause.learner_id,
            "at": ids.from_epoch_ms(cause.at_ms).isoformat(),
        }
        inserted = conn.execute(
            "INSERT INTO notifications (notification_id, kind, recipient_id, subject_learner_id, "
            "course_id, channel, payload, attempts, delivered) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, false) ON CONFLICT DO NOTHING "
            "RETURNING notification_id",
            (
                notification_id,
                cause.kind,
                recipient,
                cause.learner_id,
                cause.course_id,
                DEFAULT_CHANNEL,
                Jsonb(payload),
            ),
        ).fetchone()
        if inserted is None:
            return []
        return [
            derived(
                OUTPUT_TOPIC,
                NOTIFICATION_REQUESTED,
                recipient,
                tenant_id=cause.tenant_id,
                cause=f"{cause.event_id}:{notification_id}",
                at_ms=cause.at_ms,
                fields={
                    "notification_id": notification_id,
                    "recipient_id": recipient,
                    "subject_learner_id": cause.learner_id,
                    "course_id": cause.course_id,
                    "kind": cause.kind,
                    "channel": DEFAULT_CHANNEL,
                    "payload_json": json.dumps(payload),
                },
            )
        ]


def build_handler(settings: Settings) -> NotificationsHandler:
    del settings
    return NotificationsHandler()
