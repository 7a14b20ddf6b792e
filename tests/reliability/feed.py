"""The load side of the reliability suite: the simulator's events, paced, with 1% poison pills of
each kind mixed in, published by a client that counts what the broker acknowledged."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from learnstream.events import make_envelope
from learnstream.kafka_clients import producer_config
from learnstream.sdk import Publisher
from learnstream.serde import AvroSerde, build_serde
from learnstream.settings import Settings
from learnstream.simulate.model import SimEvent
from learnstream.simulate.runner import TokenBucket

POISON_KINDS = ("bad_magic", "unknown_schema", "invalid_content", "handler_bug")
HANDLER_BUG_PREFIX = "chaos-bug-"  # the worker's LEARNSTREAM_CHAOS_HANDLER_BUG_KEY_PREFIX
PILL_EVERY = 100  # one pill of every kind per 100 events: 1% of each kind
GRADED = "org.learnstream.learning.assessment.graded.v1"
LESSON = "org.learnstream.learning.lesson.completed.v1"
DELIVERY_TIMEOUT_S = 180.0  # outlasts a broker SIGKILL + restart; acked means really stored


@dataclass(frozen=True)
class Pill:
    kind: str
    key: bytes
    value: bytes


@dataclass
class Acked:
    """What the broker acknowledged: counts per topic, and where each pill landed."""

    events: int = 0
    pills: dict[tuple[str, int, int], str] = field(default_factory=dict)  # coords → kind
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.events + len(self.pills)


def make_pill(kind: str, n: int, serde: AvroSerde, neighbour: SimEvent) -> Pill:
    """A record that must end in the DLQ. Event time is borrowed from a real neighbour, so a
    pill cannot move any clock if a bug let it through."""
    tenant = neighbour.record["envelope"]["tenant_id"]
    occurred = neighbour.record["envelope"]["occurred_at"]
    course = neighbour.record.get("course_id") or "c-none"
    if kind == "bad_magic":
        return Pill(kind, f"poison-magic-{n}".encode(), b"\x7fnot avro " + str(n).encode())
    if kind == "unknown_schema":  # single-object magic, a fingerprint no schema has
        return Pill(
            kind, f"poison-schema-{n}".encode(), b"\xc3\x01" + b"\x13" * 8 + bytes([n % 256])
        )
    if kind == "invalid_content":  # valid Avro that breaks score <= max_score
        learner = f"poison-invalid-{n}"
        record: dict[str, Any] = {
            "envelope": make_envelope(
                GRADED, tenant_id=tenant, source="/chaos", occurred_at=occurred
            ),
            "learner_id": learner,
            "course_id": course,
            "module_id": None,
            "assessment_id": "a-chaos",
            "attempt": 1,
            "score": 12.0,
            "max_score": 10.0,
            "pass_mark": 0.7,
            "passed": True,
        }
        return Pill(kind, learner.encode(), serde.encode(GRADED, record))
    learner = f"{HANDLER_BUG_PREFIX}{n}"  # valid in every way; the handler raises on it
    record = {
        "envelope": make_envelope(LESSON, tenant_id=tenant, source="/chaos", occurred_at=occurred),
        "learner_id": learner,
        "course_id": course,
        "module_id": None,
        "lesson_id": "l-chaos",
        "time_spent_seconds": 1.0,
    }
    return Pill(kind, learner.encode(), serde.encode(LESSON, record))


class Feeder(threading.Thread):
    """Publishes `events` in order at `rate`/s, a pill of each kind after every PILL_EVERY."""

    def __init__(self, settings: Settings, events: list[SimEvent], rate: float) -> None:
        super().__init__(name="chaos-feeder", daemon=True)
        self.settings = settings
        self.events = events
        self.rate = rate
        self.acked = Acked()
        self.error: BaseException | None = None
        self.planned_pills = Counter(
            {kind: len(range(0, len(events), PILL_EVERY)) for kind in POISON_KINDS}
        )

    @property
    def planned(self) -> int:
        return len(self.events) + sum(self.planned_pills.values())

    def run(self) -> None:
        try:
            self._feed()
        except BaseException as exc:  # surfaced by the test, which joins and checks
            self.error = exc

    def _feed(self) -> None:
        bucket = TokenBucket(self.rate)
        pills = Producer(producer_config(self.settings, **{"delivery.timeout.ms": 180_000}))
        topic = self.settings.topic("learning.activity")

        def landed(kind: str):  # type: ignore[no-untyped-def]
            def report(err: KafkaError | None, msg: Message) -> None:
                if err is None:
                    coords = (str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
                    self.acked.pills[coords] = kind
                else:
                    self.acked.failures.append(f"pill {kind}: {err.str()}")

            return report

        def paced(chunk: list[SimEvent]) -> Iterator[tuple[str, dict[str, Any]]]:
            for event in chunk:
                bucket.take()
                yield event.event_name, event.record

        serde = build_serde(self.settings)
        with Publisher(self.settings, delivery_timeout_s=DELIVERY_TIMEOUT_S) as publisher:
            for n, start in enumerate(range(0, len(self.events), PILL_EVERY)):
                chunk = self.events[start : start + PILL_EVERY]
                self.acked.events += publisher.publish_records(paced(chunk))
                for kind in POISON_KINDS:
                    pill = make_pill(kind, n, serde, chunk[-1])
                    pills.produce(topic, key=pill.key, value=pill.value, on_delivery=landed(kind))
                pills.poll(0)
        left = pills.flush(DELIVERY_TIMEOUT_S + 10)
        if left:
            self.acked.failures.append(f"{left} pills not acknowledged")

    def published_fraction(self) -> float:
        return self.acked.events / max(1, len(self.events))
