"""Percentiles for the bench reports."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank: monotonic in p, and always one of the values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in ms, rounded to 0.1 ms (NaN when there are no values)."""
    values = sorted(values_ms)
    if not values:
        return {k: math.nan for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")}
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(values[-1], 1),
        "mean_ms": round(sum(values) / len(values), 1),
    }
