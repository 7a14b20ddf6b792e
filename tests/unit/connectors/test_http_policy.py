"""Shared policy: Retry-After parsing, rate limits, retries, and who owes what."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from connectors.http import RateLimiter, Throttled, UncertainOutcome, retrying
from connectors.targets import SAP, WORKDAY, hr_user_id
from learnstream.retry_after import parse_retry_after
from learnstream.sections import HrSettings
from streams.orgchart import Snapshot


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Mon, 10 Mar 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 10 Mar 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_sliding_window_allows_at_most_max_calls_per_period() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, 60.0, clock=t.clock, sleep=t.sleep)
    stamps = []
    for _ in range(250):
        limiter.acquire()
        stamps.append(t.now)
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s - start < 60.0]
        assert len(in_window) <= 100
    assert stamps[99] == 0.0 and stamps[100] == pytest.approx(60.0)


def test_per_second_limiter_spaces_requests() -> None:
    t = FakeTime()
    limiter = RateLimiter.per_second(5)
    limiter.clock, limiter.sleep = t.clock, t.sleep
    stamps = []
    for _ in range(11):
        limiter.acquire()
        stamps.append(t.now)
    assert stamps[-1] == pytest.approx(2.0)  # 5 per second, evenly spaced
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(stamps))


def test_retries_wait_at_least_retry_after_and_stop() -> None:
    settings = HrSettings(backoff_initial_s=0.01, backoff_max_s=0.05, max_attempts=4)
    sleeps: list[float] = []
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Throttled("429", retry_after=2.0)
        if len(calls) == 2:
            raise UncertainOutcome("timeout")
        return "ok"

    assert retrying(settings).copy(sleep=sleeps.append)(flaky) == "ok"
    assert sleeps[0] >= 2.0  # Retry-After honoured
    assert sleeps[1] <= 0.05 + 0.01  # plain jittered backoff, capped

    def always() -> None:
        raise UncertainOutcome("down")

    with pytest.raises(UncertainOutcome):
        retrying(settings).copy(sleep=lambda s: None)(always)


def test_permanent_errors_are_not_retried() -> None:
    calls = []

    def refused() -> None:
        calls.append(1)
        raise ValueError("bad payload")

    with pytest.raises(ValueError):
        retrying(HrSettings()).copy(sleep=lambda s: None)(refused)
    assert len(calls) == 1


def snapshot(status: str, worker: str | None, sap: str | None) -> Snapshot:
    return Snapshot(0, 0, "e", None, status, worker, sap)


def test_only_active_mapped_employment_owes_a_record() -> None:
    active = snapshot("ACTIVE", "W1", None)
    assert hr_user_id(WORKDAY, active) == "W1"
    assert hr_user_id(SAP, active) is None
    assert hr_user_id(SAP, snapshot("ACTIVE", None, "S1")) == "S1"
    assert hr_user_id(WORKDAY, snapshot("TERMINATED", "W1", "S1")) is None
    assert hr_user_id(SAP, None) is None
