"""Notifications agent: decides which manager is told what, exactly once per deterministic id.

It keeps the org chart (every employment snapshot) and turns certificates, completions and
overdue/at-risk transitions into rows of the `notifications` outbox plus a
`notification.requested` event. Delivery (webhook, SMTP) is streams.delivery's job.
"""

from __future__ import annotations

import json

import psycopg
from psycopg.types.json import Jsonb

from learnstream import ids
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
    rows = conn.execute(
        "SELECT effective_at, occurred_at, event_id::text, manager_id, employment_status, "
        "hr_worker_id, sap_user_id FROM org_chart WHERE learner_id = %s",
        (learner_id,),
    ).fetchall()
    return [
        Snapshot(ids.epoch_ms(r[0]), ids.epoch_ms(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows
    ]


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


class NotificationsHandler:
    consumer = "notifications"

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        out: list[Outbound] = []
        for event in sorted(events, key=lambda e: e.name != EMPLOYMENT_CHANGED):
            if event.name == EMPLOYMENT_CHANGED:
                save_snapshot(conn, event)  # org changes first: later causes may need them
                continue
            cause = self._cause(event)
            if cause is None:
                continue
            kind, cause_id, at_ms, lookup_ms = cause
            learner = event.record["learner_id"]
            recipient = manager_at(load_snapshots(conn, learner), lookup_ms)
            if recipient is not None:
                out += self._notify(conn, event, kind, cause_id, recipient, at_ms)
        return out

    @staticmethod
    def _cause(event: Event) -> tuple[str, str, int, int] | None:
        """(kind, cause id, event time, time at which the manager is looked up)."""
        r = event.record
        if event.name == CERTIFICATE_ISSUED:
            at = ids.epoch_ms(r["issued_at"])
            return "CERTIFICATE_ISSUED", str(r["certificate_id"]), at, at
        if event.name == COURSE_COMPLETED:
            at = ids.epoch_ms(r["completed_at"])
            return "COURSE_COMPLETED", str(r["completion_id"]), at, at
        transition = header(event, "ls-transition") if event.name == PROGRESS_CHANGED else None
        if transition in DUE_TRANSITIONS:
            due = int(header(event, "ls-due-at") or 0)
            lookup = due if transition == "overdue" else due - 7 * 86_400_000
            cause_id = ids.due_cause_id(r["learner_id"], r["course_id"], due)
            return DUE_TRANSITIONS[transition], cause_id, ids.epoch_ms(event.occurred_at), lookup
        return None

    @staticmethod
    def _notify(
        conn: psycopg.Connection, event: Event, kind: str, cause_id: str, recipient: str, at_ms: int
    ) -> list[Outbound]:
        r = event.record
        notification_id = ids.notification_id(kind, cause_id, recipient)
        payload = {
            "kind": kind,
            "cause_id": cause_id,
            "course_id": r.get("course_id"),
            "subject_learner_id": r["learner_id"],
            "at": ids.from_epoch_ms(at_ms).isoformat(),
        }
        inserted = conn.execute(
            "INSERT INTO notifications (notification_id, kind, recipient_id, subject_learner_id, "
            "course_id, channel, payload, attempts, delivered) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, false) ON CONFLICT DO NOTHING "
            "RETURNING notification_id",
            (
                notification_id,
                kind,
                recipient,
                r["learner_id"],
                r.get("course_id"),
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
                tenant_id=event.tenant_id,
                cause=f"{event.event_id}:{notification_id}",
                at_ms=at_ms,
                fields={
                    "notification_id": notification_id,
                    "recipient_id": recipient,
                    "subject_learner_id": r["learner_id"],
                    "course_id": r.get("course_id"),
                    "kind": kind,
                    "channel": DEFAULT_CHANNEL,
                    "payload_json": json.dumps(payload),
                },
            )
        ]


def build_handler(settings: Settings) -> NotificationsHandler:
    del settings
    return NotificationsHandler()
