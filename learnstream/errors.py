"""One error family and one retry policy for every layer (ADR 0015).

Each failure learnstream raises on purpose is a `LearnstreamError`, of one of two kinds, because
each needs its own reaction:
* `TransientError`: a dependency that will likely answer later (a 5xx, a 429, a timeout, a
  broker electing a leader). It is retried, never dead-lettered. `retry_after` is the earliest
  useful retry in seconds, when the other side said so (HTTP Retry-After).
* `PermanentError`: retrying the same input cannot succeed (an undecodable record, a payload
  the HR system refused, an invalid event). The event is dead-lettered, the send failed at once.

`retrying` is the policy the runtime (a batch), the HR connectors (a call) and notification
delivery (a send) share: jittered exponential backoff, never sooner than a Retry-After.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.retry import retry_base
from tenacity.stop import stop_never


class LearnstreamError(Exception):
    """Root of every error learnstream raises on purpose."""


class TransientError(LearnstreamError):
    """Worth retrying later; `retry_after` (seconds) when the other side said how long."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(LearnstreamError):
    """Retrying the same input cannot help."""


def backoff_s(attempt: int, initial_s: float, max_s: float) -> float:
    """Exponential from `initial_s`, capped at `max_s`, plus up to `initial_s` of jitter so that
    workers that saw the same outage do not come back in step."""
    exponential: float = initial_s * 2 ** (attempt - 1)
    return min(max_s, exponential) + random.uniform(0, initial_s)


def retrying(
    *,
    attempts: int | None,
    initial_s: float,
    max_s: float,
    retry_after_max_s: float,
    retry: retry_base | None = None,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
) -> Retrying:
    """Retry what `retry` accepts (default: TransientError) up to `attempts` tries (None: until
    it succeeds), waiting `backoff_s`, or the error's `retry_after` capped at
    `retry_after_max_s` when that is longer: hammering a rate-limited server only extends the
    ban. The last error is re-raised as it is."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None) or 0.0
        backoff = backoff_s(state.attempt_number, initial_s, max_s)
        return max(min(retry_after, retry_after_max_s), backoff)

    return Retrying(
        retry=retry or retry_if_exception_type(TransientError),
        stop=stop_never if attempts is None else stop_after_attempt(attempts),
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
