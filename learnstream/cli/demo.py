"""`learnstream run`: the main job on the configured stack (embedded services started first)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from learnstream.cli.infra import render
from learnstream.infra import Stack
from learnstream.settings import get_settings
from learnstream.smoke import run_round_trip

console = Console()


def run() -> None:
    """Start the stack if needed, then send one event through Kafka into Postgres and Redis."""
    settings = get_settings()
    with console.status("starting the local stack…"):
        statuses, seconds = Stack(settings).up()
    console.print(render(statuses, f"learnstream stack ready in {seconds:.1f}s"))
    with console.status("round trip: Avro event → Kafka → Postgres + Redis…"):
        trip = run_round_trip(settings)
    table = Table(title=f"round trip in {trip.seconds * 1000:.0f} ms")
    table.add_column("step")
    table.add_column("result")
    table.add_row(
        "produced", f"{trip.topic}[{trip.partition}]@{trip.offset} event_id={trip.event_id}"
    )
    table.add_row("postgres row", ", ".join(str(v) for v in trip.postgres_row))
    table.add_row("redis hash", ", ".join(f"{k}={v}" for k, v in trip.redis_value.items()))
    console.print(table)
