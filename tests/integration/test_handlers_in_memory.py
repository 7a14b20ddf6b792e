"""Every handler run in memory (learnstream.testing): a list of events in, derived events and
dead letters out, through the real runtime and a real, private Postgres (and Redis for the
views); no Kafka. The inputs come from the simulator, so each test is a small, real journey."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import redis
from pydantic import SecretStr

from connectors.hr_sync import HrSyncHandler
from learnstream import names
from learnstream.settings import Settings
from learnstream.simulate import Oracle, SimEvent, Simulation, compute_oracle, simulate
from learnstream.simulate.compare import compare_with_oracle
from learnstream.testing import HandlerHarness, HarnessRun
from learnstream.topology import load_topology
from sinks.database import upgrade
from streams.certification.handler import build_handler as build_certification
from streams.features.handler import build_handler as build_features
from streams.learner.pipeline import build_handler as build_learner_lane
from streams.notifications.handler import build_handler as build_notifications
from streams.progress.handler import build_handler as build_progress
from streams.views.layout import features_key, redis_prefix

pytestmark = pytest.mark.integration
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def settings(stack_settings: Settings, pg_url: str, unique: str) -> Iterator[Settings]:
    """A migrated database of this test's own, and Redis keys under a prefix of its own."""
    own = stack_settings.model_copy(
        update={"postgres_dsn": SecretStr(pg_url), "topic_prefix": f"mem.{unique}."}
    )
    upgrade(own)
    yield own
    client = redis.Redis.from_url(own.redis_address)
    for key in client.scan_iter(f"{redis_prefix(own)}*"):
        client.delete(key)
    client.close()


@dataclass(frozen=True)
class World:
    simulation: Simulation
    oracle: Oracle

    @property
    def events(self) -> list[SimEvent]:
        return self.simulation.events


@pytest.fixture(scope="module")
def world() -> World:
    simulation = simulate(learners=24, courses=3, days=40, seed=13)
    return World(simulation, compute_oracle(simulation.events))


def of(world: World, *event_names: str) -> Events:
    return [(e.event_name, e.record) for e in world.events if e.event_name in event_names]


def learning(world: World) -> Events:
    """The learner lane's input: the catalog and the learning activity, in delivery order."""
    return of(world, names.COURSE_PUBLISHED, *names.ACTIVITY_EVENTS)


def as_input(run: HarnessRun, *event_names: str) -> Events:
    return [(d.event_name, d.record) for d in run.derived if d.event_name in event_names]


def chunks(events: Events, size: int) -> Iterator[Events]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def test_the_learner_lane_in_memory_equals_the_oracle(settings: Settings, world: World) -> None:
    org = HandlerHarness(build_notifications(settings), settings)
    org.run(of(world, names.EMPLOYMENT_CHANGED))  # the org chart's owner applies it first
    lane = HandlerHarness(build_learner_lane(settings), settings)
    runs = [lane.run(batch) for batch in chunks(learning(world), 400)]
    lane.punctuate()  # the due sweep at the final event time (overdue, at risk)
    assert sum(r.stats.applied for r in runs) > 0 and not any(r.dead_letters for r in runs)
    with psycopg.connect(settings.postgres_url) as conn:
        result = compare_with_oracle(conn, world.oracle)
    assert result.checked["progress"] > 0 and result.checked["certificates"] > 0
    assert result.differences["progress"] == [] and result.differences["certificates"] == []
    # A redelivery of a batch already applied changes nothing and derives nothing.
    again = lane.replay(lane.records(learning(world)[:400]))
    assert again.derived == [] and again.stats.applied == 0


def test_progress_derives_snapshots_and_one_completion_per_completed_pair(
    settings: Settings, world: World
) -> None:
    harness = HandlerHarness(build_progress(settings), settings)
    run = harness.run(learning(world))
    completed = {(d.record["learner_id"], d.record["course_id"]) for d in run.derived
                 if d.event_name == names.COURSE_COMPLETED}  # fmt: skip
    want = {(c.learner_id, c.course_id) for c in world.oracle.completions}
    assert completed == want and want
    assert run.named(names.PROGRESS_CHANGED)
    assert {d.topic for d in run.derived} == {settings.topic("learning.progress")}


