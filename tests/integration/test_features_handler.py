"""The features agent against real Postgres and Redis: state in Postgres, features in Redis,
recommendations from both. The progress agent runs first on the same events, as it does in
the worker, because completion state and catalogs are its tables."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from learnstream import ids
from learnstream.events import make_envelope
from learnstream.runtime.errors import InvalidContent
from learnstream.runtime.records import Event, InboundRecord
from learnstream.sdk.models import EVENT_MODELS
from learnstream.settings import Settings
from sinks.database import upgrade
from sinks.feature_tables import FEATURE_TABLES
from sinks.tables import Base
from streams.features.handler import FeaturesHandler
from streams.progress import handler as progress
from streams.views.recommendations import recommendations_for

pytestmark = pytest.mark.integration

L = "org.learnstream.learning."
CATALOG = "org.learnstream.catalog.course.published.v1"
T0 = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
_offsets = itertools.count()


def event(name: str, at: datetime, **fields: Any) -> Event:
    envelope = make_envelope(name, tenant_id="acme", source="/tests/features", occurred_at=at)
    # Through the SDK model, so the record is what a consumer decodes: valid and complete.
    record = EVENT_MODELS[name].from_avro({"envelope": envelope, **fields}).to_avro()
    topic, key = (
        ("catalog.course", fields["course_id"])
        if name == CATALOG
        else ("learning.activity", fields["learner_id"])
    )
    return Event(name, record, InboundRecord(topic, 0, next(_offsets), key.encode(), None))


def course(
    course_id: str,
    items: list[tuple[str, str]],
    *,
    skills: dict[str, float],
    prerequisites: list[str] | None = None,
    due_days: int | None = None,
) -> Event:
    module = {
        "module_id": f"{course_id}-m1",
        "title": "Module 1",
        "required": True,
        "items": [{"item_id": i, "kind": k, "required": True} for i, k in items],
    }
    return event(
        CATALOG,
        T0 - 10 * DAY,
        course_id=course_id,
        title=course_id.upper(),
        version=1,
        modules=[module],
        pass_mark=0.7,
        due_days=due_days,
        prerequisites=prerequisites or [],
        skills=[{"skill": s, "weight": w} for s, w in skills.items()],
    )


def enrol(learner: str, course_id: str, at: datetime) -> Event:
    return event(
        f"{L}enrollment.created.v1",
        at,
        enrollment_id=f"{learner}-{course_id}",
        learner_id=learner,
        course_id=course_id,
    )


def lesson(learner: str, course_id: str, lesson_id: str, at: datetime) -> Event:
    return event(
        f"{L}lesson.completed.v1",
        at,
        learner_id=learner,
        course_id=course_id,
        lesson_id=lesson_id,
        time_spent_seconds=60.0,
    )


def graded(
    learner: str, course_id: str, item: str, attempt: int, score: float, at: datetime
) -> Event:
    return event(
        f"{L}assessment.graded.v1",
        at,
        learner_id=learner,
        course_id=course_id,
        assessment_id=item,
        attempt=attempt,
        score=score,
        max_score=10.0,
        pass_mark=0.7,
        passed=score >= 7.0,
    )


CATALOGS = [
    course(
        "sql-101",
        [("sql-l1", "LESSON"), ("sql-q1", "ASSESSMENT")],
        skills={"sql": 1.0},
        due_days=30,
    ),
    course("sql-201", [("sql-l2", "LESSON")], skills={"sql": 1.0}, prerequisites=["sql-101"]),
    course("py-101", [("py-l1", "LESSON")], skills={"py": 1.0}),
    course("ml-301", [("ml-l1", "LESSON")], skills={"ml": 1.0}, prerequisites=["py-101"]),
    course("ops-101", [("ops-l1", "LESSON")], skills={"ops": 0.5}),
    course("ops-102", [("ops-l2", "LESSON"), ("ops-l3", "LESSON")], skills={"ops": 0.5}),
]
BATCH_1 = [
    enrol("ann", "sql-101", T0 - 5 * DAY),
    lesson("ann", "sql-101", "sql-l1", T0 - 2 * DAY),
    graded("ann", "sql-101", "sql-q1", 1, 4.0, T0 - 2 * DAY + HOUR),
    enrol("bob", "py-101", T0 - DAY),
    lesson("bob", "py-101", "py-l1", T0),
]
BATCH_2 = [
    lesson("ann", "sql-101", "sql-l1", T0 - 2 * DAY + 3 * HOUR),  # late, same day as before
    graded("ann", "sql-101", "sql-q1", 2, 9.0, T0 + HOUR),  # passes: sql-101 completed
    enrol("cid", "ops-102", T0 + 2 * HOUR),
]


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    url = make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False)
    upgrade(url=url)
    engine = create_engine(url)
    Base.metadata.create_all(engine, tables=FEATURE_TABLES)  # until the migration has them
    engine.dispose()
    with psycopg.connect(pg_url) as connection:
        yield connection


@pytest.fixture
def handler(redis_client: tuple[redis.Redis, str]) -> FeaturesHandler:
    client, prefix = redis_client
    return FeaturesHandler(client, prefix)


def run(
    conn: psycopg.Connection, settings: Settings, handler: FeaturesHandler, events: list[Event]
) -> None:
    """One batch each, as the worker runs them: progress, then features (activity only), each
    writing its Redis view last before COMMIT, as the runtime does."""
    with conn.transaction():
        progress.build_handler(settings).apply(conn, events)
    activity = [e for e in events if e.name != CATALOG]
    with conn.transaction():
        handler.apply(conn, activity)
        handler.materialize(conn, activity)


def features(client: redis.Redis, prefix: str, learner: str) -> dict[str, str]:
    return dict(client.hgetall(f"{prefix}features:{learner}"))


def test_features_accumulate_over_batches_and_drive_recommendations(
    conn: psycopg.Connection,
    stack_settings: Settings,
    handler: FeaturesHandler,
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    run(conn, stack_settings, handler, CATALOGS + BATCH_1)

    ann = features(client, prefix, "ann")
    assert int(ann["as_of"]) == ids.epoch_ms(T0)  # the watermark: bob's lesson
    assert float(ann["events_per_day_7d"]) == pytest.approx(2 / 7)  # lesson + grade, not enrol
    assert float(ann["events_per_day_30d"]) == pytest.approx(2 / 30)
    assert float(ann["days_since_last_activity"]) == pytest.approx(2 - 1 / 24)
    assert (ann["enrolled_courses"], ann["completed_courses"]) == ("1", "0")
    assert float(ann["completion_rate"]) == 0.0
    assert float(ann["mean_score"]) == pytest.approx(0.4)
    assert json.loads(ann["mastery"]) == {"sql": pytest.approx(0.4)}
    assert 0 < client.ttl(f"{prefix}features:ann") <= 30 * 86_400
    bob = features(client, prefix, "bob")
    assert float(bob["completion_rate"]) == 1.0  # py-101's only lesson
    assert "mean_score" not in bob  # never graded
    assert client.zrange(f"{prefix}popularity", 0, -1, withscores=True) == [
        ("py-101", 1.0),
        ("sql-101", 1.0),
    ]
    assert client.hgetall(f"{prefix}popularity:completions") == {"py-101": "1", "sql-101": "0"}

    recs = recommendations_for(conn, client, "ann", key_prefix=prefix)
    assert [(r.kind, r.course_id, r.item_id) for r in recs] == [
        ("item", "sql-101", "sql-q1"),  # the failed assessment; the lesson is done
        ("course", "py-101", None),  # gap 1.0
        ("course", "ops-101", None),  # gap 0.5, no enrolments: catalog order
        ("course", "ops-102", None),
    ]  # sql-201 and ml-301: prerequisites not completed
    assert recs[0].reason.endswith("due 2025-04-04")

    run(conn, stack_settings, handler, BATCH_2)

    assert conn.execute(
        "SELECT day, events FROM learner_daily_activity WHERE learner_id = 'ann' ORDER BY day"
    ).fetchall() == [((T0 - 2 * DAY).date(), 3), (T0.date(), 1)]
    ann = features(client, prefix, "ann")
    assert int(ann["as_of"]) == ids.epoch_ms(T0 + 2 * HOUR)
    assert float(ann["events_per_day_7d"]) == pytest.approx(4 / 7)
    assert float(ann["days_since_last_activity"]) == pytest.approx(1 / 24)
    assert (ann["graded_attempts"], ann["completed_courses"]) == ("2", "1")
    assert float(ann["completion_rate"]) == 1.0
    assert float(ann["mean_score"]) == pytest.approx(0.65)
    # newer attempt weighs 1, older 0.5: (0.5 * 0.4 + 0.9) / 1.5
    assert json.loads(ann["mastery"]) == {"sql": pytest.approx(1.1 / 1.5)}
    assert client.zscore(f"{prefix}popularity", "ops-102") == 1.0
    assert client.hgetall(f"{prefix}popularity:completions") == {
        "ops-102": "0",
        "py-101": "1",
        "sql-101": "1",
    }

    expected = [
        ("course", "py-101", None),  # gap 1.0
        ("course", "ops-102", None),  # gap 0.5, 1 enrolment beats ops-101's none
        ("course", "ops-101", None),
        ("course", "sql-201", None),  # unlocked by sql-101; gap 1 - 0.733
    ]
    recs = recommendations_for(conn, client, "ann", key_prefix=prefix)
    assert [(r.kind, r.course_id, r.item_id) for r in recs] == expected
    assert recommendations_for(conn, client, "ann", limit=2, key_prefix=prefix) == recs[:2]
    cid = recommendations_for(conn, client, "cid", key_prefix=prefix)
    assert [(r.kind, r.item_id) for r in cid[:2]] == [("item", "ops-l2"), ("item", "ops-l3")]

    # Redis is only a cache: without it the same rules over Postgres say the same.
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    assert recommendations_for(conn, client, "ann", key_prefix=prefix) == recs
    assert handler.rebuild(conn) == 3
    assert features(client, prefix, "ann") == ann
    assert client.zscore(f"{prefix}popularity", "ops-102") == 1.0


def test_redis_written_by_a_rolled_back_batch_is_rewritten_from_postgres(
    conn: psycopg.Connection,
    stack_settings: Settings,
    handler: FeaturesHandler,
    redis_client: tuple[redis.Redis, str],
) -> None:
    with pytest.raises(InvalidContent):
        handler.validate(CATALOGS[0])  # not a learning.activity event
    client, prefix = redis_client
    run(conn, stack_settings, handler, CATALOGS + BATCH_1)
    ann = features(client, prefix, "ann")
    with conn.transaction():
        handler.apply(conn, [BATCH_2[2]])  # cid enrols in ops-102 ...
        handler.materialize(conn, [BATCH_2[2]])
        raise psycopg.Rollback()  # ... and the batch's transaction fails after Redis was written
    assert client.zscore(f"{prefix}popularity", "ops-102") == 1.0  # the cache ran ahead
    assert handler.rebuild(conn) == 2  # ann and bob: cid's batch never committed
    assert client.zscore(f"{prefix}popularity", "ops-102") is None
    assert features(client, prefix, "ann") == ann


def run_kept(
    conn: psycopg.Connection, settings: Settings, handler: FeaturesHandler, events: list[Event]
) -> None:
    """`run` with the lane's bookkeeping: the handler keeps its inputs between batches and learns
    that each batch committed."""
    run(conn, settings, handler, events)
    handler.committed()


def test_features_from_kept_inputs_equal_features_from_postgres(
    conn: psycopg.Connection,
    stack_settings: Settings,
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    kept = FeaturesHandler(client, prefix, cache_learners=100)
    run_kept(conn, stack_settings, kept, CATALOGS + BATCH_1)
    run_kept(conn, stack_settings, kept, BATCH_2)
    late_grade = graded("ann", "sql-101", "sql-q1", 3, 6.0, T0 + 3 * HOUR)
    last = [late_grade, lesson("bob", "py-101", "py-l1", T0 + DAY)]
    run_kept(conn, stack_settings, kept, [*last, lesson("cid", "ops-102", "ops-l2", T0 + DAY)])
    assert len(kept.cache) == 3  # ann, bob and cid stay in memory
    from_memory = {who: features(client, prefix, who) for who in ("ann", "bob", "cid")}

    FeaturesHandler(client, prefix).rebuild(conn)  # every hash again, from Postgres alone
    from_postgres = {who: features(client, prefix, who) for who in ("ann", "bob", "cid")}
    assert from_memory == from_postgres
    assert int(from_memory["ann"]["graded_attempts"]) == 3


def test_kept_inputs_written_by_someone_else_are_read_again(
    conn: psycopg.Connection,
    stack_settings: Settings,
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    kept = FeaturesHandler(client, prefix, cache_learners=100)
    run_kept(conn, stack_settings, kept, CATALOGS + BATCH_1)
    with conn.transaction():  # another writer (a rebuild, a previous owner) drops ann's grades
        conn.execute("DELETE FROM learner_grade_facts WHERE learner_id = 'ann'")
        conn.execute("UPDATE learner_activity SET updated_at = now() WHERE learner_id = 'ann'")
    run_kept(conn, stack_settings, kept, [lesson("ann", "sql-101", "sql-l1", T0 + HOUR)])
    ann = features(client, prefix, "ann")
    assert ann["graded_attempts"] == "0"  # the copy in memory still had the grade
    assert "mean_score" not in ann


def test_kept_inputs_of_a_rolled_back_batch_are_forgotten(
    conn: psycopg.Connection,
    stack_settings: Settings,
    redis_client: tuple[redis.Redis, str],
) -> None:
    client, prefix = redis_client
    kept = FeaturesHandler(client, prefix, cache_learners=100)
    run_kept(conn, stack_settings, kept, CATALOGS + BATCH_1)
    with pytest.raises(RuntimeError), conn.transaction():
        kept.apply(conn, [graded("ann", "sql-101", "sql-q1", 2, 9.0, T0 + HOUR)])
        raise RuntimeError("the batch fails after the features stage")
    kept.rolled_back()
    run_kept(conn, stack_settings, kept, [lesson("ann", "sql-101", "sql-l1", T0 + 2 * HOUR)])
    ann = features(client, prefix, "ann")
    assert ann["graded_attempts"] == "1"  # the rolled-back grade is not counted
    assert float(ann["mean_score"]) == pytest.approx(0.4)
