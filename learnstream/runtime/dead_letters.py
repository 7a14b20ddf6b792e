"""Dead-letter publishing after Kafka Connect's KIP-298: original key and value, error headers."""

from __future__ import annotations

from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from learnstream.kafka_clients import producer_config
from learnstream.runtime.records import DeadLetter
from learnstream.settings import Settings

MAX_MESSAGE_CHARS = 1000


def dlq_headers(letter: DeadLetter) -> list[tuple[str, str | bytes | None]]:
    source, error = letter.record, letter.error
    return [
        *source.headers,
        ("__dlq.topic", source.topic.encode()),
        ("__dlq.partition", str(source.partition).encode()),
        ("__dlq.offset", str(source.offset).encode()),
        ("__dlq.exception.class", f"{type(error).__module__}.{type(error).__qualname__}".encode()),
        ("__dlq.exception.message", str(error)[:MAX_MESSAGE_CHARS].encode()),
        ("__dlq.attempts", str(letter.attempts).encode()),
        ("__dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


class DeadLetterPublisher:
    def __init__(self, settings: Settings, dlq_topic: str) -> None:
        self.topic = settings.topic(dlq_topic)
        self.producer = Producer(producer_config(settings))

    def publish(self, letters: list[DeadLetter]) -> None:
        """Deliver all letters or raise: the batch is not committed until they are safe."""
        if not letters:
            return
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err)

        for letter in letters:
            self.producer.produce(
                self.topic,
                key=letter.record.key,
                value=letter.record.value,
                headers=dlq_headers(letter),
                on_delivery=on_delivery,
            )
        remaining = self.producer.flush(30)
        if failures or remaining:
            from confluent_kafka import KafkaException

            raise KafkaException(failures[0] if failures else KafkaError(KafkaError._MSG_TIMED_OUT))