def test_certification_issues_one_certificate_per_completion(
    settings: Settings, world: World
) -> None:
    progress = HandlerHarness(build_progress(settings), settings).run(learning(world))
    certification = HandlerHarness(build_certification(settings), settings)
    completions = as_input(progress, names.COURSE_COMPLETED, names.PROGRESS_CHANGED)
    run = certification.run(completions)
    issued = {str(d.record["certificate_id"]) for d in run.named(names.CERTIFICATE_ISSUED)}
    assert issued == {c.certificate_id for c in world.oracle.certificates} and issued
    assert certification.run(completions).derived == []  # the same completions again: nothing


def test_notifications_tell_the_manager_in_charge(settings: Settings, world: World) -> None:
    progress = HandlerHarness(build_progress(settings), settings).run(learning(world))
    certified = HandlerHarness(build_certification(settings), settings).run(
        as_input(progress, names.COURSE_COMPLETED, names.PROGRESS_CHANGED)
    )
    notifications = HandlerHarness(build_notifications(settings), settings)
    notifications.run(of(world, names.EMPLOYMENT_CHANGED))
    run = notifications.run(as_input(certified, names.CERTIFICATE_ISSUED))
    got = {str(d.record["notification_id"]) for d in run.named(names.NOTIFICATION_REQUESTED)
           if d.record["kind"] == "CERTIFICATE_ISSUED"}  # fmt: skip
    want = {n.notification_id for n in world.oracle.notifications if n.kind == "CERTIFICATE_ISSUED"}
    assert got == want and want


def test_features_are_kept_per_learner_in_postgres_and_redis(
    settings: Settings, world: World
) -> None:
    harness = HandlerHarness(build_features(settings), settings)
    run = harness.run(of(world, *names.ACTIVITY_EVENTS))
    assert run.derived == [] and run.stats.applied > 0  # features derive no events
    learners = {r["learner_id"] for _, r in of(world, *names.ACTIVITY_EVENTS)}
    client = redis.Redis.from_url(settings.redis_address, decode_responses=True)
    try:
        cached = {
            lid for lid in learners if client.exists(features_key(redis_prefix(settings), lid))
        }
    finally:
        client.close()
    assert cached == learners


def test_hr_sync_reports_each_owed_record_even_with_no_target_configured(
    settings: Settings, world: World
) -> None:
    progress = HandlerHarness(build_progress(settings), settings).run(learning(world))
    certified = HandlerHarness(build_certification(settings), settings).run(
        as_input(progress, names.COURSE_COMPLETED, names.PROGRESS_CHANGED)
    )
    HandlerHarness(build_notifications(settings), settings).run(
        of(world, names.EMPLOYMENT_CHANGED)  # the org chart, with the learners' HR ids
    )
    hr = HandlerHarness(HrSyncHandler(settings.hr, targets={}), settings)
    issued = as_input(certified, names.CERTIFICATE_ISSUED)
    run = hr.run(issued)
    results = run.named(names.HR_SYNC_RESULT)
    assert results and {r.record["status"] for r in results} == {"SKIPPED"}
    assert {r.record["error"] for r in results} <= {"TARGET_DISABLED", "NOT_MAPPED"}
    owed = {(r.target, r.completion_id) for r in world.oracle.hr_records}
    reported = {(r.record["target"], str(r.record["completion_id"])) for r in results}
    assert owed <= reported  # every record the oracle says is owed is accounted for


def test_an_invalid_event_is_dead_lettered_and_the_batch_goes_on(
    settings: Settings, world: World
) -> None:
    harness = HandlerHarness(build_progress(settings), settings)
    events = learning(world)[:50]
    name, record = next((n, r) for n, r in events if n == names.LESSON_COMPLETED)
    envelope = {**record["envelope"], "event_id": "6f1c0f9e-0000-4000-8000-000000000001"}
    broken = {**record, "envelope": envelope, "learner_id": ""}
    run = harness.run([*events, (name, broken)])
    activity_before = sum(1 for n, _ in events if n != names.COURSE_PUBLISHED)
    assert [letter.record.offset for letter in run.dead_letters] == [activity_before]
    assert "learner_id" in str(run.dead_letters[0].error)
    assert run.stats.applied == len(events) - run.stats.skipped


def test_every_handler_of_the_topology_has_an_in_memory_test(settings: Settings) -> None:
    topology = load_topology(settings.topology_file)
    modules = {a.module for a in topology.enabled_agents().values()}
    modules |= {lane.module for lane in topology.lanes.values()}
    tested = {
        build_learner_lane.__module__,
        build_progress.__module__,
        build_certification.__module__,
        build_notifications.__module__,
        build_features.__module__,
        HrSyncHandler.__module__,
    }
    assert modules == tested
