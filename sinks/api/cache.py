"""Read-through Redis cache of the learner dashboard (the progress list).

Key `{prefix}dashboard:{learner_id}` (prefix `learnstream:` by default): a JSON array of
progress rows, with a TTL. Postgres is the truth: a miss, a flushed Redis or a Redis outage
falls back to Postgres, and the answer is written back (when Redis is reachable). Nothing
invalidates the key on writes, so a dashboard may lag the streams by at most the TTL.
"""

from __future__ import annotations

import json
from typing import Any

import redis
import structlog

log = structlog.get_logger(__name__)


class DashboardCache:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def key(self, learner_id: str) -> str:
        return f"{self.prefix}dashboard:{learner_id}"

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
            self.client.set(self.key(learner_id), json.dumps(rows), ex=self.ttl_s)
        except redis.RedisError as exc:
            log.warning("dashboard cache not refilled", error=str(exc))
            return False
        return True
