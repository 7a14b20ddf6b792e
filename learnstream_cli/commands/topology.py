"""`learnstream topology check | apply | diff | docs`."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from learnstream import __version__
from learnstream.asyncapi import build_asyncapi, build_markdown
from learnstream.kafka_admin import Drift, apply_topology, diff_topology
from learnstream.serde import SchemaStore
from learnstream.settings import get_settings
from learnstream.topology import Topology, check_topology, load_topology

app = typer.Typer(help="topology.yaml: validate it, apply it to Kafka, show drift, render docs.")
console = Console()
DOCS_DIR = Path("docs") / "contract"


def _load() -> tuple[Topology, SchemaStore]:
    settings = get_settings()
    return load_topology(settings.topology_file), SchemaStore(settings.schema_dir)


@app.command()
def check() -> None:
    """Validate topology.yaml against itself and schemas/avro; exit 1 on any problem."""
    topology, store = _load()
    problems = check_topology(topology, store.raw)
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]✓[/] topology.yaml is consistent ({len(store.raw)} schemas)")


def _render(drifts: list[Drift], title: str) -> Table:
    table = Table(title=title)
    for column in ("topic", "what", "expected", "actual", "fixable"):
        table.add_column(column)
    for d in drifts:
        table.add_row(d.topic, d.what, d.expected, d.actual, "yes" if d.fixable else "no")
    return table


@app.command()
def diff() -> None:
    """Show where the cluster differs from topology.yaml; exit 1 when it does."""
    topology, _ = _load()
    drifts = diff_topology(get_settings(), topology)
    if drifts:
        console.print(_render(drifts, "drift between topology.yaml and the cluster"))
        raise typer.Exit(1)
    console.print("[green]✓[/] the cluster matches topology.yaml")


@app.command()
def apply() -> None:
    """Create missing topics (and DLQs), grow partitions, set configs. Safe to run again."""
    topology, store = _load()
    problems = check_topology(topology, store.raw)
    if problems:
        console.print("\n".join(f"[red]✗[/] {p}" for p in problems), highlight=False)
        raise typer.Exit(1)
    changes = apply_topology(get_settings(), topology)
    if not changes:
        console.print("[green]✓[/] nothing to do: the cluster already matches")
        return
    console.print(_render(changes, "applied"))
    if any(not d.fixable for d in changes):
        console.print("[yellow]some drift cannot be fixed in place (see 'fixable: no')[/]")
        raise typer.Exit(1)


@app.command()
def docs(
    out: Path = typer.Option(DOCS_DIR, help="where asyncapi.yaml and README.md go"),
    check_only: bool = typer.Option(False, "--check", help="exit 1 if the files are stale"),
) -> None:
    """Render the AsyncAPI 3.0 document and a Markdown page for topic consumers."""
    topology, store = _load()
    rendered = {
        "asyncapi.yaml": yaml.safe_dump(
            build_asyncapi(topology, store.raw, __version__),
            sort_keys=False,
            width=100,
        ),
        "README.md": build_markdown(topology, store.raw),
    }
    stale = [
        n for n, text in rendered.items() if not (out / n).exists() or (out / n).read_text() != text
    ]
    if check_only:
        if stale:
            console.print(f"[red]✗[/] stale: {', '.join(stale)}; run `learnstream topology docs`")
            raise typer.Exit(1)
        console.print("[green]✓[/] topic docs are up to date")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text)
    console.print(f"wrote {out / 'asyncapi.yaml'} and {out / 'README.md'}")
