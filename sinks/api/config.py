"""Read API settings, from `LEARNSTREAM_API_*` environment variables (or `.env`).

Postgres and Redis default to the stack's (`learnstream.settings`); set `postgres_dsn` /
`redis_url` here to point the API elsewhere (a read replica, a test database).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnstream.settings import Settings, get_settings


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEARNSTREAM_API_", env_file=".env", extra="ignore", frozen=True
    )

    # --- JWT ---------------------------------------------------------------------------------
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = Field(None, description="HS256 shared secret")
    jwt_public_key: str | None = Field(None, description="RS256 public key (PEM)")
    jwt_private_key: SecretStr | None = Field(
        None, description="RS256 private key (PEM), only to mint tokens for demos and tests"
    )
    jwt_issuer: str = "learnstream"
    jwt_audience: str = "learnstream-api"
    jwt_leeway_s: int = Field(0, ge=0, description="clock skew allowed on exp/nbf/iat")

    # --- Data sources ------------------------------------------------------------------------
    postgres_dsn: SecretStr | None = Field(None, description="unset = the stack's Postgres")
    redis_url: SecretStr | None = Field(None, description="unset = the stack's Redis")
    redis_key_prefix: str = Field("learnstream:", description="shared with the features agent")
    cache_ttl_s: int = Field(300, ge=1, description="TTL of the learner dashboard cache")
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    connect_timeout_s: float = Field(3.0, gt=0, description="Postgres and Redis")

    # --- HTTP --------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _key_for_algorithm(self) -> ApiSettings:
        if self.jwt_algorithm == "HS256" and self.jwt_secret is None:
            raise ValueError("LEARNSTREAM_API_JWT_SECRET is required for HS256")
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise ValueError("LEARNSTREAM_API_JWT_PUBLIC_KEY (PEM) is required for RS256")
        return self

    def postgres_url(self, stack: Settings | None = None) -> str:
        if self.postgres_dsn is not None:
            return self.postgres_dsn.get_secret_value()
        return (stack or get_settings()).postgres_url

    def redis_address(self, stack: Settings | None = None) -> str:
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return (stack or get_settings()).redis_address
