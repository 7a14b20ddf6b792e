"""`learnstream bench …`: throughput with ratios against a baseline from the same run."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from learnstream.settings import get_settings

app = typer.Typer(help="Benchmarks (ratios against a same-run baseline; results in bench/results).")
console = Console()


@app.command()
def serde(learners: int = typer.Option(500, help="simulated learners to encode")) -> None:
    """Encode/decode events/s of learnstream's serde against bare fastavro."""
    from learnstream_cli.bench.serde import run_serde_bench

    result = run_serde_bench(get_settings(), learners=learners)
    rates = result["rates"]
    table = Table(title=f"serde on {result['events']} simulated events")
    for column in ("path", "events/s", "ratio to baseline"):
        table.add_column(column)
    names = list(rates)
    baselines = {names[1]: names[0], names[3]: names[2], names[4]: names[2]}
    for name, rate in rates.items():
        base = baselines.get(name)
        ratio = f"{rate / rates[base]:.2f}" if base else "1.00"
        table.add_row(name, f"{rate:,.0f}", ratio)
    console.print(table)
    out = Path("bench") / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {**result, "machine": platform.platform(), "python": platform.python_version()}
    (out / f"serde-{stamp}.json").write_text(json.dumps(payload, indent=2))


def _rss_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter("comma-separated learner counts, e.g. 10000,100000") from None


@app.command()
def pipeline(
    learners: int = typer.Option(2000, help="simulated learners of the throughput world"),
    courses: int = typer.Option(20, help="courses of the throughput world"),
    days: int = typer.Option(30, help="simulated days"),
    seed: int = typer.Option(1, help="simulation seed"),
    quick: bool = typer.Option(False, help="~200 learners and RSS at 1000,10000: a smoke run"),
    latency_seconds: float = typer.Option(20.0, help="paced publishing time for (c)"),
    api_seconds: float = typer.Option(15.0, help="read-API load time for (d)"),
    api_concurrency: int = typer.Option(32, help="concurrent read-API clients"),
    rss_learners: str = typer.Option(
        "10000,100000", help="learner counts for the RSS worlds; empty to skip"
    ),
    keep: bool = typer.Option(False, help="keep the private databases, topics and logs"),
) -> None:
    """Full pipeline events/s against the raw ceiling and a naive Faust job, publish→view
    latency, read-API latency under load and worker RSS, in private worlds of one run."""
    from learnstream_cli.bench.pipeline import PipelineOptions, run_pipeline_bench, write_results

    sizes = _rss_sizes(rss_learners)
    if quick:
        learners = min(learners, 200)
        if rss_learners == "10000,100000":
            sizes = (1000, 10000)
    options = PipelineOptions(
        learners=learners,
        courses=courses,
        days=days,
        seed=seed,
        latency_seconds=latency_seconds,
        api_seconds=api_seconds,
        api_concurrency=api_concurrency,
        rss_learners=sizes,
        keep=keep,
    )
    with console.status("preparing a private world") as status:
        result = run_pipeline_bench(get_settings(), options, step=status.update)
    _print_pipeline(result)
    path = write_results(result)
    console.print(f"results: {path}")


def _ms(block: dict[str, Any]) -> str:
    return " / ".join(f"{block[k]:,.0f}" for k in ("p50_ms", "p95_ms", "p99_ms"))


def _cpu(sampled: dict[str, Any]) -> str:
    return f"{sampled.get('avg_percent')}% avg, {sampled.get('peak_percent')}% peak"


