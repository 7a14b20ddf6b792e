"""The three services together: `up` starts what is missing in parallel, `down` stops ours."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from learnstream.infra.kafka import KafkaService
from learnstream.infra.postgres import PostgresService
from learnstream.infra.redis import RedisService
from learnstream.infra.service import Service, ServiceStatus
from learnstream.settings import Settings

__all__ = ["ServiceStatus", "Stack"]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: dict[str, Service] = {
            service.name: service
            for service in (
                KafkaService(settings),
                PostgresService(settings),
                RedisService(settings),
            )
        }

    def select(self, names: list[str] | None = None) -> list[Service]:
        if not names:
            return list(self.services.values())
        unknown = set(names) - set(self.services)
        if unknown:
            raise KeyError(f"unknown service(s): {', '.join(sorted(unknown))}")
        return [self.services[name] for name in names]

    def up(self, names: list[str] | None = None) -> tuple[list[ServiceStatus], float]:
        """Start everything that is not answering yet; returns statuses and wall seconds."""
        services = self.select(names)
        for service in services:
            if service.embedded and service.running_pid() is None:
                service.check_prerequisites()  # fail fast, before anything is started
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            statuses = list(pool.map(lambda s: s.start(), services))
        return statuses, time.monotonic() - began

    def down(self, names: list[str] | None = None) -> list[tuple[str, bool]]:
        return [(service.name, service.stop()) for service in self.select(names)]

    def status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        return [service.status() for service in self.select(names)]
