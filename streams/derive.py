"""Derived events: envelope with a deterministic id from the cause, and event time of the cause."""

from __future__ import annotations

from typing import Any

from learnstream import ids
from learnstream.events import make_envelope
from streams.runtime.records import Outbound

SOURCE = "/learnstream/streams"
PROGRESS_CHANGED = "org.learnstream.learning.progress.changed.v1"
COURSE_COMPLETED = "org.learnstream.learning.course.completed.v1"
RECERTIFICATION_REQUIRED = "org.learnstream.learning.recertification.required.v1"
CERTIFICATE_ISSUED = "org.learnstream.credential.certificate.issued.v1"
CERTIFICATE_REVOKED = "org.learnstream.credential.certificate.revoked.v1"
NOTIFICATION_REQUESTED = "org.learnstream.notification.notification.requested.v1"


def derived(
    topic: str,
    event_name: str,
    key: str,
    *,
    tenant_id: str,
    cause: str,
    at_ms: int,
    fields: dict[str, Any],
    headers: dict[str, str] | None = None,
    correlation_id: str | None = None,
) -> Outbound:
    envelope = make_envelope(
        event_name,
        tenant_id=tenant_id,
        source=SOURCE,
        event_id=ids.derived_event_id(event_name, cause),  # canonical already
        occurred_at=ids.from_epoch_ms(at_ms),
        correlation_id=correlation_id,
        causation_id=cause,
    )
    return Outbound(topic, event_name, key, {"envelope": envelope, **fields}, headers or {})
