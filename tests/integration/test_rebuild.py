"""Rebuild by replay (Kappa): truncate the derived state, delete the consumer group, replay
every topic; the views' checksums equal the ones taken before, and nothing is re-notified."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from learnstream.infra.errors import InfraError
from learnstream.runtime.drain import wait_until_drained
from learnstream.settings import Settings
from learnstream.simulate.compare import compare_with_oracle
from learnstream.simulate.runner import run_simulation
from learnstream.topology import load_topology
from sinks.rebuild import group_id, reset, views_checksum
from tests.support.pipeline import running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _outbox_and_notifications(settings: Settings) -> tuple[int, int]:
    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM notifications), (SELECT count(*) FROM hr_sync_audit)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _group_empty(settings: Settings) -> bool:
    """A member stopped in the middle of a rebalance (a small world drains before the group
    settles) may not get to leave: the broker drops it when its session times out."""
    from confluent_kafka.admin import AdminClient

    group = group_id(settings)
    admin = AdminClient(settings.kafka_client_config())
    return not admin.describe_consumer_groups([group])[group].result().members


def test_rebuild_reproduces_every_view(world: Settings, tmp_path: Path) -> None:
    report = run_simulation(
        world, learners=50, courses=5, days=30, seed=21, oracle_path=tmp_path / "oracle.json"
    )
    topology = load_topology(world.topology_file)
    with running_worker(world, tmp_path / "worker.log") as worker:
        wait_until_drained(world, topology, timeout_s=240)
        with psycopg.connect(world.postgres_url) as conn:
            before = views_checksum(conn)
        with pytest.raises(InfraError, match="stop every"):
            reset(world)  # a live worker would race the truncation
        worker.stop()
    wait_for(lambda: _group_empty(world), 120, "the stopped worker's members never left")
    effects_before = _outbox_and_notifications(world)

    reset(world)
    with psycopg.connect(world.postgres_url) as conn:
        emptied = conn.execute("SELECT count(*) FROM learner_course_progress").fetchone()
    assert emptied == (0,)
    with running_worker(world, tmp_path / "rebuild.log"):
        wait_until_drained(world, topology, timeout_s=240)
    with psycopg.connect(world.postgres_url) as conn:
        after = views_checksum(conn)
        comparison = compare_with_oracle(conn, report.oracle)
    assert after == before
    assert comparison.equal, {k: v[:3] for k, v in comparison.differences.items()}
    assert _outbox_and_notifications(world) == effects_before  # no re-notification, no re-post
