"""Plain data crossing the boundary between Faust and the pure rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundRecord:
    """One Kafka record as consumed: bytes and coordinates, nothing decoded yet."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Event:
    """A decoded, valid event handed to a handler."""

    name: str
    record: dict[str, Any]
    source: InboundRecord

    @property
    def event_id(self) -> str:
        return str(self.record["envelope"]["event_id"])

    @property
    def occurred_at(self) -> datetime | int:
        """An aware datetime, or epoch ms for handlers that decode without logical types
        (pass it through ids.epoch_ms for a number either way)."""
        value: datetime | int = self.record["envelope"]["occurred_at"]
        return value

    @property
    def tenant_id(self) -> str:
        return str(self.record["envelope"]["tenant_id"])

    @property
    def key(self) -> str:
        return (self.source.key or b"").decode()


@dataclass(frozen=True)
class Outbound:
    """A derived event to publish through the outbox. `topic` is the topology name."""

    topic: str
    event_name: str
    key: str
    record: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return str(self.record["envelope"]["event_id"])


@dataclass(frozen=True)
class DeadLetter:
    record: InboundRecord
    error: BaseException
    attempts: int = 1
