"""Notifications agent: decides which manager is told what, exactly once per deterministic id.

It keeps the org chart (every employment snapshot) and turns certificates, completions and
overdue/at-risk transitions into rows of the `notifications` outbox plus a
`notification.requested` event. Delivery (webhook, SMTP) is streams.notifications.delivery's job.
"""

from __future__ import annotations

import json

import psycopg

from learnstream import ids
from learnstream.clock import AT_RISK_WINDOW_MS
from learnstream.names import (
    CERTIFICATE_ISSUED,
    COURSE_COMPLETED,
    EMPLOYMENT_CHANGED,
    NOTIFICATION_REQUESTED,
    PROGRESS_CHANGED,
    RECERTIFICATION_REQUIRED,
)
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.locks import lock_learners
from learnstream.runtime.records import Event, Outbound
from learnstream.sections import NotifySettings
from learnstream.settings import Settings
from streams.derive import derived
from streams.notifications.store import (
    Cause,
    causes_affected_by,
    insert_notifications,
    mark_routed,
    remember,
)
from streams.orgchart import load_org, manager_at, save_snapshots
from streams.validation import validate_event

DEFAULT_CHANNEL = "WEBHOOK"
DUE_TRANSITIONS = {"overdue": "OVERDUE", "at_risk": "AT_RISK"}
# Kinds the learner is told about too, not only the manager in charge.
TO_THE_LEARNER_TOO = {"RECERTIFICATION_REQUIRED"}


class NotificationsHandler(BaseHandler):
    consumer = "notifications"

    def __init__(self, notify: NotifySettings | None = None) -> None:
        self.notify = notify or NotifySettings()  # defaults: no channel, nothing owed

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def backlog(
        self, conn: psycopg.Connection, end_offsets: dict[tuple[str, int], int]
    ) -> dict[str, int]:
        """Notifications a channel still owes: not delivered, not given up on."""
        del end_offsets
        if not (self.notify.webhook_enabled or self.notify.smtp_enabled):
            return {}
        row = conn.execute(
            "SELECT count(*) FROM notifications WHERE NOT delivered AND attempts < %s "
            "AND coalesce(last_error, '') NOT LIKE 'permanent:%%'",
            (self.notify.max_attempts,),
        ).fetchone()
        return {"undelivered": int(row[0]) if row else 0}

    def relevant(self, event: Event) -> bool:
        """Org changes and the events that are causes; other progress snapshots are not."""
        return event.name == EMPLOYMENT_CHANGED or self._cause(event) is not None

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        employment = [e for e in events if e.name == EMPLOYMENT_CHANGED]
        # Org data and the causes it routes arrive on different transactions (the org agent,
        # the learner lane): whichever locks a learner second sees what the first committed.
        lock_learners(conn, {e.record["learner_id"] for e in events})
        save_snapshots(conn, employment)
        # Org data can arrive after what it routes: route the causes still waiting for a
        # manager. A cause is routed once, so late org data never notifies twice.
        causes = causes_affected_by(
            conn,
            ((e.record["learner_id"], ids.epoch_ms(e.record["effective_at"])) for e in employment),
        )
        causes += remember(conn, [c for c in map(self._cause, events) if c is not None])
        if not causes:
            return []
        org = load_org(conn, {c.learner_id for c in causes})
        managers = [manager_at(org.get(c.learner_id, []), c.lookup_ms) for c in causes]
        routed = [(c, m) for c, m in zip(causes, managers, strict=True) if m is not None]
        mark_routed(conn, routed)
        # The learner needs no routing; a cause seen again (late org data) inserts nothing twice.
        learners = [(c, c.learner_id) for c in causes if c.kind in TO_THE_LEARNER_TOO]
        return self._notify(conn, routed + learners)

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
        if event.name == RECERTIFICATION_REQUIRED:
            at = ids.epoch_ms(r["published_at"])
            cause_id = ids.recertification_cause_id(str(r["certificate_id"]), r["required_version"])
            return make("RECERTIFICATION_REQUIRED", cause_id, at, at)
        transition = r.get("transition") if event.name == PROGRESS_CHANGED else None
        if transition in DUE_TRANSITIONS and r["due_at"] is not None:
            due = ids.epoch_ms(r["due_at"])
            lookup = due if transition == "overdue" else due - AT_RISK_WINDOW_MS
            cause_id = ids.due_cause_id(r["learner_id"], r["course_id"], due)
            return make(
                DUE_TRANSITIONS[transition], cause_id, ids.epoch_ms(event.occurred_at), lookup
            )
        return None

    @staticmethod
    def _notify(conn: psycopg.Connection, routed: list[tuple[Cause, str]]) -> list[Outbound]:
        rows = []
        for cause, recipient in routed:
            payload = {
                "kind": cause.kind,
                "cause_id": cause.cause_id,
                "course_id": cause.course_id,
                "subject_learner_id": cause.learner_id,
                "at": ids.from_epoch_ms(cause.at_ms).isoformat(),
            }
            notification_id = ids.notification_id(cause.kind, cause.cause_id, recipient)
            rows.append((notification_id, cause, recipient, payload))
        inserted = insert_notifications(
            conn,
            [
                (nid, c.kind, to, c.learner_id, c.course_id, DEFAULT_CHANNEL, payload)
                for nid, c, to, payload in rows
            ],
        )
        out: list[Outbound] = []
        for notification_id, cause, recipient, payload in rows:
            if notification_id not in inserted:
                continue
            inserted.discard(notification_id)
            out.append(
                derived(
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
            )
        return out


def build_handler(settings: Settings) -> NotificationsHandler:
    return NotificationsHandler(settings.notify)
