"""Delivery settings, read from `LEARNSTREAM_NOTIFY_*` environment variables (or `.env`).

A channel whose address is unset is *not configured*: its rows stay pending (no attempt is
spent) until it is, so rolling out the SMTP relay later loses no notification.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEARNSTREAM_NOTIFY_", env_file=".env", extra="ignore", frozen=True
    )

    # --- Webhook ---------------------------------------------------------------------------
    webhook_url: str | None = Field(None, description="POST target; unset = WEBHOOK disabled")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 signing secret")

    # --- Email (SMTP) ----------------------------------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP relay; unset = EMAIL disabled")
    smtp_port: int = 587
    smtp_from: str = "learnstream@localhost"
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Rows carry ids only (no PII); the recipient's address comes from a resolver passed to the
    # deliverer or, failing that, from this template, e.g. "{recipient_id}@corp.example".
    smtp_to_template: str | None = None

    # --- Retry policy ----------------------------------------------------------------------
    max_attempts: int = Field(5, ge=1, description="delivery runs per row before it is failed")
    timeout_s: float = Field(10.0, gt=0, description="per HTTP request / SMTP connection")
    # Tries *within* one attempt (tenacity). The row stays locked meanwhile, so keep
    # tries x backoff well under Postgres' idle_in_transaction_session_timeout.
    send_tries: int = Field(4, ge=1)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(10.0, gt=0)
    retry_after_max_s: float = Field(60.0, ge=0, description="cap on a server's Retry-After")

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook_url)

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)
