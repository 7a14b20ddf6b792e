"""Per-agent batch numbers from the worker's own Prometheus page (/metrics on its web port):
how many batches, how many events each, how long each took. Scraped between bench phases; the
difference of two scrapes describes the phase in between."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from learnstream.log import get_logger

log = get_logger(__name__)
Totals = dict[str, dict[str, float]]  # agent -> {"batches", "batch_seconds", "events"}


def scrape(port: int) -> Totals:
    """Cumulative totals per agent; {} if the page does not answer (the bench carries on)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError as exc:
        log.warning("bench.metrics.unavailable", port=port, error=repr(exc))
        return {}
    totals: Totals = {}
    wanted = {
        "learnstream_batch_duration_seconds_count": "batches",
        "learnstream_batch_duration_seconds_sum": "batch_seconds",
        "learnstream_events_processed_total": "events",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted and "agent" in sample.labels:
                agent = totals.setdefault(sample.labels["agent"], {})
                agent[wanted[sample.name]] = sample.value
    return totals


def phase(after: Totals, before: Totals | None = None) -> dict[str, Any]:
    """Batches, events per batch and mean batch time per agent between two scrapes."""
    result: dict[str, Any] = {}
    for agent, now in sorted(after.items()):
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
