"""`learnstream api`: serve the read API (sinks/api) with uvicorn; `token` mints a demo JWT."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from learnstream.sections import ApiSettings


def _api_settings() -> ApiSettings:
    """The LEARNSTREAM_API_* settings, or one line saying what is missing (no traceback)."""
    from learnstream.sections import SettingsError
    from learnstream.settings import get_settings

    settings = get_settings().api
    try:
        settings.require_signing_key()
    except SettingsError as exc:
        typer.echo(f"error: read API settings: {exc}", err=True)
        raise typer.Exit(1) from None
    return settings


def api(
    host: str | None = typer.Option(None, help="bind address; default LEARNSTREAM_API_HOST"),
    port: int | None = typer.Option(None, help="port; default LEARNSTREAM_API_PORT"),
) -> None:
    """Serve the read API (progress, certificates, recommendations, teams, course stats)."""
    import uvicorn

    from learnstream.settings import get_settings
    from sinks.api import create_app

    settings = _api_settings()
    uvicorn.run(
        create_app(settings, get_settings()),
        host=host or settings.host,
        port=port or settings.port,
        log_level=get_settings().log_level.lower(),
    )


def token(
    sub: str = typer.Argument(..., help="learner or manager id"),
    roles: list[str] = typer.Option(["learner"], "--role", help="learner, manager, admin"),
    ttl_s: int = typer.Option(3600, help="seconds until the token expires"),
) -> None:
    """Print a signed JWT for `sub` (HS256 secret, or RS256 private key, from the settings)."""
    from sinks.api import mint_token

    typer.echo(mint_token(_api_settings(), sub, roles, ttl_s))
