"""The reliability suite runs on a stack of its own: it SIGKILLs the broker and restarts
Postgres and Redis, which must not disturb the shared stack other tests (or a developer) use.

Size: LEARNSTREAM_RELIABILITY_LEARNERS (CI default 150 ≈ 8k events; 2000 ≈ 104k events is the
full size, run by hand: see README "Reliability").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from learnstream.infra import Stack
from learnstream.infra.postgres import PostgresService
from learnstream.settings import Settings
from tests.conftest import free_port

DEFAULT_LEARNERS = 150


def reliability_learners() -> int:
    return int(os.environ.get("LEARNSTREAM_RELIABILITY_LEARNERS", DEFAULT_LEARNERS))


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Kafka, Postgres and Redis started by the launcher on free loopback ports, owned by this
    module alone (the Kafka jar cache is shared with the main stack)."""
    if not (shutil.which("java") and shutil.which("redis-server")):
        pytest.skip("the reliability suite kills and restarts local processes: needs the launcher")
    state = tmp_path_factory.mktemp("chaos-stack")
    settings = Settings(
        kafka_bootstrap_servers=None,
        postgres_dsn=None,
        redis_url=None,
        state_dir=state,
        cache_dir=Settings().state_dir.resolve() / "cache",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
    )
    stack = Stack(settings)
    stack.up()
    try:
        yield settings
    finally:
        stack.down()
        pg_home = PostgresService(settings).home
        if not Path(pg_home).is_relative_to(state):  # the fallback dir outside the temp dir
            shutil.rmtree(pg_home, ignore_errors=True)
