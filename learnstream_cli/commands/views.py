"""`learnstream views rebuild | checksum`: Kappa-style rebuild of the views from Kafka."""

from __future__ import annotations

import time

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from learnstream.settings import get_settings

app = typer.Typer(help="Materialized views: checksum them, rebuild them by replaying Kafka.")
console = Console()


@app.command()
def checksum() -> None:
    """Print a digest per view (equal digests = equal views)."""
    from sinks.rebuild import views_checksum

    with psycopg.connect(get_settings().postgres_url) as conn:
        for name, digest in views_checksum(conn).items():
            console.print(f"{name:14} {digest}")


@app.command()
def rebuild(
    timeout: float = typer.Option(1800, help="give up after this many seconds"),
) -> None:
    """Stop-the-world rebuild: truncate derived state, replay every topic from the start with a
    worker, and compare the views' checksums before and after. Workers must be stopped."""
    from learnstream.runtime.drain import backlog, build_handlers, wait_until_drained
    from learnstream.topology import load_topology
    from learnstream_cli.demo import start_worker, stop_worker
    from sinks.rebuild import reset, views_checksum

    settings = get_settings()
    topology = load_topology(settings.topology_file)
    with psycopg.connect(settings.postgres_url) as conn:
        before = views_checksum(conn)
    reset(settings)
    worker = start_worker(settings, settings.state_dir.resolve() / "logs" / "rebuild.log")
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            task = bar.add_task("replaying", total=None)
            deadline = time.monotonic() + timeout
            handlers = build_handlers(settings, topology)
            while time.monotonic() < deadline:
                with psycopg.connect(settings.postgres_url) as conn:
                    left = sum(backlog(settings, topology, conn, handlers).values())
                    done = conn.execute(
                        "SELECT coalesce(sum(next_offset), 0) FROM stream_offsets"
                    ).fetchone()
                applied = int(done[0]) if done else 0
                bar.update(task, completed=applied, total=applied + left)
                if left == 0:
                    break
                time.sleep(1)
        wait_until_drained(settings, topology, timeout_s=timeout)
    finally:
        stop_worker(worker)
    with psycopg.connect(settings.postgres_url) as conn:
        after = views_checksum(conn)
    table = Table(title="views before and after the rebuild")
    for column in ("view", "before", "after", "equal"):
        table.add_column(column)
    for name in before:
        table.add_row(
            name, before[name], after[name], "yes" if before[name] == after[name] else "NO"
        )
    console.print(table)
    if before != after:
        raise typer.Exit(1)
