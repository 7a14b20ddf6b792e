"""A real worker process against a private topic prefix and a private database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from learnstream.infra.process import stop_process_group
from learnstream.settings import Settings, child_env


class WorkerProcess:
    def __init__(
        self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LEARNSTREAM_")},
            **child_env(self.settings),
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "learnstream_cli", "worker", "--loglevel", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, 30.0)

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@contextmanager
def running_worker(settings: Settings, log_path: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(settings, log_path)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def applied_offsets(settings: Settings, consumer: str) -> int:
    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM stream_offsets WHERE consumer = %s",
            (consumer,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(what)


def database_url(pg_url: str) -> str:
    return make_url(pg_url).render_as_string(hide_password=False)
