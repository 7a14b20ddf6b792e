"""`learnstream simulate`: generate learners, publish their events to Kafka, write the oracle."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from learnstream.settings import get_settings
from learnstream.simulate.runner import RunReport, prepare, publish

app = typer.Typer(
    help="Simulate learners: publish their events to Kafka and write the expected state.",
    pretty_exceptions_enable=False,
)
console = Console()
_errors = Console(stderr=True)


@app.callback(invoke_without_command=True)
def run(
    learners: int = typer.Option(200, "--learners", min=1, help="Learners in the org chart."),
    courses: int = typer.Option(10, "--courses", min=1, help="Courses in the catalog."),
    days: int = typer.Option(30, "--days", min=1, help="Length of the simulated timeline."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same events (byte for byte)."),
    tenant: str = typer.Option("acme", "--tenant", help="tenant_id of every event."),
    rate: float | None = typer.Option(
        None, "--rate", min=0.001, help="Publish at most this many events/s (default: no limit)."
    ),
    oracle: Path | None = typer.Option(
        None,
        "--oracle",
        help="Where to write the oracle JSON (default: <state_dir>/oracle-<seed>.json).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Generate and write the oracle only."),
) -> None:
    """Generate a deterministic simulation, write its oracle and publish its events."""
    settings = get_settings()
    with console.status(f"simulating {learners} learners × {courses} courses × {days} days…"):
        report = prepare(
            settings,
            learners=learners,
            courses=courses,
            days=days,
            seed=seed,
            tenant_id=tenant,
            oracle_path=oracle,
        )
    console.print(
        f"generated {report.events:,} events in {report.generate_seconds:.1f}s, "
        f"oracle in {report.oracle_seconds:.1f}s → {report.oracle_path}"
    )
    if not dry_run:
        columns = (
            TextColumn("publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=console, transient=False) as bar:
                task = bar.add_task("publish", total=report.events)
                publish(
                    settings, report, rate=rate, on_progress=lambda n: bar.update(task, completed=n)
                )
        except KafkaException as exc:
            _errors.print(
                f"[bold red]error:[/] Kafka at {settings.bootstrap_servers}: {exc} "
                "(is it running? `learnstream infra up`)",
                highlight=False,
            )
            sys.exit(1)
        except RuntimeError as exc:  # PublishError: some events were not acknowledged
            _errors.print(f"[bold red]error:[/] {exc}", highlight=False)
            sys.exit(1)
    console.print(summary(report, dry_run))


def summary(report: RunReport, dry_run: bool) -> Table:
    sim, counts = report.simulation, report.oracle.counts
    table = Table(title=f"simulation seed={sim.seed} ({sim.start:%Y-%m-%d} → {sim.end:%Y-%m-%d})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, n in report.by_type.items():
        table.add_row(name.removeprefix("org.learnstream."), f"{n:,}")
    table.add_row("[bold]events[/]", f"[bold]{report.events:,}[/]", end_section=False)
    table.add_row("  of which exact re-sends", f"{counts['duplicates']:,}", end_section=True)
    status = counts["status"]
    rows = [
        ("learners", counts["learners"]),
        ("courses", counts["courses"]),
        ("learner × course pairs", counts["pairs"]),
        (
            "  completed / in progress",
            f"{status.get('completed', 0):,} / {status.get('in_progress', 0):,}",
        ),
        (
            "  overdue / not started",
            f"{status.get('overdue', 0):,} / {status.get('not_started', 0):,}",
        ),
        ("expected completions", counts["completions"]),
        ("expected certificates", counts["certificates"]),
        ("  revoked / expired", f"{counts['revoked']:,} / {counts['expired']:,}"),
    ]
    rows += [(f"expected notifications {k}", v) for k, v in counts["notifications"].items()]
    rows += [(f"expected HR records {k}", v) for k, v in counts["hr_records"].items()]
    rows.append(("expected HR corrections (SAP)", counts["hr_corrections"]))
    for label, value in rows:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    table.add_section()
    table.add_row("generation", f"{report.generate_seconds:.2f} s")
    if dry_run:
        table.add_row("published", "— (dry run)")
    else:
        table.add_row("published", f"{report.published:,} in {report.publish_seconds:.2f} s")
        table.add_row("publish rate", f"{report.events_per_second:,.0f} events/s")
    table.add_row("oracle", str(report.oracle_path))
    return table
