"""Derived events: envelope with a deterministic id from the cause, and event time of the cause."""

from __future__ import annotations

from typing import Any

from learnstream import ids, names
from learnstream.events import make_envelope
from learnstream.runtime.records import Outbound

SOURCE = "/learnstream/streams"


def derived(
    event_name: str,
    key: str,
    *,
    tenant_id: str,
    cause: str,
    at_ms: int,
    fields: dict[str, Any],
    correlation_id: str | None = None,
) -> Outbound:
    """A derived event; every fact a consumer needs is in `fields` (the schema). The outbox
    publishes it to the topic topology.yaml gives `event_name`, with the envelope's CloudEvents
    headers and nothing else."""
    envelope = make_envelope(
        event_name,
        minor_version=names.MINOR_VERSIONS.get(event_name, 0),
        tenant_id=tenant_id,
        source=SOURCE,
        event_id=ids.derived_event_id(event_name, cause),  # canonical already
        occurred_at=ids.from_epoch_ms(at_ms),
        correlation_id=correlation_id,
        causation_id=cause,
    )
    return Outbound(event_name, key, {"envelope": envelope, **fields})
