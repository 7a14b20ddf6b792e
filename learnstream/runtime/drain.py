"""Is the pipeline drained? Records each agent has not applied yet, plus the work its handler
says it still owes (BaseHandler.backlog) and the outbox's unsent rows. Used by `make run`, the
tests, the benchmark and the reliability suite; workers never call it."""

from __future__ import annotations

import importlib
import time

import psycopg

from learnstream.kafka_admin import end_offsets
from learnstream.runtime.handler import BaseHandler
from learnstream.settings import Settings
from learnstream.topology import Topology


def build_handlers(settings: Settings, topology: Topology) -> dict[str, BaseHandler]:
    """Agent name -> its handler, built as a worker builds it (topology.yaml's module)."""
    handlers = {}
    for name, agent in topology.enabled_agents().items():
        handler: BaseHandler = importlib.import_module(agent.module).build_handler(settings)
        handlers[name] = handler
    return handlers


def consumer_names(settings: Settings, topology: Topology) -> dict[str, str]:
    """Agent name -> the consumer name its handler records offsets under."""
    return {name: h.consumer for name, h in build_handlers(settings, topology).items()}


def backlog(
    settings: Settings,
    topology: Topology,
    conn: psycopg.Connection,
    handlers: dict[str, BaseHandler] | None = None,
) -> dict[str, int]:
    """Records each agent has not applied yet, unsent outbox rows, and each handler's own
    backlog (due decisions, undelivered notifications), by name."""
    handlers = handlers or build_handlers(settings, topology)
    agents = topology.enabled_agents()
    topics = {settings.topic(t) for a in agents.values() for t in [*a.inputs, *a.tables]}
    topics |= {t for h in handlers.values() for t in h.backlog_topics()}
    ends = end_offsets(settings, sorted(topics))
    stored = {
        (c, t, p): o
        for c, t, p, o in conn.execute(
            "SELECT consumer, topic, partition, next_offset FROM stream_offsets"
        ).fetchall()
    }
    result: dict[str, int] = {}
    for name in agents:
        # A laned input is applied under the lane entry's consumer; a fused one never is.
        lane = topology.lane_of(name)
        owner = {settings.topic(t): handlers[name].consumer for t in topology.faust_inputs(name)}
        if lane is not None:
            owner |= {settings.topic(t): handlers[lane.entry].consumer for t in lane.inputs}
        result[name] = sum(
            max(0, end - stored.get((owner[t], t, p), 0))
            for (t, p), end in ends.items()
            if t in owner
        )
    row = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    result["outbox"] = int(row[0]) if row else 0
    for handler in handlers.values():
        result |= handler.backlog(conn, ends)
    return result


def wait_until_drained(
    settings: Settings, topology: Topology, timeout_s: float = 180, settle_s: float = 3.0
) -> dict[str, int]:
    """Block until nothing is left to do (and stays so for `settle_s`); return the last backlog."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    last: dict[str, int] = {}
    handlers = build_handlers(settings, topology)  # built once, not per poll
    while time.monotonic() < deadline:
        with psycopg.connect(settings.postgres_url) as conn:
            last = backlog(settings, topology, conn, handlers)
        if not any(last.values()):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle_s:
                return last
        else:
            quiet_since = None
        time.sleep(0.5)
    raise TimeoutError(f"pipeline not drained after {timeout_s}s: {last}")