def _print_pipeline(result: dict[str, Any]) -> None:
    rates, world = result["rates"], result["world"]
    table = Table(title=f"pipeline throughput on {world['events']:,} simulated events")
    table.add_column("path")
    for column in ("events", "seconds", "events/s", "pipeline ÷ this"):
        table.add_column(column, justify="right")
    rows = [
        ("(a) raw consume + decode (ceiling)", rates["raw"]),
        ("(f) naive job, Faust (1 Table update/event)", rates["naive"]),
        ("(g) naive job, Quix Streams (RocksDB + changelog)", rates.get("quix", {})),
        ("(h) naive job, learnstream fast lane (Postgres)", rates.get("naive_lane", {})),
        ("(b) full pipeline (all agents, drained)", rates["pipeline"]),
    ]
    for name, rate in rows:
        if "events_per_s" not in rate:
            table.add_row(name, "-", "-", "-", rate.get("error", "not measured")[:40])
            continue
        ratio = rate.get("pipeline_ratio")
        table.add_row(
            name,
            f"{rate['events']:,.0f}",
            f"{rate['seconds']:.2f}",
            f"{rate['events_per_s']:,.0f}",
            "1.00" if rate is rates["pipeline"] else f"{ratio:.2f}" if ratio else "-",
        )
    console.print(table)
    raw, naive = rates["raw"].get("pipeline_ratio"), rates["naive"].get("pipeline_ratio")
    if raw and naive:
        console.print(f"pipeline ÷ raw = {raw:.3f}; pipeline ÷ naive Faust = {naive:.2f}")
    if "quix_ratio" in rates.get("naive_lane", {}):
        console.print(
            f"engine on identical work: (h) ÷ (g) = {rates['naive_lane']['quix_ratio']:.2f}"
        )
    stages = rates["pipeline"].get("stage_us_per_event") or {}
    if stages:
        line = ", ".join(f"{name} {us:,.0f}" for name, us in stages.items())
        console.print(
            f"(b) lane time per event, µs (stage clock, summed over members): {line}; "
            f"total {sum(stages.values()):,.0f}"
        )
    pipe, lat, api = rates["pipeline"], result["latency"], result["api"]
    per_batch = lat.get("stage_ms_per_batch") or {}
    if per_batch:
        line = ", ".join(f"{name} {ms:,.1f}" for name, ms in per_batch.items())
        console.print(f"(c) lane time per batch at 50% load, ms: {line}")
    cached = (("(b)", pipe.get("state_cache_hits")), ("(c)", lat.get("state_cache_hits")))
    for label, hits in cached:
        if hits:
            line = ", ".join(f"{cache} {ratio:.1%}" for cache, ratio in hits.items())
            console.print(f"{label} learners served from the state caches: {line}")
    details = Table(title="latency, API and resources")
    for column in ("measure", "value", "note"):
        details.add_column(column)
    visible, goal = lat["visible"], lat["goal_ms"]
    verdict = "meets" if visible["p99_ms"] <= goal else "misses"
    share = 0.5 * lat["sent"] / max(1, len(lat["windows"]))  # skip the ragged last window
    full = [w for w in lat["windows"] if w["sent"] >= share]
    trend = " → ".join(f"{w['p50_ms']:,.0f}" for w in full)
    details.add_row(
        "publish → view p50/p95/p99 ms",
        _ms(visible),
        f"p99 {verdict} the {goal:.0f} ms goal; {lat['observed']:,}/{lat['sent']:,} seen at "
        f"{lat['achieved_rate']:,.0f}/s (target {lat['target_rate']:,.0f}/s); "
        f"p50 per 5 s: {trend}",
    )
    for point in result.get("latency_sweep", []):
        verdict = "meets" if point["visible"]["p99_ms"] <= goal else "misses"
        details.add_row(
            f"  at {point['fraction']:.0%} of (b)",
            _ms(point["visible"]),
            f"{point['rate']:,.0f}/s; p99 {verdict} the goal",
        )
    details.add_row(
        "  lower bound (txn start) ms",
        _ms(lat["txn_start_lower_bound"]),
        "processed_at = now(): the batch transaction's start",
    )
    details.add_row("worker CPU during (c)", _cpu(lat["worker_cpu"] or {}), "100% = one core")
    for label, batches in (("(b)", pipe.get("batches")), ("(c)", lat.get("batches"))):
        if batches and "progress" in batches:
            b = batches["progress"]
            details.add_row(
                f"progress batches during {label}",
                f"{b['mean_batch_ms']:,.0f} ms mean",
                f"{b['batches']:,} batches of {b['events_per_batch']:,.0f} events",
            )
    details.add_row(
        "read API p50/p95/p99 ms",
        _ms(api),
        f"{api['req_per_s']:,.0f} req/s, {api['concurrency']} clients, non-2xx {api['non_2xx']}; "
        f"API CPU {api['api_cpu']['avg_percent']}%, load generator "
        f"{api['load_generator_cpu_percent']}%",
    )
    details.add_row(
        "worker CPU during (b)",
        _cpu(pipe["worker_cpu"]),
        f"100% = one core; start-up {pipe['startup_seconds']:.1f} s not timed",
    )
    details.add_row("views equal the oracle after (b)", str(pipe["oracle_equal"]), "")
    for rss in result["rss"]:
        details.add_row(
            f"worker RSS at {rss['learners']:,} learners",
            f"{rss['rss_mb']:,.0f} MiB",
            f"all processes; largest process {rss.get('process_rss_mb', 0):,.0f} MiB; "
            f"peak {rss['peak_rss_mb']:,.0f} MiB; {rss['rss_at_first_batch_mb']:,.0f} MiB at "
            f"first batch; drained {rss['events']:,} events in {rss['drain_seconds']:.1f} s",
        )
    sizes = result["rss"]
    if len(sizes) >= 2 and sizes[-1]["learners"] > sizes[0]["learners"]:
        slope = (sizes[-1]["rss_mb"] - sizes[0]["rss_mb"]) / (
            sizes[-1]["learners"] - sizes[0]["learners"]
        )
        details.add_row("worker RSS growth", f"{1024 * slope:,.1f} KiB/learner", "")
    m = result["machine"]
    details.add_row(
        "machine",
        f"{m['cpus']} CPUs, Python {m['python']}",
        f"{m['platform']}; {m['kafka']}; Postgres {m['postgres']}; "
        f"load {m['loadavg_at_start'][0]} → {m['loadavg_at_end'][0]}",
    )
    console.print(details)
