"""Where the tests get real Kafka, Postgres and Redis from, in this order:

1. services named by LEARNSTREAM_* environment variables (an existing cluster, CI services);
2. testcontainers, when a Docker engine answers;
3. the project's own launcher (`learnstream infra up`), as on a machine without Docker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from learnstream.infra import Stack
from learnstream.settings import Settings

EXTERNAL_VARS = (
    "LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS",
    "LEARNSTREAM_POSTGRES_DSN",
    "LEARNSTREAM_REDIS_URL",
)


def docker_answers() -> bool:
    try:
        import docker  # testcontainers' own client

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def containers() -> Iterator[Settings]:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    version = Settings.model_fields["kafka_version"].default
    kafka = (
        DockerContainer(f"apache/kafka:{version}")
        .with_bind_ports(9092, None)
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    with (
        kafka,
        PostgresContainer(
            "postgres:15", username="learnstream", password="learnstream", dbname="learnstream"
        ) as pg,
        RedisContainer("redis:7") as cache,
    ):
        wait_for_logs(kafka, "Kafka Server started", timeout=120)
        host_port = kafka.get_exposed_port(9092)
        yield Settings(
            kafka_bootstrap_servers=f"{kafka.get_container_host_ip()}:{host_port}",
            postgres_dsn=pg.get_connection_url(driver=None),
            redis_url=f"redis://{cache.get_container_host_ip()}:{cache.get_exposed_port(6379)}/0",
        )


@contextlib.contextmanager
def local_launcher() -> Iterator[Settings]:
    """Start what is not running; stop at the end only what this session started."""
    settings = Settings()
    stack = Stack(settings)
    statuses, _ = stack.up()
    started = [s.name for s in statuses if s.state == "started"]
    try:
        yield settings
    finally:
        if started:
            stack.down(started)


@contextlib.contextmanager
def provide_stack() -> Iterator[tuple[str, Settings]]:
    if all(os.environ.get(var) for var in EXTERNAL_VARS):
        yield "external", Settings()
    elif docker_answers():
        with containers() as settings:
            yield "testcontainers", settings
    else:
        with local_launcher() as settings:
            yield "launcher", settings
