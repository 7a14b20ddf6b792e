"""Simulator → real Kafka → a real worker process → Postgres views, held against the oracle.

Each test gets its own topic prefix and database, so the worker sees only its own world.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from learnstream.infra.postgres import PostgresService
from learnstream.kafka_admin import end_offsets
from learnstream.runtime.drain import wait_until_drained
from learnstream.sdk import Publisher
from learnstream.settings import Settings
from learnstream.simulate.compare import compare_with_oracle
from learnstream.simulate.runner import RunReport, run_simulation
from learnstream.topology import load_topology
from tests.support.pipeline import applied_offsets, running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LEARNERS = 60
KILL_LEARNERS = 400


def _simulate(
    settings: Settings, tmp_path: Path, seed: int = 5, learners: int = LEARNERS
) -> RunReport:
    return run_simulation(
        settings,
        learners=learners,
        courses=6,
        days=30,
        seed=seed,
        oracle_path=tmp_path / "oracle.json",
    )


def _snapshot(settings: Settings) -> dict[str, tuple[Any, ...] | None]:
    with psycopg.connect(settings.postgres_url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in (
                "certificates",
                "completions",
                "notifications",
                "outbox",
                "learner_course_progress",
            )
        } | {
            "progress": conn.execute(
                "SELECT md5(string_agg(learner_id || course_id || status || percent::text, ',' "
                "ORDER BY learner_id, course_id)) FROM learner_course_progress"
            ).fetchone()
        }


def test_views_equal_the_oracle_and_resent_events_change_nothing(
    world: Settings, tmp_path: Path
) -> None:
    report = _simulate(world, tmp_path)
    topology = load_topology(world.topology_file)
    with running_worker(world, tmp_path / "worker.log"):
        wait_until_drained(world, topology, timeout_s=240)
        with psycopg.connect(world.postgres_url) as conn:
            first = compare_with_oracle(conn, report.oracle)
        assert first.equal, {k: v[:3] for k, v in first.differences.items()}
        assert first.checked["certificates"] > 0 and first.checked["notifications"] > 0
        before = _snapshot(world)

        # Every event delivered a second time, at new offsets, as a retrying client would.
        with Publisher(world) as publisher:
            publisher.publish_records((e.event_name, e.record) for e in report.simulation.events)
        wait_until_drained(world, topology, timeout_s=240)
        assert _snapshot(world) == before
        with psycopg.connect(world.postgres_url) as conn:
            assert compare_with_oracle(conn, report.oracle).equal


def test_kill_9_mid_run_loses_and_duplicates_nothing(world: Settings, tmp_path: Path) -> None:
    # Large enough that the kill lands mid-run: the lane drains 60 learners' events faster
    # than the 0.2 s poll below notices 30%, and the kill then found nothing left to do.
    report = _simulate(world, tmp_path, seed=8, learners=KILL_LEARNERS)
    topology = load_topology(world.topology_file)
    total = report.topics["learning.activity"]
    with running_worker(world, tmp_path / "worker.log") as worker:
        wait_for(
            lambda: applied_offsets(world, "progress") > total * 0.2,
            240,
            "progress never reached 20%",
        )
        worker.kill9()
        assert applied_offsets(world, "progress") < total  # it really died mid-run
        worker.start()
        wait_until_drained(world, topology, timeout_s=240)
        with psycopg.connect(world.postgres_url) as conn:
            comparison = compare_with_oracle(conn, report.oracle)
            duplicates = conn.execute(
                "SELECT count(*) - count(DISTINCT event_id) FROM outbox"
            ).fetchone()
    assert comparison.equal, {k: v[:3] for k, v in comparison.differences.items()}
    assert duplicates == (0,)


def test_postgres_outage_delays_but_loses_nothing(
    world: Settings, tmp_path: Path, stack: tuple[str, Settings]
) -> None:
    mode, stack_settings = stack
    if mode != "launcher":
        pytest.skip("stopping Postgres needs the embedded stack")
    report = _simulate(world, tmp_path, seed=13)
    topology = load_topology(world.topology_file)
    total = report.topics["learning.activity"]
    # Batches small against this world, so the outage finds work in flight (a batch ceiling
    # of thousands takes a small world's backlog in one or two batches).
    world = world.with_worker(batch_size=max(50, total // 40))
    postgres = PostgresService(stack_settings)
    with running_worker(world, tmp_path / "worker.log") as worker:
        wait_for(
            lambda: applied_offsets(world, "progress") > total * 0.2,
            240,
            "progress never reached 20%",
        )
        postgres.stop()
        try:
            time.sleep(6)  # batches fail and retry with backoff meanwhile
            assert worker.alive()  # transient: retried, not crashed, not dead-lettered
        finally:
            postgres.start()
        wait_until_drained(world, topology, timeout_s=240)
        with psycopg.connect(world.postgres_url) as conn:
            comparison = compare_with_oracle(conn, report.oracle)
    assert comparison.equal, {k: v[:3] for k, v in comparison.differences.items()}
    assert "batch.retry" in (tmp_path / "worker.log").read_text()
    dlq = end_offsets(world, [world.topic("learning.activity.dlq")])
    assert sum(dlq.values()) == 0


def test_read_api_serves_what_the_pipeline_wrote(world: Settings, tmp_path: Path) -> None:
    """The API over views fed by real Kafka: progress equals the oracle; the leaderboard comes
    from Redis, and from Postgres (refilling Redis) once Redis lost it."""
    import redis
    from fastapi.testclient import TestClient

    from learnstream.sections import ApiSettings
    from sinks.api import create_app, mint_token
    from streams.views.layout import redis_prefix
    from streams.views.leaderboard import leaderboard_key

    report = _simulate(world, tmp_path, seed=17)
    with running_worker(world, tmp_path / "worker.log"):
        wait_until_drained(world, load_topology(world.topology_file), timeout_s=240)
    prefix = redis_prefix(world)
    api = ApiSettings(
        jwt_secret=SecretStr("pipeline-test-secret-of-32-bytes-or-more"), redis_key_prefix=prefix
    )
    admin = {"Authorization": f"Bearer {mint_token(api, 'ops', ['admin'], 300)}"}
    learner = report.oracle.progress[0].learner_id
    expected = {
        p.course_id: (p.status, p.percent)
        for p in report.oracle.progress
        if p.learner_id == learner
    }
    cert = next(c for c in report.oracle.certificates if not c.revoked)
    with TestClient(create_app(api, world)) as client:
        progress = client.get(f"/learners/{learner}/progress", headers=admin)
        assert progress.status_code == 200
        got = {c["course_id"]: (c["status"], c["percent"]) for c in progress.json()["courses"]}
        assert got == expected

        board = client.get(f"/courses/{cert.course_id}/leaderboard?limit=100", headers=admin)
        assert board.status_code == 200 and board.json()["source"] == "redis"
        leaders = board.json()["leaders"]
        assert cert.learner_id in {entry["learner_id"] for entry in leaders}
        cache = redis.Redis.from_url(world.redis_address)
        cache.delete(leaderboard_key(prefix, cert.course_id))  # Redis lost it
        again = client.get(f"/courses/{cert.course_id}/leaderboard?limit=100", headers=admin)
        assert again.json()["source"] == "postgres" and again.json()["leaders"] == leaders
        assert cache.zcard(leaderboard_key(prefix, cert.course_id)) == len(leaders)  # refilled
        unauthorized = client.get(f"/courses/{cert.course_id}/leaderboard")
        assert unauthorized.status_code == 401
