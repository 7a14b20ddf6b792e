"""Connections to the views database, and schema migrations through Alembic."""

from __future__ import annotations

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


def upgrade(
    settings: Settings | None = None, url: str | None = None, revision: str = "head"
) -> None:
    command.upgrade(alembic_config(settings, url), revision)


def downgrade(revision: str, settings: Settings | None = None, url: str | None = None) -> None:
    command.downgrade(alembic_config(settings, url), revision)
