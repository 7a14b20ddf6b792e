"""Course leaderboards in Redis (sorted sets), derived from Postgres: rebuilt when lost.

Member = learner, score = their best unrevoked certificate score in the course. Each write
recomputes the member from Postgres and overwrites it, so replays and redeliveries are harmless.
"""

from __future__ import annotations

import contextlib

import psycopg
import redis

from learnstream.runtime.stages import stage

BEST_SCORES = (
    "SELECT learner_id, max(score) FROM certificates WHERE course_id = %s AND revoked_at IS NULL "
    "GROUP BY learner_id"
)


def leaderboard_key(prefix: str, course_id: str) -> str:
    return f"{prefix}leaderboard:{course_id}"


def refresh_members(
    conn: psycopg.Connection, client: redis.Redis[str], prefix: str, members: set[tuple[str, str]]
) -> None:
    """Rewrite the (course, learner) members from Postgres: one query, one Redis pipeline."""
    if not members:
        return
    wanted = sorted(members)
    best = {
        (course, learner): score
        for course, learner, score in conn.execute(
            # From the members to their certificates (an index lookup each): written as
            # "(course, learner) IN (unnest)" the planner compared every certificate with
            # every member.
            "SELECT c.course_id, c.learner_id, max(c.score) "
            "FROM unnest(%s::text[], %s::text[]) AS u(course_id, learner_id) "
            "JOIN certificates c ON c.course_id = u.course_id AND c.learner_id = u.learner_id "
            "WHERE c.revoked_at IS NULL GROUP BY c.course_id, c.learner_id",
            ([c for c, _ in wanted], [learner for _, learner in wanted]),
        )
    }
    pipe = client.pipeline(transaction=False)
    for course, learner in wanted:
        key = leaderboard_key(prefix, course)
        score = best.get((course, learner))
        if score is None:
            pipe.zrem(key, learner)
        else:
            pipe.zadd(key, {learner: float(score)})
    with stage("redis"):
        pipe.execute()


def load_leaderboard(
    conn: psycopg.Connection,
    client: redis.Redis[str] | None,
    prefix: str,
    course_id: str,
    limit: int,
) -> tuple[list[tuple[str, float]], bool]:
    """Top `limit` (learner, score), from Redis when it has the course, else from Postgres
    (refilling Redis). The flag says whether Redis answered."""
    key = leaderboard_key(prefix, course_id)
    if client is not None:
        try:
            cached = client.zrange(key, 0, -1, withscores=True)
            if cached:
                ranked = sorted(((str(m), float(s)) for m, s in cached), key=_rank)
                return ranked[:limit], True
        except redis.RedisError:
            client = None
    rows = [
        (str(learner), float(score)) for learner, score in conn.execute(BEST_SCORES, (course_id,))
    ]
    if client is not None and rows:
        with contextlib.suppress(
            redis.RedisError
        ):  # a cache refill that fails is retried next read
            # NX: a member the stream wrote since this snapshot keeps the stream's score.
            client.zadd(key, dict(rows), nx=True)
    rows.sort(key=_rank)
    return rows[:limit], False


def _rank(entry: tuple[str, float]) -> tuple[float, str]:
    """Best score first; ties by learner id, the same order whichever store answered."""
    return -entry[1], entry[0]
