"""The pipeline bench's latency and read-API measurements at tiny size, against a real worker
in a private world (own topics, database and Redis keys, dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from learnstream.settings import Settings
from learnstream.simulate.runner import RunReport, run_simulation
from learnstream_cli.bench.api_load import measure_api
from learnstream_cli.bench.drain import wait_drained
from learnstream_cli.bench.latency import latency_targets, measure_latency
from learnstream_cli.bench.worker_metrics import cache_hits, member_ports, scrape
from learnstream_cli.bench.world import World, private_world, start_worker, stop

pytestmark = [pytest.mark.integration]


@pytest.fixture
def drained_world(stack_settings: Settings) -> Iterator[tuple[World, RunReport]]:
    """A small simulated world, fully processed by a running worker that stays up."""
    with private_world(stack_settings, "test") as world:
        report = run_simulation(
            world.settings,
            learners=30,
            courses=4,
            days=20,
            seed=3,
            oracle_path=world.workdir / "oracle.json",
        )
        worker = start_worker(world)
        try:
            wait_drained(world, worker, timeout_s=120, settle_s=1.0)
            yield world, report
        finally:
            stop(worker)


def ordered(block: dict[str, float]) -> bool:
    return 0 <= block["p50_ms"] <= block["p95_ms"] <= block["p99_ms"] <= block["max_ms"]


def test_latency_and_api_load_measure_a_real_worker(
    drained_world: tuple[World, RunReport],
) -> None:
    world, report = drained_world
    targets = latency_targets(report.simulation.events)
    assert targets
    members = member_ports(world.settings.worker.web_port)
    before = scrape(members)

    latency = measure_latency(
        world.settings,
        targets,
        rate=100,
        seconds=3,
        world_end=report.simulation.end,
        settle_timeout_s=60,
    )
    assert abs(latency["sent"] - 300) <= 1  # evenly spaced: 100/s for 3 s
    assert latency["delivery_failed"] == 0 and latency["visible_not_applied"] == 0
    assert latency["observed"] == latency["sent"] and latency["unobserved"] == 0
    visible, lower = latency["visible"], latency["txn_start_lower_bound"]
    assert ordered(visible) and ordered(lower)
    # The batch's transaction starts after the send and commits before the offset is seen.
    assert 0 < lower["p50_ms"] <= visible["p50_ms"]
    assert lower["p99_ms"] <= visible["p99_ms"]
    # The learners repeated were all applied during the drain: their state is kept in memory.
    hits = cache_hits(scrape(members), before)
    assert set(hits) == {"pairs", "activity"}
    assert hits["pairs"] > 0.5 and hits["activity"] > 0.5, hits

    api = measure_api(world, concurrency=8, seconds=3)
    assert api["requests"] > 50
    assert api["non_2xx"] == 0, api["failure_samples"]
    assert ordered(api)
    assert all(e["requests"] > 0 for e in api["endpoints"].values())
