"""`learnstream bench …`: throughput with ratios against a baseline from the same run."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from learnstream.settings import get_settings

app = typer.Typer(help="Benchmarks (ratios against a same-run baseline; results in bench/results).")
console = Console()


@app.command()
def serde(learners: int = typer.Option(500, help="simulated learners to encode")) -> None:
    """Encode/decode events/s of learnstream's serde against bare fastavro."""
    from learnstream.bench.serde import run_serde_bench

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
