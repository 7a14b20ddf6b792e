"""`learnstream infra` on a private second stack: idempotent up, clean down, one-line errors."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from learnstream.infra.postgres import PostgresService
from learnstream.infra.process import pid_alive, port_in_use
from learnstream.infra.redis import RedisService
from learnstream.settings import Settings
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLI = [sys.executable, "-m", "learnstream_cli"]
needs_launcher = pytest.mark.skipif(
    not (shutil.which("java") and shutil.which("redis-server") and shutil.which("runuser")),
    reason="the local launcher needs java, redis-server and PostgreSQL binaries",
)


@pytest.fixture
def private_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a second stack on free ports in a temp state dir (jar cache shared)."""
    shared_cache = Settings().state_dir.resolve() / "cache"
    state = tmp_path / "state"  # pytest's 0700 temp dir also proves the postgres fallback
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEARNSTREAM_")},
        "LEARNSTREAM_STATE_DIR": str(state),
        "LEARNSTREAM_CACHE_DIR": str(shared_cache),
        "LEARNSTREAM_KAFKA_PORT": str(free_port()),
        "LEARNSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LEARNSTREAM_POSTGRES_PORT": str(free_port()),
        "LEARNSTREAM_REDIS_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    yield env
    subprocess.run([*CLI, "infra", "down"], env=env, capture_output=True, check=False)
    pg_home = PostgresService(Settings(state_dir=state)).home
    if not pg_home.is_relative_to(tmp_path):
        shutil.rmtree(pg_home, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def _pids(state: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (state / "run").glob("*.pid")}


@needs_launcher
def test_up_twice_then_down_leaves_nothing_behind(private_env: dict[str, str]) -> None:
    state = Path(private_env["LEARNSTREAM_STATE_DIR"])
    first = _cli(private_env, "infra", "up")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("started") == 3
    pids = _pids(state)
    assert set(pids) == {"kafka", "postgres", "redis"}

    second = _cli(private_env, "infra", "up")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already running") == 3
    assert _pids(state) == pids  # nothing was started twice

    status = _cli(private_env, "infra", "status")
    assert status.returncode == 0, status.stdout
    assert "Apache Kafka 4." in status.stdout
    assert "PostgreSQL" in status.stdout and "Redis" in status.stdout

    down = _cli(private_env, "infra", "down")
    assert down.returncode == 0, down.stderr
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    ports = [int(private_env[f"LEARNSTREAM_{n}_PORT"]) for n in ("KAFKA", "POSTGRES", "REDIS")]
    assert not [port for port in ports if port_in_use(port)]
    assert _cli(private_env, "infra", "status").returncode == 1


@needs_launcher
def test_redis_data_survives_kill_9_through_the_append_only_file(tmp_path: Path) -> None:
    # An embedded Redis of its own even when the suite runs against an external one.
    settings = Settings(state_dir=tmp_path / "state", redis_port=free_port(), redis_url=None)
    service = RedisService(settings)
    service.start()
    client = redis.Redis.from_url(settings.redis_address, decode_responses=True)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("learner:42:progress", "73")
        time.sleep(1.5)  # appendfsync everysec: the write is on disk within a second
        pid = service.running_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # no shutdown save: only the AOF can bring it back
        while pid_alive(pid):
            time.sleep(0.05)
        service.start()
        assert client.get("learner:42:progress") == "73"
    finally:
        client.close()
        service.stop()


def test_port_taken_is_one_line_naming_the_fix(private_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(private_env["LEARNSTREAM_REDIS_PORT"])))
        squatter.listen()
        result = _cli(private_env, "infra", "up", "redis")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "LEARNSTREAM_REDIS_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_binary_is_one_line_naming_the_fix(
    private_env: dict[str, str], tmp_path: Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = _cli({**private_env, "PATH": str(empty_bin)}, "infra", "up", "redis")
    assert result.returncode == 1
    assert "redis-server" in result.stderr and "apt-get install redis-server" in result.stderr
    assert "Traceback" not in result.stderr
