"""The SDK publisher against the real broker: keys, headers, offsets, per-learner order."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from learnstream.kafka_admin import ensure_topics
from learnstream.sdk import (
    AssessmentGraded,
    CoursePublished,
    Event,
    EventValidationError,
    LessonCompleted,
    ModuleCompleted,
    Publisher,
    PublishError,
    VideoProgressed,
    model_for,
)
from learnstream.serde import AvroSerde
from learnstream.settings import Settings
from learnstream.topology import Topology, load_topology
from tests.support.messages import header_pairs

pytestmark = pytest.mark.integration

ACTIVITY = "learning.activity"
CATALOG = "catalog.course"
ENV: dict[str, Any] = {"tenant_id": "acme", "source": "/tests/sdk-publisher"}


@pytest.fixture
def topology(kafka_settings: Settings) -> Topology:
    return load_topology(kafka_settings.topology_file)


@pytest.fixture
def publisher(kafka_settings: Settings, topology: Topology) -> Iterator[Publisher]:
    ensure_topics(kafka_settings, topology, [ACTIVITY, CATALOG])
    with Publisher(kafka_settings, topology=topology) as pub:
        yield pub


def _read_all(settings: Settings, topology: Topology, name: str, count: int) -> list[Message]:
    """Every message of a private topic, read by assignment (no group rebalance to wait for)."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": settings.topic("check"),
            "enable.auto.commit": False,
        }
    )
    topic = settings.topic(name)
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(topology.partitions(name))]
    )
    messages: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while len(messages) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                messages.append(msg)
        # Linger briefly so that a surplus (e.g. a duplicate) would be seen too.
        extra = consumer.poll(1.0)
        if extra is not None and not extra.error():
            messages.append(extra)
    finally:
        consumer.close()
    return messages


def _decode(serde: AvroSerde, msg: Message) -> Event:
    name, record = serde.decode(msg.value())
    return model_for(name).from_avro(record)


def _activity(learner: str, seq: int) -> Event:
    """One of three activity events, round-robin, with the sequence number in its ids."""
    common: dict[str, Any] = {
        **ENV,
        "learner_id": learner,
        "course_id": "c-1",
        "correlation_id": f"seq-{seq}",
    }
    if seq % 3 == 0:
        return LessonCompleted.new(**common, lesson_id=f"i-{seq}", time_spent_seconds=1.5)
    if seq % 3 == 1:
        segments = [{"start_seconds": 0, "end_seconds": 10}]
        return VideoProgressed.new(
            **common,
            video_id="v-1",
            position_seconds=10.0,
            duration_seconds=100.0,
            watched_segments=segments,
        )
    return ModuleCompleted.new(**common, module_id=f"m-{seq}")


def test_publish_one_event_and_read_it_back(
    publisher: Publisher, kafka_settings: Settings, topology: Topology
) -> None:
    event = ModuleCompleted.new(
        **ENV, learner_id="l-42", course_id="c-1", module_id="m-1", correlation_id="flow-1"
    )
    delivery = publisher.publish(event)
    assert delivery.topic == kafka_settings.topic(ACTIVITY)
    assert delivery.event_id == event.envelope.event_id
    assert publisher.compression in ("lz4", "none")

    [msg] = _read_all(kafka_settings, topology, ACTIVITY, 1)
    assert msg.key() == b"l-42"
    assert (msg.topic(), msg.partition(), msg.offset()) == (
        delivery.topic,
        delivery.partition,
        delivery.offset,
    )
    headers = dict(header_pairs(msg))
    assert headers["ce_id"] == str(event.envelope.event_id).encode()
    assert headers["ce_type"] == ModuleCompleted.EVENT_NAME.encode()
    assert headers["ce_source"] == b"/tests/sdk-publisher"
    assert headers["ce_time"] == event.envelope.occurred_at.isoformat().encode()
    assert headers["ce_specversion"] == b"1.0"
    assert _decode(publisher.serde, msg) == event


