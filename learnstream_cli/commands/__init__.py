"""The `learnstream` command. Sub-commands live in small modules and register here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from learnstream.infra.errors import InfraError
from learnstream.log import configure_logging
from learnstream.settings import get_settings
from learnstream_cli.commands import (
    api,
    bench,
    db,
    demo,
    dlq,
    hr,
    infra,
    schemas,
    simulate,
    topology,
    views,
    worker,
)

app = typer.Typer(
    help="learnstream: Kafka + Avro + Faust backbone for learning platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(infra.app, name="infra")
app.add_typer(topology.app, name="topology")
app.add_typer(schemas.app, name="schemas")
app.add_typer(db.app, name="db")
app.add_typer(simulate.app, name="simulate")
app.add_typer(bench.app, name="bench")
app.add_typer(hr.app, name="hr")
app.add_typer(views.app, name="views")
app.add_typer(dlq.app, name="dlq")
app.command("worker")(worker.worker)
app.command("api")(api.api)
app.command("api-token")(api.token)
app.command("run")(demo.run)
app.command("smoke")(demo.smoke)

_errors = Console(stderr=True)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        app(prog_name="learnstream")
    except InfraError as exc:
        # Operator-fixable problems are one line with the fix, never a traceback.
        _errors.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
