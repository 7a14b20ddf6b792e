"""The bench baselines against real Kafka: each one must process every record in the topic,
no more (a miscount would inflate its rate) and no fewer (it would raise, not return)."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from learnstream.bench.baselines import naive_faust_rate, raw_consume_rate
from learnstream.settings import Settings
from learnstream.simulate.runner import run_simulation
from streams.verify import end_offsets

pytestmark = pytest.mark.integration


@pytest.fixture
def activity(kafka_settings: Settings, tmp_path: Path) -> tuple[str, int]:
    """(topic, records in it) for a small published world."""
    report = run_simulation(
        kafka_settings,
        learners=30,
        courses=5,
        days=20,
        seed=3,
        oracle_path=tmp_path / "oracle.json",
    )
    topic = kafka_settings.topic("learning.activity")
    in_topic = sum(end_offsets(kafka_settings, [topic]).values())
    assert in_topic == report.topics["learning.activity"] > 500
    return topic, in_topic


def test_raw_consume_decodes_every_record(
    kafka_settings: Settings, activity: tuple[str, int]
) -> None:
    topic, in_topic = activity
    result = raw_consume_rate(kafka_settings, [topic], in_topic, timeout_s=60)
    assert result["events"] == in_topic
    assert result["seconds"] > 0 and result["events_per_s"] > 0
    # Counting anything but real records (errors, batches) would let this one return.
    with pytest.raises(TimeoutError, match=f"{in_topic} of {in_topic + 1}"):
        raw_consume_rate(kafka_settings, [topic], in_topic + 1, timeout_s=3)


def test_naive_faust_updates_the_table_once_per_event(
    kafka_settings: Settings, activity: tuple[str, int], tmp_path: Path
) -> None:
    topic, in_topic = activity
    result = naive_faust_rate(kafka_settings, topic, in_topic, tmp_path / "faust", timeout_s=60)
    assert result["events"] == in_topic
    assert result["seconds"] > 0 and result["events_per_s"] > 0
    # The changelog is the worker's own record of what it did: one Table write per event.
    names = AdminClient(kafka_settings.kafka_client_config()).list_topics(timeout=10).topics
    changelogs = [t for t in names if t.startswith(kafka_settings.topic("bench.naive."))]
    assert len(changelogs) == 1 and changelogs[0].endswith("-progress-changelog")
    assert sum(end_offsets(kafka_settings, changelogs).values()) == in_topic
