"""`learnstream run` (what `make run` calls) and `learnstream smoke`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from learnstream.infra import Stack
from learnstream.settings import get_settings
from learnstream_cli.commands.infra import render
from learnstream_cli.smoke import run_round_trip

console = Console()


def _stack_up() -> None:
    with console.status("starting the local stack…"):
        statuses, seconds = Stack(get_settings()).up()
    console.print(render(statuses, f"learnstream stack ready in {seconds:.1f}s"))


def run(
    learners: int = typer.Option(200, help="simulated learners"),
    courses: int = typer.Option(8, help="simulated courses"),
    days: int = typer.Option(30, help="simulated days of activity"),
    seed: int = typer.Option(1, help="same seed, same world"),
) -> None:
    """Run the backbone on a simulated learning platform and show what it produced."""
    from learnstream_cli.demo import run_demo

    _stack_up()
    settings = get_settings()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        task = bar.add_task("publishing simulated events", total=None)
        result = run_demo(
            settings,
            learners=learners,
            courses=courses,
            days=days,
            seed=seed,
            on_progress=lambda n: bar.update(task, completed=n),
        )
    report = result.report
    console.print(
        f"published {report.published} events in {report.publish_seconds:.1f}s; "
        f"the worker drained them in {result.drain_seconds:.1f}s"
    )
    for name, rows in result.summary.items():
        table = Table(title=name)
        table.add_column("what")
        table.add_column("count", justify="right")
        for what, count in rows:
            table.add_row(str(what), str(count))
        console.print(table)
    from learnstream_cli.demo import api_example

    example = api_example(settings)
    console.print(
        f"read API (served for this example at {example.url}; run `learnstream api` "
        "for http://127.0.0.1:8000, OpenAPI at /docs):"
    )
    console.print(f"  {example.curl}", highlight=False, markup=False)
    console.print(f"  → HTTP {example.status} {example.body}…", highlight=False, markup=False)
    verdict = "[green]views equal the oracle[/]" if result.equal else "[red]views differ[/]"
    console.print(f"{verdict} ({result.differences})")
    if not result.equal:
        raise typer.Exit(1)


def smoke() -> None:
    """One Avro event through Kafka into one Postgres row and one Redis key."""
    _stack_up()
    with console.status("round trip: Avro event → Kafka → Postgres + Redis…"):
        trip = run_round_trip(get_settings())
    table = Table(title=f"round trip in {trip.seconds * 1000:.0f} ms")
    table.add_column("step")
    table.add_column("result")
    event = f"{trip.topic}[{trip.partition}]@{trip.offset} event_id={trip.event_id}"
    table.add_row("produced", event)
    table.add_row("postgres row", ", ".join(str(v) for v in trip.postgres_row))
    table.add_row("redis hash", ", ".join(f"{k}={v}" for k, v in trip.redis_value.items()))
    console.print(table)
