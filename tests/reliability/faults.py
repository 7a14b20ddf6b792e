"""The fault side of the reliability suite: what is broken, when, and a supervisor that brings a
worker back the way systemd or Kubernetes would when it exits on its own (fail-stop)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from learnstream.infra.kafka import KafkaService
from learnstream.infra.postgres import PostgresService
from learnstream.infra.process import pid_alive
from learnstream.infra.redis import RedisService
from learnstream.settings import Settings
from tests.support.pipeline import WorkerProcess, applied_offsets

POSTGRES_DOWN_S = 3.0  # long enough for batches to fail and retry against a dead server


@dataclass(frozen=True)
class Step:
    """Inject `fault` once the basis ("published" or "applied") fraction reaches `at`."""

    fault: str  # worker_kill9 | broker_kill9 | postgres_restart | redis_restart
    at: float
    basis: str = "applied"


# Worker kills at 20/40/60% (each at least 20 points after the previous, see `threshold`);
# the first broker kill lands while the feeder is still publishing, so acked sends are at risk.
PLAN = (
    Step("broker_kill9", 0.30, "published"),
    Step("worker_kill9", 0.20),
    Step("postgres_restart", 0.30),
    Step("worker_kill9", 0.40),
    Step("broker_kill9", 0.50),
    Step("redis_restart", 0.55),
    Step("worker_kill9", 0.60),
    Step("broker_kill9", 0.75),
)
WORKER_KILL_SPACING = 0.20


@dataclass
class Injected:
    fault: str
    fraction: float
    seconds: float  # how long the fault action itself took (kill + restart until answering)


@dataclass
class FaultLog:
    injected: list[Injected] = field(default_factory=list)
    worker_self_exits: list[int] = field(default_factory=list)  # exit codes, restarted

    def counts(self) -> Counter[str]:
        return Counter(i.fault for i in self.injected)

    def last(self, fault: str) -> float | None:
        fractions = [i.fraction for i in self.injected if i.fault == fault]
        return fractions[-1] if fractions else None


class Injector:
    def __init__(self, stack: Settings, worker: WorkerProcess) -> None:
        self.kafka = KafkaService(stack)
        self.postgres = PostgresService(stack)
        self.redis = RedisService(stack)
        self.worker = worker
        self.log = FaultLog()
        self._killed_on_purpose = False

    def inject(self, fault: str, fraction: float) -> None:
        began = time.monotonic()
        actions: dict[str, Callable[[], None]] = {
            "worker_kill9": self._kill_worker,
            "broker_kill9": self._kill_broker,
            "postgres_restart": self._restart_postgres,
            "redis_restart": self._restart_redis,
        }
        actions[fault]()
        self.log.injected.append(Injected(fault, fraction, time.monotonic() - began))

    def supervise(self) -> None:
        """Restart a worker that exited by itself; a fail-stop exit is allowed, data loss not."""
        code = self.worker.exit_code()
        if code is not None:
            self.log.worker_self_exits.append(code)
            self.worker.start()

    def _kill_worker(self) -> None:
        self.worker.kill9()
        self.worker.start()

    def _kill_broker(self) -> None:
        pid = self.kafka.running_pid()
        assert pid is not None, "the chaos broker is not running"
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
        self.kafka.start()  # recovers its logs from disk, then answers metadata again

    def _restart_postgres(self) -> None:
        self.postgres.stop()
        time.sleep(POSTGRES_DOWN_S)
        self.postgres.start()

    def _restart_redis(self) -> None:
        self.redis.stop()
        self.redis.start()


def threshold(step: Step, log: FaultLog) -> float:
    if step.fault != "worker_kill9":
        return step.at
    previous = log.last("worker_kill9")
    return step.at if previous is None else max(step.at, previous + WORKER_KILL_SPACING)


def applied_fraction(world: Settings, total: int) -> float:
    """How much of learning.activity the progress agent committed; 0 while Postgres is down."""
    try:
        return applied_offsets(world, "progress") / total
    except psycopg.OperationalError:
        return 0.0
