"""Pid files, port checks and polite process shutdown for the services we start ourselves."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from learnstream.infra.errors import InfraError

T = TypeVar("T")


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as dead."""
    with contextlib.suppress(ChildProcessError, OSError):
        # Reap it if it happens to be our own child, so it does not linger as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class PidFile:
    """Remembers a process we started, and only that one (`marker` guards against pid reuse)."""

    def __init__(self, path: Path, marker: str) -> None:
        self.path = path
        self.marker = marker

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n")

    def running_pid(self) -> int | None:
        try:
            pid = int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if pid_alive(pid) and self.marker in cmdline(pid):
            return pid
        return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free_port(port: int, what: str, setting: str, grace_s: float = 3.0) -> None:
    # A process that just died can hold its socket for a moment while the kernel tears it down.
    deadline = time.monotonic() + grace_s
    while port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if port_in_use(port):
        raise InfraError(
            f"port {port} for {what} is taken by another process",
            f"stop that process or set {setting} to a free port",
        )


def spawn(argv: Sequence[str], log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start a detached process (own session, so Ctrl-C in the CLI does not reach it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return proc.pid


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL: the services flush on SIGTERM, so give them the chance."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        time.sleep(0.05)


def wait_until(probe: Callable[[], T], timeout_s: float, what: str, log_file: Path) -> T:
    """Poll `probe` until it returns without raising; on timeout name the log to read."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return probe()
        except Exception as exc:  # any failure just means "not ready yet"
            last_error = exc
            time.sleep(0.3)
    raise InfraError(
        f"{what} did not answer within {timeout_s:.0f}s ({last_error})",
        f"read {log_file} or run `learnstream infra logs`",
    )


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM a child started in its own session (it and whatever it spawned, nothing else),
    SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
