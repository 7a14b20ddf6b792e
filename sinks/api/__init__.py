"""The learnstream read API (FastAPI): `create_app(settings.api)`, `learnstream api`."""

from sinks.api.app import create_app
from sinks.api.auth import mint_token

__all__ = ["create_app", "mint_token"]
