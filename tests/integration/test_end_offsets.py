"""End offsets from a kept admin client, on a real broker: a client that failed is replaced at
the next call (a kept client that lost its broker failed every call for 12 minutes in the
reliability suite, and the lanes waiting on it stood still)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from learnstream.kafka_admin import EndOffsets, ensure_topics
from learnstream.settings import Settings
from learnstream.topology import load_topology
from tests.conftest import free_port

pytestmark = pytest.mark.integration
CATALOG = "catalog.course"


def test_a_client_that_failed_is_replaced_by_the_next_call(kafka_settings: Settings) -> None:
    ensure_topics(kafka_settings, load_topology(kafka_settings.topology_file), [CATALOG])
    topic = kafka_settings.topic(CATALOG)
    producer = Producer(kafka_settings.kafka_client_config())
    for n in range(5):
        producer.produce(topic, key=f"course-{n}".encode(), value=b"x")
    assert producer.flush(30) == 0
    offsets = EndOffsets(kafka_settings, timeout_s=2.0)
    first = offsets.of([topic])
    assert sum(first.values()) == 5

    # The kept client loses its broker: it points at a port nothing listens on.
    offsets._admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{free_port()}"})
    with pytest.raises(Exception):  # noqa: B017 (timeout or transport: either fails the call)
        offsets.of([topic], {topic: len(first)})

    assert offsets.of([topic]) == first  # a new client, from the settings, answers
