"""Redis as a materialized view of Postgres, written by the stream, never a guessing cache.

Each batch rewrites the Redis keys of the learners it changed: the learner dashboard (the
progress list the read API serves) and the learner's feature hash. The write happens inside the
batch's Postgres transaction, after its last statement and before COMMIT, from the state that
transaction wrote. So when the commit (and the offset row with it) becomes visible, Redis already
holds that state: a read issued after a commit never sees anything older. Redis may run ahead of
Postgres by one uncommitted batch; a rolled-back batch is retried with the same events and writes
the same keys (every value is recomputed from Postgres, never incremented).

Writers of one learner's keys hold the learner's advisory lock (learnstream/runtime/locks.py), so
the later writer waits for the earlier commit and then reads it: the last write carries both.

The read API refills a missing key with SET NX: a refill computed from an older snapshot can
never overwrite what the stream wrote in the meantime.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import psycopg
import redis

from learnstream.runtime.locks import lock_learners
from learnstream.runtime.stages import stage
from streams.features.activity_cache import ActivityCache
from streams.features.rules import PairStatus
from streams.features.store import compute_features, compute_popularity, read_watermark
from streams.views.layout import dashboard_key, write_views

DASHBOARD_COLUMNS = (
    "course_id, tenant_id, status, required_done, required_total, percent, time_spent_seconds, "
    "best_scores, last_activity_at, enrolled_at, due_at, completed_at, active"
)
DASHBOARD_JSON = ", ".join(f"'{c}', {c}" for c in DASHBOARD_COLUMNS.split(", "))


def load_views(
    conn: psycopg.Connection, learners: Iterable[str]
) -> tuple[dict[str, str], dict[str, list[PairStatus]]]:
    """Each learner's dashboard (rows ordered by course) as the JSON the read API serves, and
    its pairs' statuses for the features (the same rows). Postgres encodes the JSON: building
    it row by row in Python was most of the views stage under live load. The read API
    validates what it serves, so json's spacing and number forms are not part of the contract.
    """
    wanted = sorted(set(learners))
    dashboards = dict.fromkeys(wanted, "[]")
    statuses: dict[str, list[PairStatus]] = {learner: [] for learner in wanted}
    for learner, body, pairs in conn.execute(
        f"SELECT learner_id, json_agg(json_build_object({DASHBOARD_JSON}) ORDER BY course_id)"
        "::text, json_agg(json_build_array(course_id, status, enrolled_at IS NOT NULL))::text "
        "FROM learner_course_progress WHERE learner_id = ANY(%s) GROUP BY learner_id",
        (wanted,),
    ):
        dashboards[learner] = body
        statuses[learner] = [PairStatus(*pair) for pair in json.loads(pairs)]
    return dashboards, statuses


def refresh_learners(
    conn: psycopg.Connection,
    client: redis.Redis[str],
    prefix: str,
    learners: Iterable[str],
    *,
    popularity: bool = False,
    features: bool = True,
    cache: ActivityCache | None = None,
    locked: bool = False,
    clock: int | None = None,
) -> None:
    """Rewrite the dashboards and feature hashes of `learners` (and the course popularity
    ranking, when asked) from this transaction's state, in one atomic write
    (streams/views/layout.py). A Redis error propagates: the runtime retries the batch.
    `features=False` for writers that change no feature (the due sweep moves a status to
    overdue; features count enrolled and completed).
    `cache`: the lane's copies of its learners' features inputs (features.activity_cache);
    `locked`: the caller holds the learners' locks already; `clock`: the features clock, when
    the caller read it in this transaction."""
    wanted = sorted(set(learners))
    if not wanted and not popularity:
        return
    if not locked:
        lock_learners(conn, wanted)
    dashboards, statuses = load_views(conn, wanted)
    if clock is None:
        clock = read_watermark(conn)
    ranking, computed = None, []
    if clock is not None and features:  # no activity consumed yet: no feature hash to refresh
        ranking = compute_popularity(conn, clock) if popularity else None
        computed = compute_features(conn, wanted, clock, pairs=statuses, cache=cache)
    with stage("redis"):
        write_views(client, prefix, dashboards=dashboards, features=computed, popularity=ranking)


def refill_dashboard(
    client: redis.Redis[str], prefix: str, learner_id: str, body: str, ttl: int
) -> bool:
    """The read API's refill after a miss: never overwrites what the stream wrote meanwhile."""
    return bool(client.set(dashboard_key(prefix, learner_id), body, ex=ttl, nx=True))
