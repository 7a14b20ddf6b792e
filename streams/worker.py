"""Start a learnstream worker: migrate the views database, apply the topology, run Faust."""

from __future__ import annotations

import faust

from learnstream.kafka_admin import apply_topology
from learnstream.log import get_logger
from learnstream.settings import Settings
from learnstream.topology import load_topology
from sinks.database import upgrade
from streams.app import create_app

log = get_logger(__name__)


def prepare(settings: Settings) -> None:
    """Idempotent: safe for every worker of a group to run at start."""
    upgrade(settings)
    apply_topology(settings, load_topology(settings.topology_file))


def run_worker(settings: Settings, loglevel: str = "WARN") -> None:
    prepare(settings)
    app = create_app(settings)
    log.info("worker.start", group=app.conf.id, brokers=settings.bootstrap_servers)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
