"""All configuration, read once from `LEARNSTREAM_*` environment variables (or a `.env` file).

A service whose address is set here is *external* and used as is; a service left unset is
*embedded*: `learnstream infra up` starts it on loopback inside `state_dir`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnstream.sections import ApiSettings, HrSettings, NotifySettings, WorkerSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def contract_path(checkout: str, packaged: str) -> Path:
    """A contract file (topology.yaml, schemas/avro): the checkout's when running from one,
    else the copy the wheel carries in the package (setup.py puts it there)."""
    path = PROJECT_ROOT / checkout
    if path.exists():
        return path
    return Path(str(resources.files("learnstream").joinpath("_data", packaged)))


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class Settings(BaseSettings):
    # The one place that reads the environment: a section's field is LEARNSTREAM_<SECTION>_
    # <FIELD>, split once after the section's name (field names have underscores of their own).
    model_config = SettingsConfigDict(
        env_prefix="LEARNSTREAM_",
        env_file=".env",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        frozen=True,
    )

    # --- Kafka -----------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; unset = embedded broker"
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None
    kafka_replication_factor: int = Field(1, ge=1)
    topic_prefix: str = Field("", description="prepended to every topic name, for isolation")

    # --- Postgres / Redis / Schema Registry -----------------------------------------------
    postgres_dsn: SecretStr | None = Field(
        None, description="postgresql://user:pass@host:port/db; unset = embedded"
    )
    redis_url: SecretStr | None = Field(None, description="redis://host:port/db; unset = embedded")
    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry; unset = Avro single-object encoding"
    )

    # --- Embedded stack (only used for services left unset above) --------------------------
    state_dir: Path = Path(".learnstream")
    cache_dir: Path | None = Field(None, description="Kafka jar cache; default <state_dir>/cache")
    kafka_version: str = "4.1.2"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "512m"
    postgres_port: int = 15432
    postgres_user: str = "learnstream"
    postgres_password: SecretStr = SecretStr("learnstream")
    postgres_db: str = "learnstream"
    redis_port: int = 16379
    startup_timeout_s: float = 90.0

    # --- Sections (learnstream/sections.py): LEARNSTREAM_WORKER_*, _HR_*, _NOTIFY_*, _API_* ---
    worker: WorkerSettings = WorkerSettings()
    hr: HrSettings = HrSettings()
    notify: NotifySettings = NotifySettings()
    api: ApiSettings = ApiSettings()

    # --- Retention and fault injection ------------------------------------------------------
    # Markers de-duplicate client re-sends of an event id; kept for this window, then pruned
    # (learnstream/runtime/retention.py), as Kafka Streams keeps de-duplication ids for a window.
    dedup_retention_hours: float = Field(
        168.0, gt=0, description="how long a re-sent event id is still recognised (hours)"
    )
    outbox_retention_hours: float = Field(
        24.0, gt=0, description="how long relayed outbox rows are kept (hours; unsent: always)"
    )
    retention_interval_s: float = Field(
        300.0, gt=0, description="how often a worker prunes markers and relayed outbox rows"
    )
    chaos_handler_bug_key_prefix: str | None = Field(
        None,
        description="fault injection for tests/reliability: a handler raises for every event "
        "whose key starts with this, as a rule bug would; never set in production",
    )

    # --- Paths and logging -----------------------------------------------------------------
    topology_file: Path = contract_path("topology.yaml", "topology.yaml")
    schema_dir: Path = contract_path("schemas/avro", "avro")
    log_level: str = "INFO"
    log_json: bool | None = Field(None, description="JSON lines; default: when not on a TTY")

    # --- Derived values ----------------------------------------------------------------------
    @property
    def jar_cache_dir(self) -> Path:
        return (self.cache_dir or self.state_dir / "cache") / f"kafka-{self.kafka_version}"

    @property
    def kafka_embedded(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def postgres_embedded(self) -> bool:
        return self.postgres_dsn is None

    @property
    def redis_embedded(self) -> bool:
        return self.redis_url is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def postgres_url(self) -> str:
        if self.postgres_dsn is not None:
            return self.postgres_dsn.get_secret_value()
        password = self.postgres_password.get_secret_value()
        return (
            f"postgresql://{self.postgres_user}:{password}@127.0.0.1:{self.postgres_port}"
            f"/{self.postgres_db}"
        )

    @property
    def redis_address(self) -> str:
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def kafka_client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka-style config (confluent-kafka) including SASL/SSL pass-through."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
            # librdkafka's info lines (connects, queue purges) are noise; warnings stay.
            "log_level": 4,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
        return config

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def with_worker(self, **changes: Any) -> Settings:
        """A copy with worker settings changed (a test's own metrics port, a batch size)."""
        return self.model_copy(update={"worker": self.worker.model_copy(update=changes)})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def child_env(settings: Settings) -> dict[str, str]:
    """The LEARNSTREAM_* environment that reproduces `settings` in a child process: every field
    that is set, derived from the model (sections as LEARNSTREAM_<SECTION>_<FIELD>), with the
    embedded services' resolved addresses, so that a child uses them and never starts its own."""
    env: dict[str, str] = {}

    def put(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                put(f"{prefix}{name.upper()}_", value)
            elif value is not None:
                env[f"{prefix}{name.upper()}"] = _env_value(value)

    put("LEARNSTREAM_", settings)
    env["LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env["LEARNSTREAM_POSTGRES_DSN"] = settings.postgres_url
    env["LEARNSTREAM_REDIS_URL"] = settings.redis_address
    env["LEARNSTREAM_LOG_JSON"] = "true"  # a child's logs are collected, not read on a TTY
    return env


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (frozenset, set, list, tuple, dict)):
        return json.dumps(sorted(value) if isinstance(value, (frozenset, set)) else value)
    return str(value)
