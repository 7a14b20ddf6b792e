"""Start learnstream workers: migrate the views database, apply the topology, run Faust.

`run_workers` starts N members of the consumer group as child processes of one supervisor
(`learnstream worker --processes N`): partitions are keyed by learner, so N processes use N
cores where one Python process is held to one by its GIL. The supervisor restarts a member
that exits (with backoff), forwards SIGTERM/SIGINT, and exits once every member has stopped.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time

import faust

from learnstream.kafka_admin import apply_topology
from learnstream.log import get_logger
from learnstream.settings import Settings, child_env
from learnstream.topology import load_topology
from sinks.database import upgrade
from streams.app import create_app

log = get_logger(__name__)
MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0  # a member that ran this long restarts without backoff


SWITCH_INTERVAL_S = 0.001
# The lanes keep thousands of learners' state in memory, and CPython's default thresholds
# (700, 10, 10) ran a full collection over all of it every ~70k allocations: 14-17 full
# collections of ~0.35 s each per member in one bench world, a tenth of the worker's time.
# Young collections every 100k allocations and a full one every 20M (ADR 0010).
GC_THRESHOLDS = (100_000, 20, 10)


def prepare(settings: Settings) -> None:
    """Idempotent: safe for every worker of a group to run at start."""
    upgrade(settings)
    apply_topology(settings, load_topology(settings.topology_file))


def run_worker(settings: Settings, loglevel: str = "WARN", *, prepared: bool = False) -> None:
    if not prepared:
        prepare(settings)
    # Kafka clients complete their futures and callbacks on their own threads, which must take
    # the GIL from whichever Python thread holds it; at the default 5 ms switch interval the
    # lane waited up to tens of ms per batch for an answer that had already arrived.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = create_app(settings)
    gc.collect()
    gc.freeze()  # what start-up built lives as long as the process: never traverse it again
    gc.set_threshold(*GC_THRESHOLDS)
    log.info("worker.start", group=app.conf.id, brokers=settings.bootstrap_servers)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


def run_workers(settings: Settings, processes: int, loglevel: str = "WARN") -> int:
    """Supervise `processes` members; returns the exit code."""
    prepare(settings)
    members: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, float] = {}
    backoff: dict[int, float] = {}
    stopping = False

    def spawn(index: int) -> None:
        env = {
            **os.environ,  # PATH and the rest of the environment
            **child_env(settings),
            "LEARNSTREAM_WORKER_WEB_PORT": str(_member_port(settings.worker.web_port, index)),
        }
        command = [sys.executable, "-m", "learnstream_cli", "worker", "--processes", "1",
                   "--prepared", "--loglevel", loglevel]  # fmt: skip
        members[index] = subprocess.Popen(command, env=env)
        started[index] = time.monotonic()
        log.info("worker.member_started", member=index, pid=members[index].pid)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for member in members.values():
            if member.poll() is None:
                member.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(processes):
        spawn(index)
    while True:
        time.sleep(0.2)
        for index, member in list(members.items()):
            code = member.poll()
            if code is None:
                continue
            if stopping:
                members.pop(index)
                continue
            ran = time.monotonic() - started[index]
            delay = (
                0.0 if ran >= HEALTHY_AFTER_S else min(MAX_BACKOFF_S, backoff.get(index, 0.5) * 2)
            )
            backoff[index] = delay
            log.warning("worker.member_exited", member=index, code=code, restart_in_s=delay)
            time.sleep(delay)
            if stopping:
                members.pop(index)
            else:
                spawn(index)
        if stopping and not members:
            return 0


def _member_port(base: int, index: int) -> int:
    """Member i serves /metrics on base + i, or on a free port when that one is taken."""
    if index == 0:
        return base
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", base + index))
            return base + index
        except OSError:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            log.warning("worker.member_port_taken", wanted=base + index, using=port)
            return port
