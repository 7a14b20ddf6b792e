"""Plain data crossing the boundary between Faust and the pure rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from learnstream.events import NamedRecord

Headers = tuple[tuple[str, bytes], ...]


class InboundRecord:
    """One Kafka record as consumed: bytes and coordinates, nothing decoded yet.

    A plain slotted class, made once per record on the hot path: a frozen dataclass cost three
    times as much to build. Headers may be given as a function that reads them: the client
    converts a record's headers to Python objects only when asked, and the learner flow asks
    only for the few records it dead-letters (they were a seventh of the fast lane's time)."""

    __slots__ = ("_headers", "key", "offset", "partition", "topic", "value")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | Callable[[], Any] = (),
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self._headers = headers

    @property
    def headers(self) -> Headers:
        if callable(self._headers):  # read once, on first use
            self._headers = tuple(self._headers() or ())
        return self._headers

    def _identity(self) -> tuple[Any, ...]:
        return (self.topic, self.partition, self.offset, self.key, self.value, self.headers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InboundRecord):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((self.topic, self.partition, self.offset))

    def __repr__(self) -> str:
        return (
            f"InboundRecord(topic={self.topic!r}, partition={self.partition}, "
            f"offset={self.offset}, key={self.key!r})"
        )


@dataclass(slots=True, eq=False)  # built once per event: no frozen __setattr__ round trips
class Event:
    """A decoded, valid event handed to a handler."""

    name: str
    record: dict[str, Any]
    source: InboundRecord
    # An attribute, not a property: the runtime reads it at every step (the processor's
    # memory of recent ids, the markers, dead letters); as a property it was 7% of (h).
    event_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.event_id = str(self.record["envelope"]["event_id"])

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
class Outbound(NamedRecord):
    """A derived event to publish through the outbox. Its topic is the one topology.yaml gives
    its event (resolved by the outbox); every fact a consumer needs is a field of `record`,
    and the only headers are the CloudEvents ones the outbox takes from the envelope."""


@dataclass(frozen=True)
class DeadLetter:
    record: InboundRecord
    error: BaseException
    attempts: int = 1
