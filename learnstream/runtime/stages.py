"""Where a worker's time goes, per stage of the learner flow: an always-on, low-cost profile.

Each stage is a `with stage("name"):` block; nested blocks are charged to the innermost one
only, so the stages add up to the wall time of the thread that ran them. Postgres round trips
are charged to "postgres" wherever they happen (the connection's cursors time themselves), and
Redis pipelines to "redis". The totals are a Prometheus counter,
`learnstream_stage_seconds_total{stage}`, which the benchmark divides by the events applied to
print µs per event per stage. Costs a few µs per block; blocks are per batch, never per event.
Only threads that called `profile_this_thread()` (the lanes) are counted, so timers and
low-volume agents never blur the learner flow's numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from prometheus_client import Counter

from learnstream.runtime.metrics import REGISTRY

STAGE_SECONDS = Counter(
    "learnstream_stage_seconds",
    "Wall time spent in each stage of batch processing (nested stages charged once)",
    ["stage"],
    registry=REGISTRY,
)
_local = threading.local()


def profile_this_thread() -> None:
    _local.stack = []


@contextmanager
def stage(name: str) -> Iterator[None]:
    stack: list[list[Any]] | None = getattr(_local, "stack", None)
    if stack is None:
        yield
        return
    began = time.perf_counter()
    stack.append([name, 0.0])
    try:
        yield
    finally:
        _, inner = stack.pop()
        elapsed = time.perf_counter() - began
        STAGE_SECONDS.labels(name).inc(elapsed - inner)
        if stack:
            stack[-1][1] += elapsed


def charge(name: str, seconds: float) -> None:
    """Charge time measured by the caller (outside any stage) to `name`."""
    if getattr(_local, "stack", None) is not None:
        STAGE_SECONDS.labels(name).inc(seconds)


def postgres_stage() -> str:
    """ "postgres", or "postgres:<stage>" for a round trip inside another stage."""
    stack = getattr(_local, "stack", None)
    return f"postgres:{stack[-1][0]}" if stack else "postgres"


class TimedCursor(psycopg.Cursor[Any]):
    """A cursor that charges its round trips to Postgres, per stage that made them."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        with stage(postgres_stage()):
            return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        with stage(postgres_stage()):
            super().executemany(*args, **kwargs)

    def fetchall(self) -> Any:
        with stage(postgres_stage()):
            return super().fetchall()

    @contextmanager
    def copy(self, *args: Any, **kwargs: Any) -> Iterator[psycopg.Copy]:
        """COPY, rows and all, is a Postgres round trip of the stage that makes it."""
        with stage(postgres_stage()), super().copy(*args, **kwargs) as copy:
            yield copy


def connect(conninfo: str, **kwargs: Any) -> psycopg.Connection:
    """psycopg.connect with timed cursors (Connection.execute goes through them too)."""
    return psycopg.connect(conninfo, cursor_factory=TimedCursor, **kwargs)
