"""Per-agent batch numbers from the worker's own Prometheus page (/metrics on its web port):
how many batches, how many events each, how long each took. Scraped between bench phases; the
difference of two scrapes describes the phase in between."""

from __future__ import annotations

import os
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from learnstream.log import get_logger

log = get_logger(__name__)
Totals = dict[str, dict[str, float]]  # agent -> {"batches", "batch_seconds", "events"}
STAGES = "_stages"  # Totals' entry for learnstream_stage_seconds: stage -> seconds
CACHES = "_caches"  # Totals' entry for learnstream_state_cache_reads: "cache:result" -> reads


def member_ports(port: int) -> list[int]:
    """The web ports of a worker's group members (`learnstream worker` runs one per core by
    default, member i on port + i)."""
    return [port + i for i in range(os.cpu_count() or 1)]


def scrape(port: int | list[int]) -> Totals:
    """Cumulative totals per agent, summed over the members on `port`(s); a member whose page
    does not answer counts nothing (the bench carries on)."""
    totals: Totals = {}
    wanted = {
        "learnstream_batch_duration_seconds_count": "batches",
        "learnstream_batch_duration_seconds_sum": "batch_seconds",
        "learnstream_events_processed_total": "events",
    }
    for one in [port] if isinstance(port, int) else port:
        try:
            text = httpx.get(f"http://127.0.0.1:{one}/metrics", timeout=10).text
        except httpx.HTTPError as exc:
            log.warning("bench.metrics.unavailable", port=one, error=repr(exc))
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted and "agent" in sample.labels:
                    agent = totals.setdefault(sample.labels["agent"], {})
                    key = wanted[sample.name]
                    agent[key] = agent.get(key, 0.0) + sample.value
                elif sample.name == "learnstream_state_cache_reads_total":
                    caches = totals.setdefault(CACHES, {})
                    name = f"{sample.labels['cache']}:{sample.labels['result']}"
                    caches[name] = caches.get(name, 0.0) + sample.value
                elif sample.name == "learnstream_stage_seconds_total":
                    stages = totals.setdefault(STAGES, {})
                    name = sample.labels["stage"]
                    stages[name] = stages.get(name, 0.0) + sample.value
    return totals


def stage_costs(
    after: Totals, before: Totals | None = None, agent: str = "progress", per: str = "events"
) -> dict[str, float]:
    """µs per applied event (per="events") or ms per batch (per="batches") of each stage of
    the lanes between two scrapes (the stage clock of learnstream/runtime/stages.py: wall time of
    the lane threads, nested stages charged once, Postgres round trips as "postgres:<stage>"),
    largest first."""
    then = before or {}
    count = after.get(agent, {}).get(per, 0) - then.get(agent, {}).get(per, 0)
    if count <= 0:
        return {}
    scale = 1e6 if per == "events" else 1e3
    spent = {
        name: seconds - then.get(STAGES, {}).get(name, 0.0)
        for name, seconds in after.get(STAGES, {}).items()
    }
    return {
        name: round(scale * seconds / count, 1)
        for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
        if seconds > 0 and name != "idle"  # a lane waiting for records costs nothing
    }


def cache_hits(after: Totals, before: Totals | None = None) -> dict[str, float]:
    """Share of learners each state cache served from memory between two scrapes."""
    then = (before or {}).get(CACHES, {})
    now = after.get(CACHES, {})
    ratios: dict[str, float] = {}
    for cache in sorted({name.split(":")[0] for name in now}):
        hit, miss = (
            now.get(f"{cache}:{r}", 0.0) - then.get(f"{cache}:{r}", 0.0) for r in ("hit", "miss")
        )
        if hit + miss > 0:
            ratios[cache] = round(hit / (hit + miss), 3)
    return ratios


def phase(after: Totals, before: Totals | None = None) -> dict[str, Any]:
    """Batches, events per batch and mean batch time per agent between two scrapes."""
    result: dict[str, Any] = {}
    for agent, now in sorted(after.items()):
        if agent in (STAGES, CACHES):
            continue
        then = (before or {}).get(agent, {})
        batches = now.get("batches", 0) - then.get("batches", 0)
        seconds = now.get("batch_seconds", 0) - then.get("batch_seconds", 0)
        events = now.get("events", 0) - then.get("events", 0)
        result[agent] = {
            "batches": int(batches),
            "applied_events": int(events),
            "events_per_batch": round(events / batches, 1) if batches else 0.0,
            "mean_batch_ms": round(1000 * seconds / batches, 1) if batches else 0.0,
            "busy_seconds": round(seconds, 2),
        }
    return result
