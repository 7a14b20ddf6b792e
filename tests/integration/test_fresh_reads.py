"""A read after a commit is never older than that commit (ADR 0012).

As a client app sees it: publish an event, wait until the worker's offset row says it was
applied, read the learner's progress through the read API (Redis first), and see the new value,
100 times in a row. The dashboard is read once before the loop so that a cache that is not kept
current by the stream would be served stale. Then the learner finishes the course with their
last event: their feature hash in Redis must show the completion without any further event.
Real Kafka, Postgres, Redis and worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from learnstream.runtime.drain import wait_until_drained
from learnstream.sdk import CoursePublished, EnrollmentCreated, LessonCompleted, Publisher
from learnstream.settings import Settings
from learnstream.topology import load_topology
from sinks.api import create_app
from streams.views.layout import decode_features, features_key, redis_prefix
from tests.support.pipeline import running_worker, wait_for
from tests.support.read_model import api_settings, auth

pytestmark = [pytest.mark.integration]
ROUNDS = 100
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
LEARNER, COURSE, TENANT = "fresh-1", "fresh-course", "acme"


def applied(
    conn: psycopg.Connection, consumer: str, topic: str, partition: int, offset: int
) -> bool:
    row = conn.execute(
        "SELECT next_offset FROM stream_offsets WHERE consumer = %s AND topic = %s "
        "AND partition = %s",
        (consumer, topic, partition),
    ).fetchone()
    return row is not None and row[0] > offset


def all_applied(conn: psycopg.Connection, topic: str, partition: int, offset: int) -> bool:
    rows = conn.execute(
        "SELECT next_offset FROM stream_offsets WHERE topic = %s AND partition = %s",
        (topic, partition),
    ).fetchall()
    return bool(rows) and all(row[0] > offset for row in rows)


def lesson(i: int, lesson_id: str) -> LessonCompleted:
    return LessonCompleted.new(
        tenant_id=TENANT,
        source="/lms",
        occurred_at=T0 + timedelta(seconds=10 + i),
        learner_id=LEARNER,
        course_id=COURSE,
        lesson_id=lesson_id,
        time_spent_seconds=1.0,
    )


def test_reads_after_a_commit_see_that_commit(world: Settings, pg_url: str, tmp_path: Path) -> None:
    prefix = redis_prefix(world)
    api = api_settings(pg_url, world, prefix)
    headers = auth(api, LEARNER, "learner")
    setup = [
        CoursePublished.new(
            tenant_id=TENANT,
            source="/catalog",
            occurred_at=T0,
            course_id=COURSE,
            title="Fresh",
            version=1,
            pass_mark=0.7,
            modules=[
                {
                    "module_id": "m1",
                    "title": "M1",
                    "required": True,
                    "items": [{"item_id": "final", "kind": "LESSON", "required": True}],
                }
            ],
        ),
        EnrollmentCreated.new(
            tenant_id=TENANT,
            source="/lms",
            occurred_at=T0 + timedelta(seconds=1),
            enrollment_id="e-1",
            learner_id=LEARNER,
            course_id=COURSE,
        ),
    ]
    cache = redis.Redis.from_url(world.redis_address, decode_responses=True)
    with (
        Publisher(world) as publisher,
        running_worker(world, tmp_path / "worker.log"),
        TestClient(create_app(api, world)) as client,
        psycopg.connect(world.postgres_url, autocommit=True) as conn,
    ):
        publisher.publish_many(setup)
        wait_until_drained(world, load_topology(world.topology_file))
        first = client.get(f"/learners/{LEARNER}/progress", headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["courses"][0]["time_spent_seconds"] == 0.0
        stale = []
        for i in range(1, ROUNDS + 1):
            delivery = publisher.publish(lesson(i, f"extra-{i}"))  # time spent grows by 1 s
            wait_for(
                lambda d=delivery: applied(conn, "progress", d.topic, d.partition, d.offset),
                30,
                f"progress applies offset {delivery.offset}",
            )
            body = client.get(f"/learners/{LEARNER}/progress", headers=headers)
            assert body.status_code == 200
            seen = body.json()["courses"][0]["time_spent_seconds"]
            if seen != float(i):
                stale.append((i, seen, body.headers.get("x-learnstream-cache")))
        assert stale == [], f"{len(stale)} of {ROUNDS} reads were older than the commit"

        # The last event of a learner who finishes: every consumer of the activity (however the
        # stages are deployed, fused or not) applies it; the feature hash must then show the
        # completion, with no further event.
        done = publisher.publish(lesson(ROUNDS + 1, "final"))
        wait_for(
            lambda: all_applied(conn, done.topic, done.partition, done.offset),
            30,
            "every consumer applies the final lesson",
        )
        final = client.get(f"/learners/{LEARNER}/progress", headers=headers).json()
        assert final["courses"][0]["status"] == "completed"
        features = decode_features(cache.hgetall(features_key(prefix, LEARNER)))
        assert features is not None
        assert (features.completed_courses, features.enrolled_courses) == (1, 1)
