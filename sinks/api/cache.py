"""The learner dashboard (the progress list) in Redis, a view the stream keeps current.

Key `{prefix}dashboard:{learner_id}` (prefix `learnstream:` by default): a JSON array of
progress rows. The progress agent rewrites it before each commit that changes the learner
(streams/views/dashboards.py), so a read after a commit never sees older data. A miss, a flushed
Redis or a Redis outage falls back to Postgres; the answer is written back with SET NX, so a
refill computed from an older snapshot never overwrites what the stream wrote meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

import redis
import structlog

from streams.views.dashboards import refill_dashboard
from streams.views.layout import dashboard_key

log = structlog.get_logger(__name__)


class DashboardCache:
    def __init__(self, client: redis.Redis[str], prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def key(self, learner_id: str) -> str:
        return dashboard_key(self.prefix, learner_id)

    def get(self, learner_id: str) -> list[dict[str, Any]] | None:
        """The cached rows, or None on a miss, an unreadable value or a Redis error."""
        try:
            raw = self.client.get(self.key(learner_id))
        except redis.RedisError as exc:
            log.warning("dashboard cache unavailable", error=str(exc))
            return None
        if raw is None:
            return None
        try:
            rows = json.loads(raw)
        except (TypeError, ValueError):
            return None
        return rows if isinstance(rows, list) else None

    def put(self, learner_id: str, rows: list[dict[str, Any]]) -> bool:
        try:
            refill_dashboard(self.client, self.prefix, learner_id, json.dumps(rows), self.ttl_s)
        except redis.RedisError as exc:
            log.warning("dashboard cache not refilled", error=str(exc))
            return False
        return True
