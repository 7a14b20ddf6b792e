"""The whole pipeline under faults, after Kafka's own system tests: the worker is killed
with -9 three times, the broker SIGKILLed and restarted three times under load, Postgres and
Redis restarted once each, 1% poison pills of each kind, HR simulators failing on purpose.

At the end the views equal the oracle, every DLQ holds exactly the pills, and certificates,
notifications and HR records exist exactly once. Size: LEARNSTREAM_RELIABILITY_LEARNERS.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.simulators.common import Faults, running
from connectors.simulators.sap import SapSimulator
from connectors.simulators.workday import WorkdaySimulator
from learnstream.kafka_admin import end_offsets
from learnstream.runtime.drain import backlog, build_handlers
from learnstream.settings import Settings
from learnstream.simulate import runner
from learnstream.simulate.compare import compare_with_oracle
from learnstream.topology import load_topology
from learnstream_cli.demo import webhook_receiver
from learnstream_cli.worker import prepare
from tests.conftest import free_port
from tests.reliability.checks import (
    check_dead_letters,
    hr_duplicates_and_differences,
    print_table,
    read_topic,
)
from tests.reliability.conftest import reliability_learners
from tests.reliability.faults import PLAN, Injector, applied_fraction, threshold
from tests.reliability.feed import HANDLER_BUG_PREFIX, POISON_KINDS, Feeder
from tests.support.messages import header_pairs
from tests.support.pipeline import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]
PUBLISH_SECONDS = 40.0  # the feed is paced so that faults land while records still arrive
HR_PASSWORD = "chaos-secret"
HR_FAULTS = {"fail_5xx_next_n": 2, "throttle_next_n": 2, "timeout_after_commit_next_n": 1}


def _arm(sims: list[Faults], armed: dict[str, int]) -> None:
    """Re-arm the HR fault counters; each counter fails that many upcoming calls."""
    for faults in sims:
        for name, n in HR_FAULTS.items():
            setattr(faults, name, getattr(faults, name) + n)
            armed[name] = armed.get(name, 0) + n


def _drain(world: Settings, injector: Injector, timeout_s: float) -> None:
    topology = load_topology(world.topology_file)
    handlers = build_handlers(world, topology)
    deadline, quiet_since, last = time.monotonic() + timeout_s, None, {}
    while time.monotonic() < deadline:
        injector.supervise()
        try:
            with psycopg.connect(world.postgres_url) as conn:
                last = backlog(world, topology, conn, handlers)
        except psycopg.OperationalError:
            last = {"postgres": -1}
        if any(last.values()):
            quiet_since = None
        elif time.monotonic() - (quiet_since := quiet_since or time.monotonic()) >= 3:
            return
        time.sleep(0.5)
    raise TimeoutError(f"not drained after {timeout_s}s: {last}")


def test_faults_lose_nothing_and_duplicate_nothing(
    chaos_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learners = reliability_learners()
    world = chaos_stack.model_copy(
        update={"topic_prefix": f"chaos.{uuid.uuid4().hex[:8]}."}
    ).with_worker(web_port=free_port())
    prepare(world)
    report = runner.prepare(
        world,
        learners=learners,
        courses=max(6, learners // 100),
        days=30,
        seed=21,
        oracle_path=tmp_path / "oracle.json",
    )
    events = report.simulation.events
    feeder = Feeder(world, events, rate=max(200.0, len(events) / PUBLISH_SECONDS))
    activity_total = report.topics["learning.activity"] + sum(feeder.planned_pills.values())
    sap = SapSimulator(client_secret=HR_PASSWORD)
    workday = WorkdaySimulator(username="isu@chaos", password=HR_PASSWORD)
    armed: dict[str, int] = {}
    for sim in (sap, workday):
        sim.faults.timeout_sleep_s = 1.5  # the worker gives up after 1 s; the remote committed
    began = time.monotonic()
    with (
        running(sap.app) as sap_url,
        running(workday.app) as workday_url,
        webhook_receiver() as (hook_env, deliveries),
    ):
        for name, value in hook_env.items():  # the drain check counts undelivered webhooks
            monkeypatch.setenv(name, value)
        worker = WorkerProcess(
            world,
            tmp_path / "worker.log",
            {
                **hook_env,
                "LEARNSTREAM_CHAOS_HANDLER_BUG_KEY_PREFIX": HANDLER_BUG_PREFIX,
                "LEARNSTREAM_WORKER_BATCH_SIZE": str(min(1000, max(100, activity_total // 40))),
                "LEARNSTREAM_HR_SAP_BASE_URL": sap_url,
                "LEARNSTREAM_HR_SAP_CLIENT_SECRET": HR_PASSWORD,
                "LEARNSTREAM_HR_WORKDAY_BASE_URL": workday_url,
                "LEARNSTREAM_HR_WORKDAY_USERNAME": "isu@chaos",
                "LEARNSTREAM_HR_WORKDAY_PASSWORD": HR_PASSWORD,
                "LEARNSTREAM_HR_HTTP_TIMEOUT_S": "1.0",
                "LEARNSTREAM_HR_BACKOFF_INITIAL_S": "0.2",
            },
        )
        injector = Injector(chaos_stack, worker)
        _arm([sap.faults, workday.faults], armed)
        worker.start()
        feeder.start()
        try:
            for step in PLAN:
                deadline = time.monotonic() + 900
                while True:
                    injector.supervise()
                    at = (
                        feeder.published_fraction()
                        if step.basis == "published"
                        else applied_fraction(world, activity_total)
                    )
                    if at >= threshold(step, injector.log):
                        injector.inject(step.fault, at)
                        _arm([sap.faults, workday.faults], armed)
                        break
                    assert feeder.error is None, feeder.error
                    assert time.monotonic() < deadline, f"{step} never reached (at {at:.2f})"
                    time.sleep(0.1)
            feeder.join(600)
            assert feeder.error is None and not feeder.acked.failures, feeder.error
            _drain(world, injector, timeout_s=1800)
        finally:
            worker.stop()
        elapsed = time.monotonic() - began
        remaining = {
            name: sum(getattr(f, name) for f in (sap.faults, workday.faults)) for name in HR_FAULTS
        }
        hr_faults = sum(armed[name] - remaining[name] for name in HR_FAULTS)
        sap_records, workday_records = list(sap.records), dict(workday.enrollments)
        webhook_keys = list(deliveries)

    # --- lost or duplicated writes: every acknowledged send is in the log, once -------------
    topology = load_topology(world.topology_file)
    inputs = sorted({world.topic(t) for t in report.topics})
    stored = sum(end_offsets(world, inputs).values())
    acked = feeder.acked.total
    # --- views, effects, dead letters ---------------------------------------------------------
    with psycopg.connect(world.postgres_url) as conn:
        comparison = compare_with_oracle(conn, report.oracle, hr=True)
        derived = {
            topic: set(ids)
            for topic, ids in conn.execute(
                "SELECT topic, array_agg(event_id::text) FROM outbox GROUP BY topic"
            ).fetchall()
        }
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("certificates", "notifications")
        }
        hr_missing = _hr_audit_of(conn, comparison.differences.get("hr_records", []))
    extra = {
        "certificates": rows["certificates"] - len(report.oracle.certificates),
        "notifications": rows["notifications"] - len(report.oracle.notifications),
    }
    relayed = {topic: _event_ids(world, topic) for topic in derived}
    relay_lost = sum(len(ids - set(relayed[t])) for t, ids in derived.items())
    relay_extra = sum(len(set(relayed[t]) - ids) for t, ids in derived.items())
    relay_resent = sum(len(ids) - len(set(ids)) for ids in relayed.values())
    hr_dupes, hr_diff = hr_duplicates_and_differences(report.oracle, sap_records, workday_records)
    dlqs = {a.dlq: a for a in topology.enabled_agents().values() if a.dlq}
    # Pills dead-letter where learning.activity is consumed: the learner lane's entry agent,
    # and any agent that still reads the topic through Faust.
    activity_dlqs = {
        topology.agents[lane.entry].dlq
        for lane in topology.lanes.values()
        if "learning.activity" in lane.inputs
    } | {
        a.dlq
        for name, a in topology.enabled_agents().items()
        if "learning.activity" in topology.faust_inputs(name)
    }
    letters = {
        dlq: check_dead_letters(
            world, world.topic(dlq), feeder.acked.pills if dlq in activity_dlqs else {}
        )
        for dlq in dlqs
    }
    view_diffs = sum(map(len, comparison.differences.values()))
    faults = injector.log
    print_table(
        f"reliability: {learners} learners, {elapsed:.0f} s",
        ("events", "faults injected", "lost", "duplicated", "dead-lettered"),
        [
            (
                f"{acked:,} acked ({len(feeder.acked.pills)} pills)",
                ", ".join(f"{k} ×{n}" for k, n in faults.counts().items())
                + f", HR faults ×{hr_faults}, worker self-exits ×{len(faults.worker_self_exits)}",
                f"writes {max(0, acked - stored)}, relayed {relay_lost}, views {view_diffs}",
                f"writes {max(0, stored - acked)}, certificates {extra['certificates']}, "
                f"notifications {extra['notifications']}, HR {hr_dupes} (re-sends dropped by "
                f"id: relay {relay_resent}, webhooks {len(webhook_keys) - len(set(webhook_keys))})",
                ", ".join(
                    f"{d} {c.distinct} (+{c.letters - c.distinct})" for d, c in letters.items()
                ),
            )
        ],
    )
    print_table(
        "faults",
        ("fault", "at progress", "took s"),
        [(i.fault, f"{i.fraction:.0%}", f"{i.seconds:.1f}") for i in faults.injected],
    )
    # --- the verdict ----------------------------------------------------------------------------
    assert faults.counts() == {
        "worker_kill9": 3, "broker_kill9": 3, "postgres_restart": 1, "redis_restart": 1
    }  # fmt: skip
    kills = [i.fraction for i in faults.injected if i.fault == "worker_kill9"]
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(kills)), kills
    assert kills[-1] < 1.0, "the last kill must land before the work is done"
    assert stored == acked, f"acknowledged {acked}, stored {stored}"
    assert comparison.equal, (
        {k: v[:3] for k, v in comparison.differences.items()},
        f"audit rows of the missing HR records (status, attempts, last error): {hr_missing}",
        f"in the simulators: {hr_diff} differences",
    )
    assert (relay_lost, relay_extra) == (0, 0)  # every derived event reached its topic
    assert (hr_dupes, hr_diff) == (0, 0) and hr_faults > 0
    assert extra == {"certificates": 0, "notifications": 0}
    assert len(set(webhook_keys)) == rows["notifications"]  # each delivered, once per id
    for dlq, check in letters.items():  # re-sent letters carry the same source coordinates
        want = len(feeder.acked.pills) if dlq in activity_dlqs else 0
        assert (check.distinct, check.missing, check.unexpected) == (want, 0, 0), (dlq, check)
        assert not check.wrong_class, (dlq, check.wrong_class[:3])
    assert set(feeder.planned_pills) == set(POISON_KINDS)


def _event_ids(world: Settings, topic: str) -> list[str]:
    return [dict(header_pairs(m))["ce_id"].decode() for m in read_topic(world, topic)]


def _hr_audit_of(conn: psycopg.Connection, differences: list[tuple[Any, ...]]) -> dict[str, int]:
    """Where the HR records the oracle misses stand in the audit (a failure's first clue)."""
    keys = [(d[1], d[3], d[4], d[5]) for d in differences if d[0] == "missing"]
    states: Counter[str] = Counter()
    for target, learner, course, completion in keys[:200]:
        row = conn.execute(
            "SELECT status, attempts, left(coalesce(last_error, ''), 80) FROM hr_sync_audit "
            "WHERE target = %s AND learner_id = %s AND course_id = %s AND completion_id = %s",
            (target, learner, course, completion),
        ).fetchone()
        states[" / ".join(map(str, row)) if row else "no audit row"] += 1
    return dict(states)
