"""Next-best-content for one learner, for the read API: Postgres for what the learner has
started (progress agent's state) and the catalog, Redis for features when cached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from learnstream import ids
from streams.catalog import CourseRules
from streams.features.rules import (
    CoursePopularity,
    LearnerCourse,
    LearnerState,
    Recommendation,
    catalog_course,
    next_best_content,
)
from streams.features.store import (
    compute_features,
    compute_popularity,
    latest_catalogs,
    read_watermark,
)
from streams.progress.store import load_learners
from streams.progress.timeline import fold
from streams.views.layout import KEY_PREFIX, decode_features, features_key, popularity_keys


def recommendations_for(
    conn: psycopg.Connection,
    redis_client: redis.Redis[str],
    learner_id: str,
    limit: int = 5,
    *,
    key_prefix: str = KEY_PREFIX,
    as_of: int | None = None,
) -> list[Recommendation]:
    """The learner's top `limit` recommendations. `as_of` defaults to the features agent's
    event-time watermark, so a replayed history recommends what it did the first time."""
    clock = as_of if as_of is not None else read_watermark(conn)
    if clock is None:  # nothing consumed yet: no event time exists, wall time is all there is
        clock = ids.epoch_ms(datetime.now(UTC))
    cached = decode_features(redis_client.hgetall(features_key(key_prefix, learner_id)))
    if cached is not None:
        mastery = cached.mastery
    else:  # expired or never written (no activity yet): the same rules over Postgres state
        mastery = compute_features(conn, [learner_id], clock)[0].mastery
    popularity = cached_popularity(redis_client, key_prefix)
    if popularity is None:
        popularity = compute_popularity(conn, clock)
    catalog = [catalog_course(record) for _, record in sorted(latest_catalogs(conn).items())]
    state = LearnerState(learner_id, tuple(learner_courses(conn, learner_id)), mastery)
    return next_best_content(state, catalog, popularity)[:limit]


def cached_popularity(
    redis_client: redis.Redis[str], key_prefix: str
) -> dict[str, CoursePopularity] | None:
    ranking_key, completions_key = popularity_keys(key_prefix)
    pipe = redis_client.pipeline(transaction=True)
    pipe.zrange(ranking_key, 0, -1, withscores=True)
    pipe.hgetall(completions_key)
    ranking, completions = pipe.execute()
    if not ranking:
        return None
    done = {_text(k): int(v) for k, v in completions.items()}
    return {
        _text(course): CoursePopularity(_text(course), int(score), done.get(_text(course), 0))
        for course, score in ranking
    }


def learner_courses(conn: psycopg.Connection, learner_id: str) -> list[LearnerCourse]:
    """Status and due date from the progress view; which items are done from re-folding the
    pair's facts with the progress rules (the view keeps only counts)."""
    rows = conn.execute(
        "SELECT course_id, status, due_at FROM learner_course_progress WHERE learner_id = %s "
        "ORDER BY course_id",
        (learner_id,),
    ).fetchall()
    states = load_learners(conn, [learner_id])[learner_id][0]
    versions = _versions(conn, [row[0] for row in rows])
    courses = []
    for course_id, status, due_at in rows:
        facts_of_pair = states.get(course_id, {}).get("facts", [])
        timeline = fold(facts_of_pair, versions.get(course_id, []))
        facts, rules = timeline.facts, timeline.course
        done = frozenset(
            item
            for item, kind in (rules.required if rules else ())
            if rules is not None and facts.item_done(item, kind, rules)
        )
        courses.append(
            LearnerCourse(
                course_id=course_id,
                status=status,
                enrolled=facts.enrolled_at is not None and facts.active(),
                due_at=None if due_at is None else ids.epoch_ms(due_at),
                done_items=done,
            )
        )
    return courses


def _versions(conn: psycopg.Connection, course_ids: list[str]) -> dict[str, list[CourseRules]]:
    versions: dict[str, list[CourseRules]] = {}
    for course_id, rules in conn.execute(
        "SELECT course_id, rules FROM course_versions WHERE course_id = ANY(%s) ORDER BY version",
        (course_ids,),
    ):
        versions.setdefault(course_id, []).append(CourseRules.from_json(rules))
    return versions


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
