"""The shared envelope and the CloudEvents-style Kafka headers every event carries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CE_SPECVERSION = "1.0"


@dataclass(frozen=True)
class NamedRecord:
    """An event as plain data: its name, its Kafka key and its Avro-shaped record."""

    event_name: str
    key: str
    record: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.record["envelope"]["event_id"])


def make_envelope(
    event_type: str,
    *,
    tenant_id: str,
    source: str,
    event_id: uuid.UUID | str | None = None,
    occurred_at: datetime | None = None,
    minor_version: int = 0,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "event_type": event_type,
        "minor_version": minor_version,
        "source": source,
        "occurred_at": occurred_at or datetime.now(UTC),
        "tenant_id": tenant_id,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
    }


def ce_headers(envelope: dict[str, Any]) -> list[tuple[str, str | bytes | None]]:
    occurred = envelope["occurred_at"]
    time_text = occurred.isoformat() if isinstance(occurred, datetime) else str(occurred)
    return [
        ("ce_id", str(envelope["event_id"]).encode()),
        ("ce_type", envelope["event_type"].encode()),
        ("ce_source", envelope["source"].encode()),
        ("ce_time", time_text.encode()),
        ("ce_specversion", CE_SPECVERSION.encode()),
        ("minor_version", str(envelope["minor_version"]).encode()),
    ]
