"""A dead letter as redrive sees it, and what redrive may do with it (its `__dlq.*` headers)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from confluent_kafka import Message

from learnstream.redrive.ledger import Coords
from learnstream.serde import AvroSerde, SerdeError
from learnstream.settings import Settings
from learnstream.topology import Topology

DLQ_HEADER_PREFIX = "__dlq."
MAX_REASON_CHARS = 200


def message_headers(msg: Message) -> list[tuple[str, bytes]]:
    raw: Any = msg.headers() or []
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in raw]


@dataclass(frozen=True)
class Letter:
    dlq: Coords
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    source: Coords | None  # from __dlq.topic/partition/offset; None when they are missing

    @classmethod
    def from_message(cls, msg: Message) -> Letter:
        headers = message_headers(msg)
        found = {k: v for k, v in headers if k.startswith(DLQ_HEADER_PREFIX)}
        try:
            source: Coords | None = (
                found["__dlq.topic"].decode(),
                int(found["__dlq.partition"]),
                int(found["__dlq.offset"]),
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            source = None
        return cls(
            dlq=(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)),
            key=msg.key(),
            value=msg.value(),
            headers=headers,
            source=source,
        )

    @property
    def kept_headers(self) -> list[tuple[str, str | bytes | None]]:
        """The original record's headers: everything but the error headers."""
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX)]


class Verdict(Enum):
    SEND = "send"
    SKIP = "skip"  # redriven already (this letter, or a copy of its original record)
    REFUSE = "refuse"  # would fail again, or cannot be sent back at all


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    event_name: str | None = None
    forced: bool = False  # sent although it would have been refused or skipped


def mirrored_inputs(settings: Settings, topology: Topology, dlq_topic: str) -> dict[str, str]:
    """Full topic name → topology name of every input whose letters `dlq_topic` may hold."""
    inputs: dict[str, str] = {}
    for agent in topology.agents.values():
        if settings.topic(agent.dlq) == dlq_topic:
            inputs.update({settings.topic(name): name for name in agent.inputs})
    return inputs


def resolve_dlq(settings: Settings, topology: Topology, name: str) -> str:
    """The full DLQ topic for `name`, given with or without the topic prefix."""
    known = {settings.topic(agent.dlq) for agent in topology.agents.values()}
    for candidate in (name, settings.topic(name)):
        if candidate in known:
            return candidate
    raise ValueError(f"{name} is not a dead-letter topic in topology.yaml; known: {sorted(known)}")


def check_value(
    serde: AvroSerde, topology: Topology, target_name: str, value: bytes | None
) -> tuple[str | None, str | None]:
    """(event name, None) when the value would decode on its topic, else (name?, reason)."""
    try:
        event_name, _record = serde.decode(value)
    except SerdeError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
    if event_name not in topology.topics[target_name].value_schemas:
        return event_name, f"{event_name} is not an event of {target_name}"
    return event_name, None
