"""The HR call window shared through real Redis: N worker processes together stay within the
tenant's limit, where N in-process windows would each spend the whole limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from connectors.http import RateLimiter, Throttled
from connectors.sap import SapClient
from connectors.shared_limit import SharedRateLimiter, limit_key
from connectors.targets import SAP, WORKDAY, build_targets
from learnstream.sections import HrSettings
from learnstream.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.integration

MAX_CALLS, PERIOD_S = 5, 1.0
# Stamps are read locally after each call returns; a thread may return a little late, so a
# window is checked slightly narrower than the limit's (a late return can only widen gaps).
SLACK_S = 0.1


def call_times(acquirers: list[Callable[[], None]], calls_each: int) -> list[float]:
    """Each acquirer in its own thread, as each worker process would, calling as fast as
    its limiter lets it."""
    stamps: list[float] = []
    lock = threading.Lock()

    def run(acquire: Callable[[], None]) -> None:
        for _ in range(calls_each):
            acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=run, args=(a,)) for a in acquirers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(stamps)


def busiest_window(stamps: list[float], width: float) -> int:
    return max(sum(1 for s in stamps[i:] if s - start < width) for i, start in enumerate(stamps))


def test_members_sharing_a_key_stay_within_the_limit_together(
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    members = [
        SharedRateLimiter(redis.Redis(connection_pool=client.connection_pool), f"{prefix}sap", 5, 1)
        for _ in range(2)
    ]
    began = time.monotonic()
    stamps = call_times([m.acquire for m in members], calls_each=8)
    assert len(stamps) == 16
    assert busiest_window(stamps, PERIOD_S - SLACK_S) <= MAX_CALLS
    # 16 calls at 5 per second: the 6th, 11th and 16th each wait for a window to pass
    assert stamps[-1] - began >= 3 * PERIOD_S - SLACK_S


def test_in_process_windows_would_exceed_it() -> None:
    """The control: the same two members, each with its own window, break the limit (the
    defect the shared window fixes; it also shows the check above can fail)."""
    members = [RateLimiter(MAX_CALLS, PERIOD_S) for _ in range(2)]
    stamps = call_times([m.acquire for m in members], calls_each=8)
    assert busiest_window(stamps, PERIOD_S - SLACK_S) > MAX_CALLS


def test_unreachable_redis_is_a_transient_throttle_not_a_silent_pass() -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    limiter = SharedRateLimiter(dead, "learnstream:ratelimit:test", MAX_CALLS, PERIOD_S)
    with pytest.raises(Throttled, match="shared rate limit unavailable"):
        limiter.acquire()


def test_targets_of_one_tenant_share_a_window_and_other_tenants_do_not(
    stack_settings: Settings,
) -> None:
    client = redis.Redis.from_url(stack_settings.redis_address)
    hr = HrSettings(sap_base_url="http://sap.invalid", workday_base_url="http://wd.invalid")
    first, second = build_targets(hr, client), build_targets(hr, client)
    other = build_targets(hr.model_copy(update={"sap_company_id": "another"}), client)
    keys = {
        name: [t[name].client.limiter.key for t in (first, second, other)]  # type: ignore[attr-defined]
        for name in (SAP, WORKDAY)
    }
    assert keys[SAP][0] == keys[SAP][1] != keys[SAP][2]
    assert keys[WORKDAY][0] == keys[WORKDAY][1] == keys[WORKDAY][2]
    assert keys[SAP][0] == limit_key(SAP, "http://sap.invalid", "learnstream", "learnstream")
    # without Redis each client keeps its own in-process window (tests, one-process tools)
    assert isinstance(SapClient(hr).limiter, RateLimiter)
    client.close()
