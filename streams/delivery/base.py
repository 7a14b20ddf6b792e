"""What the channels share: the notification as read from its row, errors, the retry policy."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tenacity import (
    AttemptManager,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from streams.delivery.config import NotifySettings


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


class DeliveryError(Exception):
    """A send that did not succeed. `permanent` ones are never retried."""

    permanent = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """Worth retrying: connection trouble, timeouts, 5xx, 408/429, SMTP 4xx."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (4xx, SMTP 5xx on the recipient): the row is failed at once."""

    permanent = True


Sender = Callable[[PendingNotification], None]


def retrying(settings: NotifySettings) -> Iterator[AttemptManager]:
    """Tries for one delivery attempt: exponential backoff with jitter, except that a server's
    Retry-After (capped) wins, since hammering a rate-limited receiver only extends the ban."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, DeliveryError) and error.retry_after is not None:
            return min(error.retry_after, settings.retry_after_max_s)
        # Computed here rather than with wait_exponential_jitter, whose arguments changed
        # between the tenacity versions we allow (>=8.2). Jitter spreads out many workers
        # that all saw the same receiver outage.
        exponential = settings.backoff_initial_s * 2 ** (state.attempt_number - 1)
        jitter = random.uniform(0, settings.backoff_initial_s)
        return min(settings.backoff_max_s, exponential) + jitter

    return iter(
        Retrying(
            retry=retry_if_exception_type(TransientDeliveryError),
            stop=stop_after_attempt(settings.send_tries),
            wait=wait,
            reraise=True,
        )
    )
