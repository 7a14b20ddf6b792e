"""`learnstream infra up | down | status | logs` for the embedded local stack."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from learnstream.infra import ServiceStatus, Stack
from learnstream.settings import get_settings

app = typer.Typer(help="Start, stop and inspect the local Kafka, Postgres and Redis.")
console = Console()

ServiceNames = typer.Argument(None, help="kafka, postgres, redis (default: all)")


def render(statuses: list[ServiceStatus], title: str) -> Table:
    table = Table(title=title)
    for column in ("service", "mode", "address", "state", "pid", "version", "start s"):
        table.add_column(column)
    for s in statuses:
        colour = "green" if s.state in ("up", "started", "already running") else "red"
        table.add_row(
            s.name,
            s.mode,
            s.address,
            f"[{colour}]{s.state}[/]",
            str(s.pid or "-"),
            s.version or "-",
            f"{s.seconds:.1f}" if s.seconds is not None else "-",
        )
    return table


@app.command()
def up(services: list[str] | None = ServiceNames) -> None:
    """Start every embedded service that is not running; wait until each really answers."""
    stack = Stack(get_settings())
    with console.status("starting the local stack…"):
        statuses, seconds = stack.up(services)
    console.print(render(statuses, f"learnstream stack ready in {seconds:.1f}s"))


@app.command()
def down(services: list[str] | None = ServiceNames) -> None:
    """Stop the services this launcher started (external ones are never touched)."""
    for name, stopped in Stack(get_settings()).down(services):
        console.print(f"{name}: {'stopped' if stopped else 'was not running'}")


@app.command()
def status(services: list[str] | None = ServiceNames) -> None:
    """Show each service's mode, address, pid and version; exit 1 if any is not up."""
    statuses = Stack(get_settings()).status(services)
    console.print(render(statuses, "learnstream stack"))
    if any(s.state != "up" for s in statuses):
        raise typer.Exit(1)


@app.command()
def logs(
    service: str = typer.Argument("kafka", help="kafka, postgres or redis"),
    lines: int = typer.Option(50, "--lines", "-n"),
    follow: bool = typer.Option(False, "--follow", "-f"),
) -> None:
    """Print the end of a service's log (from the state dir)."""
    target = Stack(get_settings()).select([service])[0]
    for line in target.tail_log(lines):
        console.print(line, markup=False, highlight=False)
    if follow:
        _follow(target.log_file)


def _follow(path: Path) -> None:
    with path.open(errors="replace") as handle:
        handle.seek(0, 2)
        while True:
            line = handle.readline()
            if line:
                console.print(line.rstrip("\n"), markup=False, highlight=False)
            else:
                time.sleep(0.5)