def test_catalog_events_are_keyed_by_course(
    publisher: Publisher, kafka_settings: Settings, topology: Topology
) -> None:
    course = CoursePublished.new(
        **ENV, course_id="c-7", title="Forklifts", version=1, pass_mark=0.8
    )
    delivery = publisher.publish(course)
    assert delivery.topic == kafka_settings.topic(CATALOG)
    [msg] = _read_all(kafka_settings, topology, CATALOG, 1)
    assert msg.key() == b"c-7"
    assert _decode(publisher.serde, msg) == course


def test_publish_many_keeps_each_learners_order(
    publisher: Publisher, kafka_settings: Settings, topology: Topology
) -> None:
    events = [_activity(f"learner-{seq % 50}", seq) for seq in range(500)]
    deliveries = publisher.publish_many(events, progress=True)
    assert [d.event_id for d in deliveries] == [e.envelope.event_id for e in events]

    sent: dict[str, list[uuid.UUID]] = defaultdict(list)
    for event in events:
        sent[event.key()].append(event.envelope.event_id)
    messages = _read_all(kafka_settings, topology, ACTIVITY, 500)
    assert len(messages) == 500
    partitions: dict[str, set[int]] = defaultdict(set)
    received: dict[str, list[uuid.UUID]] = defaultdict(list)
    for msg in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        learner = (msg.key() or b"").decode()
        partitions[learner].add(msg.partition() or 0)
        received[learner].append(_decode(publisher.serde, msg).envelope.event_id)
    assert len(received) == 50
    assert all(len(parts) == 1 for parts in partitions.values()), partitions
    assert received == sent  # partition order is send order, per learner


def test_publish_records_fast_path(
    publisher: Publisher, kafka_settings: Settings, topology: Topology
) -> None:
    records: list[tuple[str, dict[str, Any]]] = [
        (event.EVENT_NAME, event.to_avro())
        for event in (_activity(f"sim-{seq % 7}", seq) for seq in range(300))
    ]
    seen: list[int] = []
    assert publisher.publish_records(iter(records), on_progress=seen.append) == 300
    assert seen and seen[-1] == 300 and seen == sorted(seen)

    messages = _read_all(kafka_settings, topology, ACTIVITY, 300)
    assert len(messages) == 300
    by_id = {record["envelope"]["event_id"]: record for _, record in records}
    for msg in messages:
        event = _decode(publisher.serde, msg)
        sent = by_id[str(event.envelope.event_id)]
        assert msg.key() == sent["learner_id"].encode()
        assert event == model_for(event.EVENT_NAME).from_avro(sent)


def test_invalid_event_raises_and_sends_nothing(
    publisher: Publisher, kafka_settings: Settings, topology: Topology
) -> None:
    good = AssessmentGraded.new(
        **ENV,
        learner_id="l-1",
        course_id="c-1",
        assessment_id="a-1",
        attempt=1,
        score=8.0,
        max_score=10.0,
        pass_mark=0.7,
        passed=True,
    )
    bad = good.model_copy(update={"score": 12.0})  # model_copy skips validation
    with pytest.raises(EventValidationError, match=r"score: must be <= max_score \(got 12.0"):
        publisher.publish(bad)
    with pytest.raises(EventValidationError):
        publisher.publish_many([good, bad])  # the valid one is not sent either

    # A marker sent afterwards must be the topic's only message.
    marker = publisher.publish(
        good.model_copy(
            update={"envelope": good.envelope.model_copy(update={"event_id": uuid.uuid4()})}
        )
    )
    messages = _read_all(kafka_settings, topology, ACTIVITY, 1)
    assert [(m.partition(), m.offset()) for m in messages] == [(marker.partition, 0)]


def test_delivery_failure_raises_publish_error(kafka_settings: Settings) -> None:
    # No ensure_topics and auto-creation is off, so the broker can never accept the event.
    event = ModuleCompleted.new(**ENV, learner_id="l-1", course_id="c-1", module_id="m-1")
    with (
        Publisher(kafka_settings, delivery_timeout_s=3) as pub,
        pytest.raises(PublishError, match="1 of 1 events not delivered") as caught,
    ):
        pub.publish(event)
    assert str(event.envelope.event_id) in caught.value.failures[0]
