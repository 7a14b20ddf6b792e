"""What both simulators share: fault switches, a request log, and serving on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import uvicorn
from fastapi import FastAPI


@dataclass
class Faults:
    """Switches a test flips to make the simulator misbehave; counters count down per call."""

    latency_s: float = 0.0
    timeout_after_commit_next_n: int = 0  # commit, then answer only after timeout_sleep_s
    timeout_sleep_s: float = 3.0
    fail_5xx_next_n: int = 0
    status_5xx: int = 503
    throttle_next_n: int = 0  # 429 with Retry-After, request not applied
    retry_after_s: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def copy(self) -> Faults:
        """The same switches with a lock of its own: each simulator counts down separately."""
        return replace(self, _lock=threading.Lock())

    def any(self) -> bool:
        counters = (self.timeout_after_commit_next_n, self.fail_5xx_next_n, self.throttle_next_n)
        return self.latency_s > 0 or any(n > 0 for n in counters)

    def describe(self) -> str:
        parts = [f"latency {self.latency_s * 1000:.0f} ms"] if self.latency_s > 0 else []
        if self.throttle_next_n:
            parts.append(f"next {self.throttle_next_n} → 429 (Retry-After {self.retry_after_s}s)")
        if self.fail_5xx_next_n:
            parts.append(f"next {self.fail_5xx_next_n} → {self.status_5xx}")
        if self.timeout_after_commit_next_n:
            parts.append(
                f"next {self.timeout_after_commit_next_n} writes answer after "
                f"{self.timeout_sleep_s}s (committed)"
            )
        return ", ".join(parts)

    def take(self, name: str) -> bool:
        """Consume one unit of a `*_next_n` counter; True when this call must misbehave."""
        with self._lock:
            left = int(getattr(self, name))
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True


class Window:
    """Calls in the last `period_s`, to answer 429 above the contract's rate limit."""

    def __init__(self, max_calls: int, period_s: float) -> None:
        self.max_calls, self.period_s = max_calls, period_s
        self.calls: deque[float] = deque()
        self.lock = threading.Lock()

    def admit(self) -> float | None:
        """None when admitted, else seconds until a slot frees up."""
        with self.lock:
            now = time.monotonic()
            while self.calls and now - self.calls[0] >= self.period_s:
                self.calls.popleft()
            if len(self.calls) >= self.max_calls:
                return self.period_s - (now - self.calls[0])
            self.calls.append(now)
            return None


@dataclass
class Received:
    """One request as the simulator saw it, with the status it answered."""

    method: str
    path: str
    operation: str
    body: Any
    status: int = 0
    at: float = field(default_factory=time.monotonic)


async def delay(faults: Faults) -> None:
    if faults.latency_s > 0:
        await asyncio.sleep(faults.latency_s)


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound here, so a port-0 request cannot race another process
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
