"""What every service of the local stack can do: start once, answer a probe, stop politely."""

from __future__ import annotations

import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from learnstream.infra.errors import InfraError
from learnstream.infra.process import PidFile, terminate, wait_until
from learnstream.settings import Settings


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    mode: str  # "embedded" or "external"
    address: str
    state: str  # "up", "down", "started", "already running"
    pid: int | None = None
    version: str = ""
    seconds: float | None = None


def require_binary(name: str, fix: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"'{name}' was not found on PATH", fix)
    return path


class Service(ABC):
    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir.resolve() / self.name
        self.log_file = settings.state_dir.resolve() / "logs" / f"{self.name}.log"
        self.pidfile = PidFile(settings.state_dir.resolve() / "run" / f"{self.name}.pid", "")

    @property
    @abstractmethod
    def embedded(self) -> bool: ...

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def check_prerequisites(self) -> None:
        """Raise InfraError naming what is missing and how to get it."""

    @abstractmethod
    def launch(self) -> int:
        """Start the process without waiting for it to answer; return its pid."""

    @abstractmethod
    def probe(self) -> str:
        """Talk to the service for real; return its version or raise."""

    def running_pid(self) -> int | None:
        return self.pidfile.running_pid()

    def start(self) -> ServiceStatus:
        """Idempotent: an answering service is left alone, a missing one is started."""
        if not self.embedded:
            return self._status("up", version=self.probe())
        pid = self.running_pid()
        if pid is not None:
            version = wait_until(
                self.probe, self.settings.startup_timeout_s, self.name, self.log_file
            )
            return self._status("already running", pid=pid, version=version)
        self.check_prerequisites()
        began = time.monotonic()
        pid = self.launch()
        self.pidfile.write(pid)
        return self.await_ready(pid, began)

    def await_ready(self, pid: int, began: float) -> ServiceStatus:
        version = wait_until(self.probe, self.settings.startup_timeout_s, self.name, self.log_file)
        return self._status("started", pid=pid, version=version, seconds=time.monotonic() - began)

    def stop(self) -> bool:
        """Stop the process we started (and only that one); True when something was stopped."""
        pid = self.running_pid() if self.embedded else None
        if pid is None:
            self.pidfile.clear()
            return False
        terminate(pid)
        self.pidfile.clear()
        return True

    def status(self) -> ServiceStatus:
        pid = self.running_pid() if self.embedded else None
        if self.embedded and pid is None:
            return self._status("down")
        try:
            return self._status("up", pid=pid, version=self.probe())
        except Exception as exc:
            return self._status(f"not answering: {exc}", pid=pid)

    def _status(self, state: str, **fields: object) -> ServiceStatus:
        mode = "embedded" if self.embedded else "external"
        return ServiceStatus(self.name, mode, self.address, state, **fields)  # type: ignore[arg-type]

    def tail_log(self, lines: int) -> list[str]:
        if not self.log_file.exists():
            return []
        return self.log_file.read_text(errors="replace").splitlines()[-lines:]

    @staticmethod
    def ensure_dir(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path
