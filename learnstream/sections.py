"""The sections of the one root `Settings` (learnstream.settings): each a frozen model read from
`LEARNSTREAM_<SECTION>_<FIELD>` (`LEARNSTREAM_HR_SAP_BASE_URL`, `LEARNSTREAM_WORKER_BATCH_SIZE`).

They live in the core, beside the root, although the HR connectors, the notification delivery
and the read API use them: settings are data, and one place reads the environment once.
A target or channel whose address is unset is disabled (HR: the handler reports SKIPPED; a
notification channel: its rows stay pending, no attempt spent, until it is configured).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from learnstream.errors import PermanentError


class SettingsError(PermanentError):
    """A setting that must be given for what was asked (one line, no traceback)."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkerSettings(_Section):
    web_port: int = Field(6066, description="worker metrics/health HTTP port (loopback)")
    # A ceiling, reached only under a backlog (natural batching: a caught-up lane takes what
    # has arrived). A learner's several events in one batch cost one fold, one snapshot and
    # one row per table: draining 104k events took 35-37 s at 1,000, 27 s at 5,000 (ADR 0010).
    batch_size: int = Field(5000, ge=1, description="most events per processing batch")
    state_cache_learners: int = Field(
        2000,
        ge=0,
        description="learners whose pair state a lane keeps in memory per process (bounds RSS)",
    )
    batch_linger_s: float = Field(
        0.05, gt=0, description="max wait to fill a batch (bounds latency at low rates)"
    )
    # Under load a fetch answered at the first record made one fetch per produce request:
    # ~500 fetches/s per lane at 2,000 events/s, most of a broker core (ADR 0010).
    fetch_wait_ms: int = Field(
        20,
        ge=1,
        le=500,
        description="how long the broker gathers records for a lane's fetch (latency it adds)",
    )
    session_timeout_s: float = Field(
        10.0, ge=6, description="a dead worker's partitions move on after this (heartbeats 1/3)"
    )


class HrSettings(_Section):
    # --- SAP SuccessFactors Learning ------------------------------------------------------
    sap_base_url: str | None = Field(None, description="e.g. https://<tenant>.plateau.com")
    sap_client_id: str = "learnstream"
    sap_client_secret: SecretStr = SecretStr("")
    sap_company_id: str = "learnstream"
    sap_user_id: str = Field("sfadmin", description="API user in the token scope")
    sap_user_type: str = "admin"
    sap_provider_id: str = Field("LEARNSTREAM", description="OCN providerID of our content")
    sap_total_hours: float = Field(1.0, ge=0, description="totalHours sent per completion")
    sap_credit_hours: float = Field(0.0, ge=0, description="creditHours sent per completion")
    sap_batch_size: int = Field(10, ge=1, le=10, description="records per call (SAP max 10)")
    sap_calls_per_minute: int = Field(100, ge=1, le=100, description="SAP max 100 calls/min")

    # --- Workday Learning (SOAP) ----------------------------------------------------------
    workday_base_url: str | None = Field(None, description="e.g. https://wd2-impl-services1…")
    workday_tenant: str = "learnstream"
    workday_username: str | None = Field(None, description="WS-Security user (user@tenant)")
    workday_password: SecretStr | None = None
    workday_token: SecretStr | None = Field(None, description="OAuth2 bearer; wins over user")
    workday_version: str = "v44.0"
    workday_requests_per_second: float = Field(5.0, gt=0, le=10)
    # A revocation updates the Workday enrolment in place (ADR 0011). Some tenants forbid
    # integrations to edit a completed enrolment; for those an administrator must, so the
    # handler emits hr.correction.required instead, as for SAP.
    workday_updates_enabled: bool = Field(True, description="False: no tenant may be updated")
    workday_no_update_tenants: frozenset[str] = Field(
        frozenset(), description='tenants whose Workday cannot be updated, JSON: ["acme"]'
    )

    # --- Both -------------------------------------------------------------------------------
    http_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = Field(6, ge=1, description="per call, before the batch is retried")
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    retry_after_max_s: float = Field(120.0, ge=0, description="cap on a server's Retry-After")

    @property
    def sap_enabled(self) -> bool:
        return bool(self.sap_base_url)

    @property
    def workday_enabled(self) -> bool:
        return bool(self.workday_base_url)

    def workday_can_update(self, tenant_id: str) -> bool:
        """May a revocation update this tenant's Workday enrolment, or must an admin?"""
        return self.workday_updates_enabled and tenant_id not in self.workday_no_update_tenants


class NotifySettings(_Section):
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


class ApiSettings(_Section):
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

    def require_signing_key(self) -> None:
        """Checked when the API starts or mints a token, not when settings load: a worker
        never needs the API's key."""
        if self.jwt_algorithm == "HS256" and self.jwt_secret is None:
            raise SettingsError("LEARNSTREAM_API_JWT_SECRET is required for HS256")
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise SettingsError("LEARNSTREAM_API_JWT_PUBLIC_KEY (PEM) is required for RS256")

    def postgres_url(self, stack_url: str) -> str:
        """The API's own Postgres (a read replica), else the stack's `stack_url`."""
        return self.postgres_dsn.get_secret_value() if self.postgres_dsn else stack_url

    def redis_address(self, stack_address: str) -> str:
        return self.redis_url.get_secret_value() if self.redis_url else stack_address
