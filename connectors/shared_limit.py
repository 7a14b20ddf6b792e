"""A rate limit shared by every worker process: the HR systems count calls per tenant, not
per learnstream process.

SAP allows 100 calls a minute and Workday 5–10 requests a second *for the integration*; with
`worker --processes N` each member holding its own in-process window would send N times the
limit and spend its time in 429 back-offs. The window therefore lives in Redis, which every
member already reaches: a sorted set of call stamps, trimmed and counted by one Lua script so
that check-and-record is atomic across processes. Stamps come from Redis's own clock (TIME),
so members with skewed clocks still share one window.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import redis

from connectors.http import Throttled

# KEYS[1] window; ARGV: max calls, period in µs, member. Returns "0" when the call may go now,
# else the seconds to wait (a string: Lua numbers become integers in a Redis reply).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring((tonumber(oldest[2]) + period - now) / 1000000)
"""


class Limiter(Protocol):
    def acquire(self) -> None: ...


class SharedRateLimiter:
    """At most `max_calls` in any `period_s` window across every process sharing `key`."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        key: str,
        max_calls: int,
        period_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key, self.max_calls, self.period_s = key, max_calls, period_s
        self.sleep = sleep
        self._script = client.register_script(_ACQUIRE)
        self._ids = itertools.count()
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
        period_us = max(1, round(self.period_s * 1_000_000))
        while True:
            member = f"{self._owner}-{next(self._ids)}"
            try:
                reply = self._script(keys=[self.key], args=[self.max_calls, period_us, member])
            except redis.RedisError as exc:
                # certainly not sent: the caller's retry policy waits and tries again
                raise Throttled(f"shared rate limit unavailable: {type(exc).__name__}") from exc
            wait = float(reply.decode() if isinstance(reply, bytes) else reply)
            if wait <= 0:
                return
            self.sleep(wait)

    @classmethod
    def per_second(cls, client: redis.Redis[bytes], key: str, rate: float) -> SharedRateLimiter:
        """`rate` requests per second cluster-wide, spaced evenly (no bursts)."""
        return cls(client, key, 1, 1.0 / rate)


def limit_key(target: str, *identity: str | None) -> str:
    """One window per remote tenant and client: two deployments against different tenants
    must not share a quota, two members against the same one must."""
    digest = hashlib.sha256("|".join(i or "" for i in identity).encode()).hexdigest()[:16]
    return f"learnstream:ratelimit:{target.lower()}:{digest}"
