"""Features agent: learning activity → per-learner rolling features and course popularity.

Postgres holds the state (sinks/feature_tables.py, via streams/features/store.py); Redis holds
a materialized view of the features, recomputed from that state and overwritten whole before
each commit (streams/views/dashboards.py), for the read API and the recommender.

The Redis layout and its writes are in streams/views/layout.py.
"""

from __future__ import annotations

import psycopg
import redis

from learnstream import ids, names
from learnstream.runtime.errors import InvalidContent
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.locks import lock_learners
from learnstream.runtime.records import Event, Outbound
from learnstream.settings import Settings
from streams.features.activity_cache import ActivityCache
from streams.features.rules import LONG_WINDOW_DAYS, day_of
from streams.features.store import (
    CONSUMER,
    advance_watermark,
    compute_features,
    compute_popularity,
    read_watermark,
    record_events,
)
from streams.validation import validate_event
from streams.views.layout import KEY_PREFIX, redis_prefix, write_views

REBUILD_CHUNK = 500

KNOWN = names.ACTIVITY  # engagement, and enrolling or cancelling


class FeaturesHandler(BaseHandler):
    consumer = CONSUMER

    def __init__(
        self, redis_client: redis.Redis[str], key_prefix: str = KEY_PREFIX, cache_learners: int = 0
    ) -> None:
        self.redis = redis_client  # one client (and its pool) for every batch
        self.prefix = key_prefix
        self.cache = ActivityCache(cache_learners)  # inputs kept between batches

    def validate(self, event: Event) -> None:
        if event.name not in KNOWN:
            raise InvalidContent(f"{event.name} is not a learning activity event")
        validate_event(event.name, event.record)

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        if not events:
            return []
        # Read (or validate) the copies before the writes, so the deltas apply to the truth.
        first_day = day_of(min(ids.epoch_ms(e.occurred_at) for e in events)) - LONG_WINDOW_DAYS
        self.cache.inputs(conn, {e.record["learner_id"] for e in events}, first_day)
        self.cache.record(record_events(conn, events))
        advance_watermark(conn, events)
        return []

    def committed(self) -> None:
        self.cache.committed()

    def rolled_back(self) -> None:
        self.cache.rolled_back()

    def revoked(self) -> None:
        self.cache.clear()

    def materialize(self, conn: psycopg.Connection, events: list[Event]) -> None:
        """After the batch's last statement, before COMMIT (streams/views/dashboards.py): rewrite
        the feature hashes of its learners and the popularity ranking from Postgres."""
        as_of = read_watermark(conn)
        if not events or as_of is None:
            return
        learners = sorted({e.record["learner_id"] for e in events})
        lock_learners(conn, learners)  # the progress stage writes these hashes too
        write_views(
            self.redis,
            self.prefix,
            features=compute_features(conn, learners, as_of, cache=self.cache),
            popularity=compute_popularity(conn, as_of),
        )

    def rebuild(self, conn: psycopg.Connection, as_of: int | None = None) -> int:
        """Rewrite the whole Redis cache from Postgres (after a Redis loss or a TTL expiry)."""
        clock = as_of if as_of is not None else read_watermark(conn)
        if clock is None:
            return 0
        learners = [r[0] for r in conn.execute("SELECT learner_id FROM learner_activity")]
        learners.sort()
        write_views(self.redis, self.prefix, popularity=compute_popularity(conn, clock))
        for start in range(0, len(learners), REBUILD_CHUNK):
            chunk = learners[start : start + REBUILD_CHUNK]
            write_views(self.redis, self.prefix, features=compute_features(conn, chunk, clock))
        return len(learners)


def build_handler(settings: Settings, key_prefix: str | None = None) -> FeaturesHandler:
    client = redis.Redis.from_url(settings.redis_address, decode_responses=True)
    prefix = key_prefix if key_prefix is not None else redis_prefix(settings)
    return FeaturesHandler(client, prefix, settings.worker.state_cache_learners)
