"""A private world for one bench measurement: its own topic prefix, database, Redis keys, worker
metrics port and working directory, so a bench run never touches the main `learnstream`
database or topics (the approach of tests/conftest.py). Everything is dropped on exit unless
`keep` is set."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from learnstream.infra.process import stop_process_group
from learnstream.log import get_logger
from learnstream.settings import Settings, child_env
from streams.views.layout import redis_prefix

log = get_logger(__name__)


@dataclass(frozen=True)
class World:
    settings: Settings
    database: str
    workdir: Path

    @property
    def redis_prefix(self) -> str:
        """The key prefix the agents write under; the API shares it."""
        return redis_prefix(self.settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_url(settings: Settings) -> str:
    url = make_url(settings.postgres_url).set(database="postgres")
    return url.render_as_string(hide_password=False)


@contextmanager
def private_world(base: Settings, tag: str, *, keep: bool = False) -> Iterator[World]:
    """Create and migrate a private world (topics from topology.yaml); drop it afterwards."""
    from learnstream_cli.worker import prepare

    unique = uuid.uuid4().hex[:8]
    name = f"bench_{tag}_{unique}"
    url = make_url(base.postgres_url).set(database=name).render_as_string(hide_password=False)
    settings = base.model_copy(
        update={"topic_prefix": f"bench.{tag}.{unique}.", "postgres_dsn": SecretStr(url)}
    ).with_worker(web_port=free_port())
    with psycopg.connect(_admin_url(base), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    workdir = Path(tempfile.mkdtemp(prefix=f"learnstream-{name}-"))
    world = World(settings, name, workdir)
    log.info("bench.world.created", database=name, prefix=settings.topic_prefix)
    try:
        prepare(settings)
        yield world
    finally:
        if keep:
            log.info("bench.world.kept", database=name, prefix=settings.topic_prefix, dir=workdir)
        else:
            drop_world(world)


def drop_world(world: World) -> None:
    """Database, topics, consumer groups, Redis keys and working directory of the world."""
    settings = world.settings
    with psycopg.connect(_admin_url(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(world.database)
            )
        )
    try:
        _drop_kafka(settings)
    except Exception as exc:  # leftovers are harmless (private prefix); say so, carry on
        log.warning("bench.world.kafka_cleanup_failed", error=repr(exc))
    import redis

    client = redis.Redis.from_url(settings.redis_address)
    try:
        keys = list(client.scan_iter(f"{world.redis_prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()
    shutil.rmtree(world.workdir, ignore_errors=True)
    log.info("bench.world.dropped", database=world.database, prefix=settings.topic_prefix)


def _drop_kafka(settings: Settings) -> None:
    from learnstream.kafka_admin import admin_client

    admin = admin_client(settings)
    prefix = settings.topic_prefix
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
    groups = admin.list_consumer_groups(request_timeout=10).result()
    mine = [g.group_id for g in groups.valid if g.group_id.startswith(prefix)]
    if mine:
        for group, future in admin.delete_consumer_groups(mine, request_timeout=10).items():
            try:
                future.result()
            except Exception as exc:  # a killed member keeps it "not empty" for a while
                log.warning("bench.world.group_left", group=group, error=repr(exc))


def spawn(
    world: World, argv: list[str], log_name: str, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m learnstream_cli <argv>` in its own session, in the world's working directory
    (Faust writes its data directory into the current directory)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSTREAM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "learnstream_cli", *argv],
        cwd=world.workdir,
        env={
            **inherited,
            **child_env(world.settings),
            "LEARNSTREAM_LOG_LEVEL": "WARNING",
            **(extra or {}),
        },
        stdout=(world.workdir / log_name).open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_worker(world: World) -> subprocess.Popen[bytes]:
    return spawn(world, ["worker", "--loglevel", "warn"], "worker.log")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group, SIGKILL after 30 s."""
    stop_process_group(proc, 30.0)


def log_tail(world: World, log_name: str, lines: int = 20) -> str:
    path = world.workdir / log_name
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
