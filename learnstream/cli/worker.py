"""`learnstream worker`: one member of the processing consumer group (run N for N workers)."""

from __future__ import annotations

import typer

from learnstream.settings import get_settings

app = typer.Typer()


def worker(
    loglevel: str = typer.Option("warn", help="Faust log level: crit, error, warn, info, debug"),
) -> None:
    """Run the stream processors (progress, certification, notifications, features, HR)."""
    from streams.worker import run_worker

    run_worker(get_settings(), loglevel=loglevel)
