"""Deterministic ids, shared by the simulator's oracle and the stream processors.

Every derived id is a UUIDv5 in LEARNSTREAM_NS over a name fixed by docs/domain-rules.md, so a
replay (or an independent implementation of the same rules) reproduces it exactly. The
functions return the canonical lower-case string form, which is what the Avro `uuid` logical
type carries on the wire.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from hashlib import sha1

LEARNSTREAM_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://learnstream.org/ns")
_NS_BYTES = LEARNSTREAM_NS.bytes

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def v5(name: str) -> str:
    """UUIDv5 of `name` in the learnstream namespace, as a string: `str(uuid.uuid5(NS, name))`
    (RFC 9562 §5.5) without the UUID object, whose pure-Python construction was most of the
    cost; the stream processors derive several ids per event."""
    digest = bytearray(sha1(_NS_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def epoch_ms(value: datetime | int) -> int:
    """UTC epoch milliseconds of an aware datetime (exact integer arithmetic, no float)."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: learnstream times are UTC-aware")
    return (value - _EPOCH) // _ONE_MS


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds (inverse of epoch_ms)."""
    return _EPOCH + timedelta(milliseconds=ms)


def completion_id(tenant_id: str, learner_id: str, course_id: str, attempt: int) -> str:
    return v5(f"completion:{tenant_id}:{learner_id}:{course_id}:{attempt}")


def certificate_id(tenant_id: str, learner_id: str, course_id: str, attempt: int) -> str:
    return v5(f"certificate:{tenant_id}:{learner_id}:{course_id}:{attempt}")


def due_cause_id(learner_id: str, course_id: str, due_at: datetime | int) -> str:
    """The cause id of OVERDUE and AT_RISK notifications: `{learner}:{course}:{due_at ms}`."""
    return f"{learner_id}:{course_id}:{epoch_ms(due_at)}"


def recertification_cause_id(certificate_id: str, version: int) -> str:
    """The cause id of RECERTIFICATION_REQUIRED: `{certificate_id}:v{catalog version}`."""
    return f"{certificate_id}:v{version}"


def notification_id(kind: str, cause_id: str, recipient_id: str) -> str:
    """`kind` is the NotificationKind symbol (CERTIFICATE_ISSUED, COURSE_COMPLETED, ...);
    `cause_id` the certificate id, the completion id or due_cause_id(...)."""
    return v5(f"notification:{kind}:{cause_id}:{recipient_id}")


def derived_event_id(event_type: str, cause_event_id: str | uuid.UUID) -> str:
    """envelope.event_id of a derived event; `event_type` is the full event name
    (e.g. org.learnstream.learning.course.completed.v1) and the cause is its envelope.event_id."""
    return v5(f"event:{event_type}:{cause_event_id}")
