"""The bench baselines against real Kafka: each one must process every record in the topic,
no more (a miscount would inflate its rate) and no fewer (it would raise, not return)."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from learnstream.kafka_admin import end_offsets
from learnstream.settings import Settings
from learnstream.simulate.runner import run_simulation
from learnstream_cli.bench.baselines import naive_faust_rate, raw_consume_rate

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


def test_the_fast_lane_peer_applies_every_record_once(
    world: Settings, activity: tuple[str, int], tmp_path: Path
) -> None:
    """(h): the engine's own offsets say it applied every record, and its processed markers
    say each event once; counting more would inflate its rate."""
    import psycopg

    from learnstream_cli.bench.peers import naive_lane_rate

    topic, in_topic = activity
    result = naive_lane_rate(world, topic, in_topic, tmp_path / "lane", timeout_s=120)
    assert result["events"] == in_topic
    assert result["seconds"] > 0 and result["events_per_s"] > 0
    with psycopg.connect(world.postgres_url) as conn:
        applied = conn.execute(
            "SELECT sum(next_offset) FROM stream_offsets WHERE consumer = 'bench_naive'"
        ).fetchone()
        lessons = conn.execute(
            "SELECT coalesce(sum((state->>'lessons')::int), 0) FROM bench_naive_progress"
        ).fetchone()
    assert applied is not None and applied[0] == in_topic
    assert lessons is not None and lessons[0] > 0  # the counters were written back


def test_the_quix_peer_updates_its_state_once_per_event(
    kafka_settings: Settings, activity: tuple[str, int], tmp_path: Path
) -> None:
    """(g) runs in its own virtualenv; its changelog shows the per-key state it kept."""
    from learnstream_cli.bench.peers import quix_rate

    topic, in_topic = activity
    result = quix_rate(kafka_settings, topic, in_topic, tmp_path / "quix", timeout_s=300)
    assert result["events"] == in_topic
    assert result["seconds"] > 0 and result["events_per_s"] > 0
    names = AdminClient(kafka_settings.kafka_client_config()).list_topics(timeout=10).topics
    changelogs = [t for t in names if t.startswith("changelog__") and "bench.quix" in t]
    assert changelogs, "Quix kept no changelog: it did not keep state"
    assert sum(end_offsets(kafka_settings, changelogs).values()) > 0
