"""`learnstream worker`: members of the processing consumer group (run it on N machines too)."""

from __future__ import annotations

import os

import typer

from learnstream.settings import get_settings

app = typer.Typer()


def worker(
    loglevel: str = typer.Option("warn", help="Faust log level: crit, error, warn, info, debug"),
    processes: int = typer.Option(
        0,
        min=0,
        help="group members to run as processes of this worker (0 = one per core); partitions "
        "are keyed by learner, so each uses a core of its own",
    ),
    prepared: bool = typer.Option(
        False, hidden=True, help="migrations and topics were applied by the supervisor"
    ),
) -> None:
    """Run the stream processors (the learner lane, catalog, org chart, HR sync)."""
    from learnstream_cli.worker import run_worker, run_workers

    settings = get_settings()
    count = processes or os.cpu_count() or 1
    if count == 1:
        run_worker(settings, loglevel=loglevel, prepared=prepared)
    else:
        raise typer.Exit(run_workers(settings, count, loglevel=loglevel))
