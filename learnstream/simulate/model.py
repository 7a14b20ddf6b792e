"""The simulator's building blocks: event names, SimEvent, and the draft events journeys emit.

A journey emits *drafts* (event name, key, event time, body). The generator later fixes their
final times (unique per learner) and delivery order, then turns each into a SimEvent whose
record carries a full envelope. Event ids are UUIDv5 of (tenant, seed, sequence), assigned at
creation, so a draft can be named as the cause of a later draft before either is final.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from learnstream.events import NamedRecord
from learnstream.ids import LEARNSTREAM_NS


@dataclass(frozen=True)
class SimEvent(NamedRecord):
    """One generated event: `record` is Avro-shaped, ready for AvroSerde.encode(event_name, …).

    Equal SimEvents (same event_id and content) in one list are a client's re-send."""


@dataclass
class Draft:
    """An event before its envelope exists. `t` is event time (UTC ms); `delivered` is the
    position in the published order (== t unless the event is delivered late)."""

    seq: int
    event_id: uuid.UUID
    event_name: str
    key: str
    t: int
    body: dict[str, Any]
    source: str
    correlation_id: str | None = None
    causation_id: str | None = None
    late_by: int = 0  # ms the delivery lags the event time (0 = on time)
    fixed_time: bool = False  # catalog/org events: never nudged by the per-learner uniqueness pass
    duplicates: list[int] = field(default_factory=list)  # delivery times of exact re-sends


class Emitter:
    """Allocates sequence numbers and event ids and collects every draft."""

    def __init__(self, seed: int, tenant_id: str) -> None:
        self.seed = seed
        self.tenant_id = tenant_id
        self.drafts: list[Draft] = []

    def event_id(self, seq: int) -> uuid.UUID:
        return uuid.uuid5(LEARNSTREAM_NS, f"sim:{self.tenant_id}:{self.seed}:{seq}")

    def emit(
        self,
        event_name: str,
        key: str,
        t: int,
        body: dict[str, Any],
        *,
        source: str,
        correlation_id: str | None = None,
        cause: Draft | None = None,
        fixed_time: bool = False,
    ) -> Draft:
        seq = len(self.drafts)
        draft = Draft(
            seq=seq,
            event_id=self.event_id(seq),
            event_name=event_name,
            key=key,
            t=t,
            body=body,
            source=source,
            correlation_id=correlation_id,
            causation_id=str(cause.event_id) if cause is not None else None,
            fixed_time=fixed_time,
        )
        self.drafts.append(draft)
        return draft
