"""`learnstream simulate` into a real broker: every generated record lands on its topology topic,
keyed by its key, and the oracle file is written and loadable."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from learnstream.settings import Settings
from learnstream.simulate import Oracle, compute_oracle
from learnstream.simulate.runner import run_simulation

pytestmark = pytest.mark.integration


def _watermark_total(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": settings.topic("wm")})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def _consume_keys_and_ids(settings: Settings, topic: str, count: int) -> Counter[tuple[str, str]]:
    from learnstream.serde import AvroSerde, SchemaStore

    serde = AvroSerde(SchemaStore(settings.schema_dir))
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": settings.topic("check"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: Counter[tuple[str, str]] = Counter()
    deadline = time.monotonic() + 60
    try:
        while sum(seen.values()) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            _, record = serde.decode(msg.value())
            key = msg.key()
            assert key is not None
            seen[(key.decode(), str(record["envelope"]["event_id"]))] += 1
    finally:
        consumer.close()
    return seen


def test_simulation_is_published_topic_by_topic(kafka_settings: Settings, tmp_path: Path) -> None:
    oracle_path = tmp_path / "oracle-11.json"
    progress: list[int] = []
    report = run_simulation(
        kafka_settings,
        learners=40,
        courses=5,
        days=12,
        seed=11,
        oracle_path=oracle_path,
        on_progress=progress.append,
    )
    events = report.simulation.events
    assert report.published == len(events) > 1000
    assert progress and progress[-1] == len(events)
    assert set(report.topics) == {
        "learning.activity",
        "catalog.course",
        "org.employment",
        "learner.profile",
    }
    assert sum(report.topics.values()) == len(events)
    for name, expected in report.topics.items():
        assert _watermark_total(kafka_settings, kafka_settings.topic(name)) == expected, name

    activity = kafka_settings.topic("learning.activity")
    got = _consume_keys_and_ids(kafka_settings, activity, report.topics["learning.activity"])
    sent = Counter(
        (e.key, e.event_id) for e in events if e.event_name.startswith("org.learnstream.learning.")
    )
    assert got == sent  # duplicates included: the re-sends really went out twice

    loaded = Oracle.load(oracle_path)
    assert loaded == report.oracle
    assert loaded.to_json() == compute_oracle(events, seed=11).to_json()
    assert loaded.counts["events"] == len(events)


def test_rate_limit_is_respected(kafka_settings: Settings, tmp_path: Path) -> None:
    rate = 400.0
    report = run_simulation(
        kafka_settings,
        learners=10,
        courses=2,
        days=3,
        seed=2,
        rate=rate,
        oracle_path=tmp_path / "o.json",
    )
    sent = len(report.simulation.events)
    assert report.published == sent > 100
    burst = rate / 10  # the token bucket starts full
    assert report.publish_seconds >= (sent - burst) / rate * 0.95
