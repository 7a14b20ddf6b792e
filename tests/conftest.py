from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from learnstream.settings import Settings
from tests.support.stack import provide_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[tuple[str, Settings]]:
    """(how it was provided, settings) for real Kafka, Postgres and Redis."""
    with provide_stack() as provided:
        yield provided


@pytest.fixture(scope="session")
def stack_settings(stack: tuple[str, Settings]) -> Settings:
    return stack[1]


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_settings(stack_settings: Settings, unique: str) -> Iterator[Settings]:
    """Settings whose every topic and consumer group is private to this test; its topics are
    deleted afterwards (thousands of leftover partitions slow the broker for every later test)."""
    settings = stack_settings.model_copy(update={"topic_prefix": f"test.{unique}."})
    yield settings
    _drop_topics(settings)


def _drop_topics(settings: Settings) -> None:
    from learnstream.kafka_admin import admin_client

    admin = admin_client(settings)
    topics = [t for t in admin.list_topics(timeout=10).topics if settings.topic_prefix in t]
    for future in (admin.delete_topics(topics, operation_timeout=30) if topics else {}).values():
        # best effort: a topic still being created is left to the next run
        with contextlib.suppress(Exception):
            future.result()


@pytest.fixture
def pg_url(stack_settings: Settings, unique: str) -> Iterator[str]:
    """A fresh database for this test, dropped afterwards."""
    base = make_url(stack_settings.postgres_url)
    name = f"test_{unique}"
    admin_url = base.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def redis_client(stack_settings: Settings, unique: str) -> Iterator[tuple[redis.Redis, str]]:
    """A client and a key prefix private to this test; its keys are deleted afterwards."""
    client = redis.Redis.from_url(stack_settings.redis_address, decode_responses=True)
    prefix = f"test:{unique}:"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
