"""`learnstream schemas check`: the FULL_TRANSITIVE compatibility gate (ADR 0004)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from learnstream.contract import scan_repository
from learnstream.settings import get_settings

app = typer.Typer(help="Check the Avro schemas in schemas/avro against their history.")
console = Console()


@app.callback()
def _group() -> None:
    """Avro schema contract commands."""
    # A callback keeps `check` a named sub-command even while it is the only one.


@app.command()
def check() -> None:
    """Check every schema both ways against every version in its history; exit 1 on problems."""
    schema_dir = get_settings().schema_dir
    reports = scan_repository(schema_dir)
    table = Table(title=f"schema compatibility (FULL_TRANSITIVE) in {schema_dir}")
    table.add_column("event", overflow="fold")  # full names: they are what one greps for
    table.add_column("versions checked", justify="right")
    table.add_column("result")
    for r in reports:
        result = f"[red]{len(r.problems)} problem(s)[/]" if r.problems else "[green]ok[/]"
        table.add_row(r.name, str(r.versions), result)
    console.print(table)
    failed = [r for r in reports if r.problems]
    if not reports:
        console.print(f"[red]no schemas found in {schema_dir}[/]")
        raise typer.Exit(1)
    if failed:
        for r in failed:
            console.print(f"\n[bold red]{r.name}[/]", highlight=False, soft_wrap=True)
            for problem in r.problems:
                console.print(f"  - {problem}", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1)
    console.print(f"[green]all {len(reports)} schemas are compatible with their history[/]")
