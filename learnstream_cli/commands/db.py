"""`learnstream db upgrade | downgrade`: Alembic migrations of the views database."""

from __future__ import annotations

import typer
from rich.console import Console

from learnstream.settings import get_settings

app = typer.Typer(help="Migrate the Postgres views database (Alembic).")
console = Console()


@app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade to a revision (default: the newest)."""
    from sinks import database

    database.upgrade(get_settings(), revision=revision)
    console.print(f"database at {revision}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="e.g. base, or -1")) -> None:
    """Downgrade to a revision."""
    from sinks import database

    database.downgrade(revision, get_settings())
    console.print(f"database at {revision}")
