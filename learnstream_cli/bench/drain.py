"""Full-pipeline throughput: a worker started on a published world, timed from the first applied
offset until every agent (and the outbox and the due sweep) has nothing left to do.

Both ends are observed by polling Postgres (first offset every 50 ms, the backlog every 250 ms),
so the elapsed time is accurate to about a quarter of a second. The worker's start-up (Faust boot,
group join) happens before the first offset and is reported apart, not counted.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import psycopg

from learnstream.errors import LearnstreamError
from learnstream.log import get_logger
from learnstream.topology import activity_topic, load_topology
from learnstream_cli.bench.procfs import CpuSampler, memory_mb
from learnstream_cli.bench.world import World, log_tail

log = get_logger(__name__)
FIRST_OFFSET_POLL_S = 0.05
MAIN_CONSUMER = "progress"  # the learner lane's (the baselines' consumers share the database)
BACKLOG_POLL_S = 0.25


class WorkerDied(LearnstreamError, RuntimeError):
    pass


def _check_alive(world: World, proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        raise WorkerDied(f"worker exited with {proc.returncode}:\n{log_tail(world, 'worker.log')}")


def wait_first_offset(world: World, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> float:
    """time.time() at which the learner lane's first applied offset (next_offset > 0) was
    seen. That one, not any: the low-volume agents start on Faust's consumer a few seconds
    before the lane has joined its group and caught up with the catalog, and the baselines that
    ran before in the same database left offsets of their own; timing from either would count
    the worker's start-up as processing."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(world.settings.postgres_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT 1 FROM stream_offsets WHERE consumer = %s AND topic = %s "
                "AND next_offset > 0 LIMIT 1",
                (MAIN_CONSUMER, world.settings.topic(activity_topic(world.settings))),
            )
            if row.fetchone() is not None:
                return time.time()
            _check_alive(world, proc)
            time.sleep(FIRST_OFFSET_POLL_S)
    raise TimeoutError(f"no offset applied within {timeout_s}s")


def wait_drained(
    world: World,
    proc: subprocess.Popen[bytes],
    *,
    timeout_s: float,
    settle_s: float = 3.0,
    on_backlog: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Poll the backlog until it is all zero and stays so for `settle_s`. Returns, per part
    (agent, outbox, due_sweep) and under "all", the time.time() since which it was zero."""
    from learnstream.runtime.drain import backlog, build_handlers

    settings = world.settings
    topology = load_topology(settings.topology_file)
    handlers = build_handlers(settings, topology)
    zero_since: dict[str, float | None] = {}
    deadline = time.monotonic() + timeout_s
    last: dict[str, int] = {}
    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            _check_alive(world, proc)
            last = backlog(settings, topology, conn, handlers)
            now = time.time()
            for part, left in last.items():
                zero_since[part] = (zero_since.get(part) or now) if left == 0 else None
            if on_backlog is not None:
                on_backlog(sum(last.values()))
            since = [zero_since[p] for p in last]
            if all(s is not None for s in since):
                quiet = max(s for s in since if s is not None)
                if now - quiet >= settle_s:
                    return {**{p: s for p, s in zero_since.items() if s is not None}, "all": quiet}
            time.sleep(BACKLOG_POLL_S)
    raise TimeoutError(f"pipeline not drained after {timeout_s}s: {last}")


def per_agent(world: World, began: float, zero_since: dict[str, float]) -> dict[str, Any]:
    """Records each agent's consumer moved past (input and table topics), events it applied
    (processed_events) and its own rate up to the moment its backlog reached zero."""
    from learnstream.runtime.drain import consumer_names

    settings = world.settings
    names = consumer_names(settings, load_topology(settings.topology_file))
    with psycopg.connect(settings.postgres_url) as conn:
        offsets: dict[str, int] = dict(
            conn.execute(
                "SELECT consumer, sum(next_offset) FROM stream_offsets GROUP BY consumer"
            ).fetchall()
        )
        applied: dict[str, int] = dict(
            conn.execute(
                "SELECT consumer, count(*) FROM processed_events GROUP BY consumer"
            ).fetchall()
        )
    result: dict[str, Any] = {}
    for agent, consumer in names.items():
        records = int(offsets.get(consumer, 0))
        seconds = max(zero_since.get(agent, began) - began, 1e-9)
        result[agent] = {
            "consumer": consumer,
            "records": records,
            "applied_events": int(applied.get(consumer, 0)),
            "seconds_to_drain": round(seconds, 3),
            "records_per_s": round(records / seconds, 1),
        }
    return result


def measure_drain(
    world: World,
    proc: subprocess.Popen[bytes],
    *,
    input_events: int,
    timeout_s: float = 1800,
    on_backlog: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Time a just-started worker `proc` through the already published world."""
    spawned = time.time()
    with CpuSampler(proc.pid) as cpu:
        began = wait_first_offset(world, proc)
        zero_since = wait_drained(world, proc, timeout_s=timeout_s, on_backlog=on_backlog)
        ended = zero_since["all"]
        sampled = cpu.window(began, ended)
    seconds = ended - began
    memory = memory_mb(proc.pid)
    log.info("bench.drain.done", events=input_events, seconds=round(seconds, 2))
    return {
        "events": input_events,
        "seconds": round(seconds, 3),
        "events_per_s": input_events / seconds if seconds > 0 else 0.0,
        "startup_seconds": round(began - spawned, 3),
        "worker_cpu": sampled,
        "worker_memory_after": memory,
        "agents": per_agent(world, began, zero_since),
        "timing": "first applied offset seen (50 ms poll) -> backlog zero (250 ms poll), "
        "confirmed by 3 s of quiet",
    }
