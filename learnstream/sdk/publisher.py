"""Publish events to Kafka with broker acknowledgement: nothing returns before the broker has
the event, or has definitively refused it.

The producer is idempotent with acks=all, so librdkafka's own retries neither duplicate nor
reorder a learner's events, and it uses the Java client's murmur2 partitioner, so a learner
lands on the same partition whichever client (Faust/aiokafka, Java, this SDK) wrote the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from rich.progress import Progress

from learnstream.errors import LearnstreamError
from learnstream.events import ce_headers
from learnstream.kafka_clients import PRODUCER_DEFAULTS
from learnstream.sdk.models import Event, EventValidationError, model_for
from learnstream.serde import AvroSerde, InvalidRecordError, build_serde
from learnstream.settings import Settings, get_settings
from learnstream.topology import Topology, load_topology

_FLUSH_MARGIN_S = 5.0  # flush outlives delivery.timeout.ms, so every message gets its report
_MAX_LISTED_FAILURES = 20

DeliveryCallback = Callable[[KafkaError | None, Message], None]


class PublishError(LearnstreamError, RuntimeError):
    """The broker did not acknowledge one or more events; `failures` has one line each."""

    def __init__(self, failures: list[str], total: int) -> None:
        self.failures = failures
        shown = failures[:_MAX_LISTED_FAILURES]
        more = len(failures) - len(shown)
        lines = [f"{len(failures)} of {total} events not delivered:", *shown]
        if more:
            lines.append(f"... and {more} more")
        super().__init__("\n".join(lines))
        self.total = total

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes despite __init__
        return type(self), (self.failures, self.total)


@dataclass(frozen=True)
class Delivery:
    """Where the broker stored an event."""

    topic: str
    partition: int
    offset: int
    event_id: uuid.UUID


def build_producer(settings: Settings, delivery_timeout_s: float) -> tuple[Producer, str]:
    """An acknowledged, idempotent producer; returns it with the compression codec in use."""
    config = {
        **settings.kafka_client_config(),
        **PRODUCER_DEFAULTS,
        # Bound the wait: after this a message has failed for good instead of lingering in
        # the queue, where it could still be delivered after we reported it as failed.
        "delivery.timeout.ms": int(delivery_timeout_s * 1000),
    }
    try:
        return Producer({**config, "compression.type": "lz4"}), "lz4"
    except KafkaException:
        # A librdkafka build without lz4 rejects the codec at construction; send uncompressed.
        return Producer({**config, "compression.type": "none"}), "none"


class Publisher:
    """Validates, encodes and publishes SDK events. Use as a context manager, or call close()."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topology: Topology | None = None,
        serde: AvroSerde | None = None,
        delivery_timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings or get_settings()
        self.topology = topology or load_topology(self.settings.topology_file)
        self.serde = serde or build_serde(self.settings)
        self._flush_timeout_s = delivery_timeout_s + _FLUSH_MARGIN_S
        self._producer, self.compression = build_producer(self.settings, delivery_timeout_s)
        self._topics: dict[str, str] = {}
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._producer.flush(self._flush_timeout_s)
        close = getattr(self._producer, "close", None)  # only in newer confluent-kafka
        if close is not None:
            close()

    # --- publishing ---------------------------------------------------------------------------
    def topic_for(self, event_name: str) -> str:
        """The (prefixed) topic topology.yaml routes this event to."""
        if event_name not in self._topics:
            name = self.topology.topic_for_event(event_name)
            self._topics[event_name] = self.settings.topic(name)
        return self._topics[event_name]

    def publish(self, event: Event) -> Delivery:
        """Publish one event and wait for the broker's acknowledgement."""
        [delivery] = self.publish_many([event])
        return delivery

    def publish_many(self, events: Iterable[Event], *, progress: bool = False) -> list[Delivery]:
        """Publish events in order and wait until the broker acknowledged all of them.

        Every event is validated and encoded before the first one is sent, so an invalid
        event in the batch raises EventValidationError with nothing published.
        """
        self._check_open()
        prepared = [self._prepare(event) for event in events]
        reports: list[Message | None] = [None] * len(prepared)
        failures: dict[int, str] = {}

        def describe(index: int) -> str:
            topic, key, _, _, event_id = prepared[index]
            return f"event {event_id} (key {key.decode()!r}) to {topic}"

        with Progress(disable=not progress, transient=False) as bar:
            task = bar.add_task("publishing", total=len(prepared))

            def on_delivery(index: int) -> DeliveryCallback:
                def report(err: KafkaError | None, msg: Message) -> None:
                    if err is not None:
                        failures[index] = f"{describe(index)}: {err.str()}"
                    else:
                        reports[index] = msg
                    bar.advance(task)

                return report

            for index, (topic, key, value, headers, _) in enumerate(prepared):
                try:
                    self._produce(topic, key, value, headers, on_delivery(index))
                except KafkaException as exc:  # refused locally, e.g. message too large
                    failures[index] = f"{describe(index)}: {exc.args[0].str()}"
                    bar.advance(task)
            self._producer.flush(self._flush_timeout_s)
        deliveries: list[Delivery] = []
        for index, msg in enumerate(reports):
            if msg is None:
                failures.setdefault(index, f"{describe(index)}: not acknowledged in time")
                continue
            deliveries.append(_delivery(msg, prepared[index][4]))
        if failures:
            raise PublishError([failures[i] for i in sorted(failures)], len(prepared))
        return deliveries

    def publish_records(
        self,
        records: Iterable[tuple[str, dict[str, Any]]],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Fast path for pre-built Avro-shaped records: (event name, record) pairs.

        No pydantic validation (the schema still applies at encode). `on_progress` receives the
        running total of acknowledged records. Returns the number delivered.
        """
        self._check_open()
        delivered = 0
        produced = 0
        failures: list[str] = []

        def report(err: KafkaError | None, msg: Message) -> None:
            nonlocal delivered
            if err is None:
                delivered += 1
            else:
                failures.append(f"record (key {msg.key()!r}) to {msg.topic()}: {err.str()}")

        key_fields: dict[str, str] = {}
        shown = 0
        try:
            for name, record in records:
                if name not in key_fields:
                    key_fields[name] = model_for(name).KEY_FIELD
                value = self.serde.encode(name, record)
                key = str(record[key_fields[name]]).encode()
                topic = self.topic_for(name)
                produced += 1
                try:
                    self._produce(topic, key, value, ce_headers(record["envelope"]), report)
                except KafkaException as exc:  # refused locally, e.g. message too large
                    failures.append(f"record (key {key!r}) to {topic}: {exc.args[0].str()}")
                if on_progress is not None and delivered != shown:
                    shown = delivered
                    on_progress(shown)
        except Exception:
            # Settle what was already sent, so the caller knows the queue is empty on error.
            self._producer.flush(self._flush_timeout_s)
            raise
        self._producer.flush(self._flush_timeout_s)
        if on_progress is not None and delivered != shown:
            on_progress(delivered)
        missing = produced - delivered - len(failures)
        if missing:
            failures.append(f"{missing} records not acknowledged in time")
        if failures:
            raise PublishError(failures, produced)
        return delivered

    # --- internals ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Publisher is closed")

    def _prepare(
        self, event: Event
    ) -> tuple[str, bytes, bytes, list[tuple[str, str | bytes | None]], uuid.UUID]:
        if not isinstance(event, Event):
            raise TypeError(f"expected an SDK event model, got {type(event).__name__}")
        # Re-validate: model_construct() and model_copy(update=...) skip the rules.
        checked = event.revalidated()
        record = checked.to_avro()
        try:
            value = self.serde.encode(checked.EVENT_NAME, record)
        except InvalidRecordError as exc:
            raise EventValidationError(checked.EVENT_NAME, [("", str(exc))]) from exc
        topic = self.topic_for(checked.EVENT_NAME)
        headers = ce_headers(record["envelope"])
        return topic, checked.key().encode(), value, headers, checked.envelope.event_id

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]],
        on_delivery: DeliveryCallback,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                self._producer.poll(0.1)
        self._producer.poll(0)  # serve reports as we go, so memory and progress keep up


def _delivery(msg: Message, event_id: uuid.UUID) -> Delivery:
    return Delivery(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0), event_id)
