"""Connections to the views database, and schema migrations through Alembic."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from learnstream.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(settings: Settings | None = None) -> str:
    """The psycopg 3 dialect URL for the configured Postgres."""
    url = make_url((settings or get_settings()).postgres_url)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def alembic_config(settings: Settings | None = None, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", (url or sqlalchemy_url(settings)).replace("%", "%%"))
    return config


def _quiet_alembic() -> None:
    # Alembic narrates every plugin at INFO; operators only need warnings from it.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def upgrade(
    settings: Settings | None = None, url: str | None = None, revision: str = "head"
) -> None:
    _quiet_alembic()
    command.upgrade(alembic_config(settings, url), revision)


def downgrade(revision: str, settings: Settings | None = None, url: str | None = None) -> None:
    _quiet_alembic()
    command.downgrade(alembic_config(settings, url), revision)
