"""All configuration, read once from `LEARNSTREAM_*` environment variables (or a `.env` file).

A service whose address is set here is *external* and used as is; a service left unset is
*embedded*: `learnstream infra up` starts it on loopback inside `state_dir`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    model_config = SettingsConfigDict(
        env_prefix="LEARNSTREAM_", env_file=".env", extra="ignore", frozen=True
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

    # --- Worker -------------------------------------------------------------------------------
    worker_web_port: int = Field(6066, description="worker metrics/health HTTP port (loopback)")
    # A ceiling, reached only under a backlog (natural batching: a caught-up lane takes what
    # has arrived). A learner's several events in one batch cost one fold, one snapshot and
    # one row per table: draining 104k events took 35-37 s at 1,000, 27 s at 5,000 (ADR 0010).
    worker_batch_size: int = Field(5000, ge=1, description="most events per processing batch")
    worker_state_cache_learners: int = Field(
        2000,
        ge=0,
        description="learners whose pair state a lane keeps in memory per process (bounds RSS)",
    )
    worker_batch_linger_s: float = Field(
        0.05, gt=0, description="max wait to fill a batch (bounds latency at low rates)"
    )
    # Under load a fetch answered at the first record made one fetch per produce request:
    # ~500 fetches/s per lane at 2,000 events/s, most of a broker core (ADR 0010).
    worker_fetch_wait_ms: int = Field(
        20,
        ge=1,
        le=500,
        description="how long the broker gathers records for a lane's fetch (latency it adds)",
    )
    worker_session_timeout_s: float = Field(
        10.0, ge=6, description="a dead worker's partitions move on after this (heartbeats 1/3)"
    )
    # Markers de-duplicate client re-sends of an event id; kept for this window, then pruned
    # (streams/runtime/retention.py), as Kafka Streams keeps de-duplication ids for a window.
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def child_env(settings: Settings) -> dict[str, str]:
    """The LEARNSTREAM_* environment that reproduces `settings` in a child process."""
    env = {
        "LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LEARNSTREAM_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "LEARNSTREAM_POSTGRES_DSN": settings.postgres_url,
        "LEARNSTREAM_REDIS_URL": settings.redis_address,
        "LEARNSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "LEARNSTREAM_WORKER_WEB_PORT": str(settings.worker_web_port),
        "LEARNSTREAM_WORKER_BATCH_SIZE": str(settings.worker_batch_size),
        "LEARNSTREAM_WORKER_BATCH_LINGER_S": str(settings.worker_batch_linger_s),
        "LEARNSTREAM_WORKER_STATE_CACHE_LEARNERS": str(settings.worker_state_cache_learners),
        "LEARNSTREAM_LOG_JSON": "true",
    }
    if settings.kafka_sasl_mechanism:
        env["LEARNSTREAM_KAFKA_SASL_MECHANISM"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        env["LEARNSTREAM_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password:
        env["LEARNSTREAM_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location:
        env["LEARNSTREAM_KAFKA_SSL_CA_LOCATION"] = str(settings.kafka_ssl_ca_location)
    return env
