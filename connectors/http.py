"""What both HR clients share: typed failures, client-side rate limits and the retry policy.

Failures fall in three kinds, because each needs a different reaction:
* PermanentHrError — the HR system refused this payload; re-sending it cannot help (DLQ);
* Throttled — certainly not applied (429); wait at least Retry-After, then send again;
* UncertainOutcome — a timeout or a 5xx: the remote may have committed, so the next attempt
  must ask the HR system before sending again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type

from learnstream.errors import PermanentError, TransientError
from learnstream.errors import retrying as shared_retrying
from learnstream.retry_after import parse_retry_after
from learnstream.sections import HrSettings


class PermanentHrError(PermanentError):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class TransientHrError(TransientError):
    """Retryable. The runtime retries the whole batch when a call exhausts its attempts."""

    uncertain = False


class Throttled(TransientHrError):
    pass


class UncertainOutcome(TransientHrError):
    uncertain = True


def raise_for_transient(response: httpx.Response) -> None:
    """429 and 5xx are transient; the caller handles 2xx and the other 4xx."""
    if response.status_code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise Throttled("HTTP 429 throttled", retry_after)
    if response.status_code >= 500:
        raise UncertainOutcome(f"HTTP {response.status_code}")


def call(send: Callable[[], httpx.Response], check: bool = True) -> httpx.Response:
    """One HTTP exchange with transport failures typed: a request that may have reached the
    server (read timeout, dropped connection) is uncertain; one that never left is throttle-
    like (certainly not applied). `check=False` leaves status codes to the caller (SOAP
    Faults arrive as HTTP 500 and are not all transient)."""
    try:
        response = send()
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Throttled(f"not connected: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:  # read/write timeouts, resets: may have committed
        raise UncertainOutcome(f"no answer: {type(exc).__name__}") from exc
    if check:
        raise_for_transient(response)
    return response


class RateLimiter:
    """At most `max_calls` in any `period_s` window. A sliding window, not a token bucket:
    a full bucket plus its refill would allow ~2x SAP's 100 calls in the first minute."""

    def __init__(
        self,
        max_calls: int,
        period_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_calls, self.period_s = max_calls, period_s
        self.clock, self.sleep = clock, sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                # a microsecond of slack: float clocks must not leave a 1e-17 s wait forever
                while self._calls and now - self._calls[0] >= self.period_s - 1e-6:
                    self._calls.popleft()
                if len(self._calls) < self.max_calls:
                    self._calls.append(now)
                    return
                wait = self.period_s - (now - self._calls[0])
            if wait > 0:
                self.sleep(wait)

    @classmethod
    def per_second(cls, rate: float) -> RateLimiter:
        """`rate` requests per second, spaced evenly (no bursts) for Workday's 5–10 rps."""
        return cls(1, 1.0 / rate)


def retrying(settings: HrSettings) -> Retrying:
    """The shared policy (learnstream.errors.retrying) with the HR settings' numbers."""
    return shared_retrying(
        attempts=settings.max_attempts,
        initial_s=settings.backoff_initial_s,
        max_s=settings.backoff_max_s,
        retry_after_max_s=settings.retry_after_max_s,
        retry=retry_if_exception_type(TransientHrError),
    )


def no_empty_strings(payload: dict[str, Any]) -> None:
    """SAP rejects empty strings, and so do we before sending: a blank id is our bug."""
    for name, value in payload.items():
        if isinstance(value, str) and not value.strip():
            raise PermanentHrError("EMPTY_FIELD", name)
