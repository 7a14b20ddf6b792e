"""The batch's one atomic Redis write (streams/views/layout.py), against a real Redis: what it
leaves in each key is what the read API and the recommender decode."""

from __future__ import annotations

import json

import pytest
import redis

from streams.features.rules import CoursePopularity, LearnerFeatures
from streams.views.layout import (
    DASHBOARD_TTL_S,
    FEATURES_TTL_S,
    dashboard_key,
    decode_features,
    encode_features,
    features_key,
    popularity_keys,
    write_views,
)

pytestmark = [pytest.mark.integration]


def features(
    learner: str, *, mean_score: float | None, mastery: dict[str, float]
) -> LearnerFeatures:
    return LearnerFeatures(
        learner_id=learner,
        as_of=1_767_225_600_000,
        events_per_day_7d=1 / 3,
        events_per_day_30d=0.1,
        last_activity_at=1_767_225_000_000,
        days_since_last_activity=0,
        enrolled_courses=2,
        completed_courses=1,
        completion_rate=0.5,
        graded_attempts=0 if mean_score is None else 3,
        mean_score=mean_score,
        mastery=mastery,
    )


def test_dashboards_and_feature_hashes_as_the_readers_decode_them(
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    body = json.dumps([{"course_id": "ç-1", "percent": 50.0, "title": 'Grüße "quoted"'}])
    graded = features("l-1", mean_score=0.75, mastery={"sql": 0.5})
    write_views(client, prefix, dashboards={"l-1": body, "l-2": "[]"}, features=[graded])

    assert client.get(dashboard_key(prefix, "l-1")) == body  # byte for byte, unicode kept
    assert client.get(dashboard_key(prefix, "l-2")) == "[]"
    assert client.hgetall(features_key(prefix, "l-1")) == encode_features(graded)
    assert decode_features(client.hgetall(features_key(prefix, "l-1"))) == graded
    assert not client.exists(features_key(prefix, "l-2"))  # no features given: none written
    assert 0 < client.ttl(dashboard_key(prefix, "l-1")) <= DASHBOARD_TTL_S
    assert DASHBOARD_TTL_S < client.ttl(features_key(prefix, "l-1")) <= FEATURES_TTL_S


def test_a_field_that_became_none_is_deleted_and_the_others_kept(
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    write_views(client, prefix, features=[features("l-1", mean_score=0.8, mastery={})])
    voided = features("l-1", mean_score=None, mastery={})
    write_views(client, prefix, features=[voided])

    stored = client.hgetall(features_key(prefix, "l-1"))
    assert "mean_score" not in stored
    assert stored == encode_features(voided)
    assert client.get(dashboard_key(prefix, "l-1")) is None  # features only: no dashboard


def test_the_popularity_ranking_is_replaced_whole_beyond_one_chunk(
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    ranking, completions = popularity_keys(prefix)
    many = {f"c-{i:04d}": CoursePopularity(f"c-{i:04d}", i, i // 2) for i in range(2_500)}
    write_views(client, prefix, popularity=many)
    assert client.zcard(ranking) == 2_500 and client.hlen(completions) == 2_500
    assert client.zscore(ranking, "c-2499") == 2_499
    assert client.hget(completions, "c-2499") == "1249"

    write_views(client, prefix, popularity={"c-new": CoursePopularity("c-new", 7, 3)})
    assert client.zrange(ranking, 0, -1, withscores=True) == [("c-new", 7.0)]
    assert client.hgetall(completions) == {"c-new": "3"}

    write_views(client, prefix, popularity={})  # no course left: both keys are gone
    assert not client.exists(ranking, completions)
