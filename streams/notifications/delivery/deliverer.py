"""Delivers pending rows of the `notifications` outbox and keeps their delivery log.

Guarantees
----------
* **Never two senders per row at once.** Each row is claimed with `FOR UPDATE SKIP LOCKED` in
  its own transaction, which stays open while it is sent and is committed with the outcome.
  Other workers skip locked rows instead of waiting on them, so any number of deliverers can
  run side by side.
* **Never sent again once `delivered = true`.** The claim only sees undelivered rows, and the
  mark commits right after the send, one row at a time, so a crash loses at most one mark.
* **At most one re-send after a crash.** A crash between a successful send and its commit
  rolls the mark back, so the row is sent again. That copy carries the same
  `Idempotency-Key` (webhook) or `Message-ID` (email), which receivers use to drop it. This is
  an exactly-once *attempt log*, not exactly-once delivery, which no channel here can give.

Row states (the table has no status column):
* delivered: `delivered`;
* failed:    not delivered and (`attempts >= max_attempts` or `last_error` starts with
  `permanent:`), kept for operators, who re-drive a row by resetting attempts and last_error;
* pending:   anything else.

Each run of `deliver_pending` is one *attempt* per row (up to `send_tries` tries with backoff
inside it). Rows that fail transiently are retried by the next run, fewest attempts first, so
the caller's polling interval spaces the attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import psycopg

from learnstream.log import get_logger
from learnstream.sections import NotifySettings
from streams.notifications.delivery.base import (
    DeliveryError,
    PendingNotification,
    PermanentDeliveryError,
    Sender,
)
from streams.notifications.delivery.email import AddressResolver, EmailSender, template_resolver
from streams.notifications.delivery.webhook import WebhookSender

WEBHOOK, EMAIL = "WEBHOOK", "EMAIL"
KNOWN_CHANNELS = [WEBHOOK, EMAIL]
PERMANENT_PREFIX = "permanent: "
_MAX_ERROR = 1000

log = get_logger(__name__)

# Rows of a channel that is not configured here are left alone (they wait for a deliverer that
# can send them); rows of an unknown channel are claimed, to be failed visibly.
CLAIM_SQL = """
SELECT notification_id, kind, recipient_id, subject_learner_id, course_id, channel, payload,
       created_at
FROM notifications
WHERE NOT delivered
  AND attempts < %(max_attempts)s
  AND (last_error IS NULL OR last_error NOT LIKE 'permanent:%%')
  AND (channel = ANY(%(channels)s::text[]) OR channel <> ALL(%(known)s::text[]))
  AND notification_id <> ALL(%(tried)s::uuid[])
ORDER BY attempts, created_at
LIMIT 1
FOR UPDATE SKIP LOCKED
"""

MARK_DELIVERED_SQL = """
UPDATE notifications
SET delivered = true, delivered_at = now(), attempts = attempts + 1, last_error = NULL
WHERE notification_id = %s AND NOT delivered
"""

MARK_FAILED_SQL = """
UPDATE notifications SET attempts = attempts + 1, last_error = %s
WHERE notification_id = %s AND NOT delivered
RETURNING attempts
"""


@dataclass
class DeliveryReport:
    delivered: list[UUID] = field(default_factory=list)
    retry_later: list[UUID] = field(default_factory=list)  # transient failure, attempts left
    failed: list[UUID] = field(default_factory=list)  # permanent, or out of attempts

    @property
    def claimed(self) -> int:
        return len(self.delivered) + len(self.retry_later) + len(self.failed)


def status_of(delivered: bool, attempts: int, last_error: str | None, max_attempts: int) -> str:
    """'delivered', 'failed' or 'pending', as defined in the module docstring."""
    if delivered:
        return "delivered"
    if attempts >= max_attempts or (last_error or "").startswith(PERMANENT_PREFIX):
        return "failed"
    return "pending"


class NotificationDeliverer:
    def __init__(
        self,
        settings: NotifySettings,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        resolve_address: AddressResolver | None = None,
        http_client: httpx.Client | None = None,
        before_mark: Callable[[PendingNotification], None] | None = None,
    ) -> None:
        self.settings = settings
        self.connect = connect
        self.before_mark = before_mark  # test hook: crash between send and mark
        self.senders: dict[str, Sender] = {}
        self._webhook: WebhookSender | None = None
        if settings.webhook_enabled:
            self._webhook = WebhookSender(settings, http_client)
            self.senders[WEBHOOK] = self._webhook.send
        if resolve_address is None and settings.smtp_to_template:
            resolve_address = template_resolver(settings.smtp_to_template)
        if settings.smtp_enabled and resolve_address is not None:
            self.senders[EMAIL] = EmailSender(settings, resolve_address).send

    def close(self) -> None:
        if self._webhook is not None:
            self._webhook.close()

    def __enter__(self) -> NotificationDeliverer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def deliver_pending(self, limit: int = 100) -> DeliveryReport:
        """Claim and send up to `limit` rows; each row is tried at most once per call."""
        report = DeliveryReport()
        tried: list[UUID] = []
        with self.connect() as conn:
            while len(tried) < limit:
                with conn.transaction():
                    row = conn.execute(
                        CLAIM_SQL,
                        {
                            "max_attempts": self.settings.max_attempts,
                            "channels": list(self.senders),
                            "known": KNOWN_CHANNELS,
                            "tried": tried,
                        },
                    ).fetchone()
                    if row is None:
                        break
                    notification = PendingNotification(*row)
                    tried.append(notification.notification_id)
                    error = self._send(notification)
                    if self.before_mark is not None:
                        self.before_mark(notification)
                    self._mark(conn, notification, error, report)
        return report

    def _send(self, notification: PendingNotification) -> DeliveryError | None:
        sender = self.senders.get(notification.channel)
        if sender is None:
            return PermanentDeliveryError(f"unsupported channel {notification.channel!r}")
        try:
            sender(notification)
        except DeliveryError as exc:
            return exc
        except Exception as exc:
            # A bug must not wedge the queue on one row; attempts run out and an operator looks.
            log.exception("notification send crashed", notification_id=notification.notification_id)
            return DeliveryError(f"unexpected {type(exc).__name__}: {exc}")
        return None

    def _mark(
        self,
        conn: psycopg.Connection[Any],
        notification: PendingNotification,
        error: DeliveryError | None,
        report: DeliveryReport,
    ) -> None:
        nid = notification.notification_id
        if error is None:
            conn.execute(MARK_DELIVERED_SQL, (nid,))
            report.delivered.append(nid)
            log.info(
                "notification delivered", notification_id=str(nid), channel=notification.channel
            )
            return
        text = (PERMANENT_PREFIX if error.permanent else "") + str(error)
        row = conn.execute(MARK_FAILED_SQL, (text[:_MAX_ERROR], nid)).fetchone()
        attempts = row[0] if row else 0
        if error.permanent or attempts >= self.settings.max_attempts:
            report.failed.append(nid)
            log.warning("notification failed", notification_id=str(nid), error=text)
        else:
            report.retry_later.append(nid)
            log.info("notification will be retried", notification_id=str(nid), error=text)
