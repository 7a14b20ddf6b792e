"""What the channels share: the notification as read from its row, errors, the retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tenacity import (
    AttemptManager,
    retry_if_exception_type,
)

from learnstream.errors import LearnstreamError, PermanentError, TransientError
from learnstream.errors import retrying as shared_retrying
from learnstream.sections import NotifySettings


@dataclass(frozen=True)
class PendingNotification:
    notification_id: UUID
    kind: str
    recipient_id: str
    subject_learner_id: str
    course_id: str | None
    channel: str
    payload: dict[str, Any]
    created_at: datetime

    def to_json_bytes(self) -> bytes:
        """The webhook body. Sorted keys and fixed separators make a re-send byte-identical."""
        body = {
            "notification_id": str(self.notification_id),
            "kind": self.kind,
            "recipient_id": self.recipient_id,
            "subject_learner_id": self.subject_learner_id,
            "course_id": self.course_id,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class DeliveryError(LearnstreamError):
    """A send that did not succeed. `permanent` ones are never retried."""

    permanent = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError, TransientError):
    """Worth retrying: connection trouble, timeouts, 5xx, 408/429, SMTP 4xx."""


class PermanentDeliveryError(DeliveryError, PermanentError):
    """Retrying cannot help (4xx, SMTP 5xx on the recipient): the row is failed at once."""

    permanent = True


Sender = Callable[[PendingNotification], None]


def retrying(settings: NotifySettings) -> Iterator[AttemptManager]:
    """Tries for one delivery: the shared policy (learnstream.errors.retrying), whose wait is
    never shorter than a receiver's Retry-After (capped): hammering a rate-limited receiver
    only extends the ban."""
    return iter(
        shared_retrying(
            attempts=settings.send_tries,
            initial_s=settings.backoff_initial_s,
            max_s=settings.backoff_max_s,
            retry_after_max_s=settings.retry_after_max_s,
            retry=retry_if_exception_type(TransientDeliveryError),
        )
    )
