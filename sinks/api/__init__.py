"""The learnstream read API (FastAPI): `create_app(ApiSettings(...))`, `learnstream api`."""

from sinks.api.app import create_app
from sinks.api.auth import mint_token
from sinks.api.config import ApiSettings

__all__ = ["ApiSettings", "create_app", "mint_token"]
