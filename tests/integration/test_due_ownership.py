"""Due decisions in the lane, on a real Postgres: each lane sweeps only the pairs whose events
arrive on the partitions it owns (pair_state.lane_partition), decides them from the state it
keeps in memory, exactly once; a pair written before the column existed is every lane's.
The progress stage writes the pairs as the fused lane runs it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from learnstream.events import make_envelope
from learnstream.runtime.records import Event, InboundRecord
from learnstream.sdk.models import EVENT_MODELS
from sinks.database import upgrade
from streams.progress.due_sweep import pending, sweep_due
from streams.progress.handler import ProgressHandler

pytestmark = pytest.mark.integration

L = "org.learnstream.learning."
CATALOG = "org.learnstream.catalog.course.published.v1"
TOPIC = "due-ownership.learning.activity"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
_offsets = itertools.count()


def event(name: str, at: datetime, partition: int, **fields: Any) -> Event:
    envelope = make_envelope(name, tenant_id="acme", source="/tests/due", occurred_at=at)
    record = EVENT_MODELS[name].from_avro({"envelope": envelope, **fields}).to_avro()
    key = fields.get("learner_id", fields.get("course_id", "")).encode()
    return Event(name, record, InboundRecord(TOPIC, partition, next(_offsets), key, None))


def catalog() -> Event:
    return event(
        CATALOG,
        T0 - 10 * DAY,
        -1,  # a table record: it has no lane partition
        course_id="ops-101",
        title="Operations",
        version=1,
        modules=[
            {
                "module_id": "m1",
                "title": "M1",
                "required": True,
                "items": [{"item_id": "l1", "kind": "LESSON", "required": True}],
            }
        ],
        pass_mark=0.7,
        certificate_validity_days=None,
        skills=[],
    )


def enrolment(learner: str, partition: int) -> Event:
    return event(
        f"{L}enrollment.created.v1",
        T0,
        partition,
        enrollment_id=f"e-{learner}",
        learner_id=learner,
        course_id="ops-101",
        due_at=T0 + 10 * DAY,
    )


def late_activity(learner: str, partition: int) -> Event:
    """Something another learner did long after the due dates: it moves the clock."""
    return event(
        f"{L}enrollment.created.v1",
        T0 + 30 * DAY,
        partition,
        enrollment_id=f"e-{learner}",
        learner_id=learner,
        course_id="ops-101",
        due_at=None,
    )


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    upgrade(url=make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False))
    with psycopg.connect(pg_url) as connection:
        yield connection


def lane() -> ProgressHandler:
    return ProgressHandler(TOPIC, partitions=2, catalog_topic="due-ownership.catalog")


def apply(conn: psycopg.Connection, handler: ProgressHandler, events: list[Event]) -> None:
    with conn.transaction():
        handler.apply(conn, events)
    handler.committed()


def sweep(conn: psycopg.Connection, handler: ProgressHandler, mine: list[int]) -> set[Any]:
    with conn.transaction():
        alerts, more = sweep_due(conn, handler, None, mine)
    handler.committed()
    assert not more
    return {(a.key, a.record["transition"]) for a in alerts}


def test_each_lane_decides_its_own_partitions_once(conn: psycopg.Connection) -> None:
    first, second = lane(), lane()  # the members owning partitions 0 and 1
    apply(conn, first, [catalog(), enrolment("ann", 0), late_activity("zed-0", 0)])
    apply(conn, second, [enrolment("bob", 1), late_activity("zed-1", 1)])
    owed = {learner for learner, _ in pending(conn, first, None)[1]}
    assert {"ann", "bob"} <= owed  # the backlog check sees every lane's pairs

    assert sweep(conn, first, [0]) == {("ann", "overdue"), ("ann", "at_risk")}
    assert sweep(conn, first, [0]) == set()  # decided once
    assert sweep(conn, second, [1]) == {("bob", "overdue"), ("bob", "at_risk")}
    assert {learner for learner, _ in pending(conn, first, None)[1]} & {"ann", "bob"} == set()


def test_a_pair_without_a_lane_partition_is_every_lanes(conn: psycopg.Connection) -> None:
    first = lane()
    apply(conn, first, [catalog(), enrolment("cid", 1), late_activity("zed-0", 0)])
    apply(conn, first, [late_activity("zed-1", 1)])
    assert sweep(conn, first, [0]) == set()  # cid's events arrive on partition 1
    conn.execute("UPDATE pair_state SET lane_partition = NULL WHERE learner_id = 'cid'")
    conn.commit()
    assert sweep(conn, first, [0]) == {("cid", "overdue"), ("cid", "at_risk")}


def _timer(conn: psycopg.Connection, learner: str) -> datetime | None:
    row = conn.execute(
        "SELECT next_due_check_at FROM learner_course_progress WHERE learner_id = %s", (learner,)
    ).fetchone()
    assert row is not None
    value: datetime | None = row[0]
    return value


def test_a_pairs_timer_moves_on_with_its_decisions_and_rearms_on_a_new_due_date(
    conn: psycopg.Connection,
) -> None:
    """The sweep reads only armed pairs (next_due_check_at): at-risk first, then overdue, then
    nothing; a new due date arms the pair again, and its decisions are made for that date."""
    first = lane()
    apply(conn, first, [catalog(), enrolment("dee", 0)])
    assert _timer(conn, "dee") == T0 + 10 * DAY - 7 * DAY  # armed at the at-risk threshold
    # the clock passes the at-risk threshold (plus the allowed lateness), not the due date
    apply(conn, first, [event(f"{L}enrollment.created.v1", T0 + 6 * DAY, 0,
                              enrollment_id="e-zed", learner_id="zed", course_id="ops-101",
                              due_at=None)])  # fmt: skip
    apply(conn, first, [late_activity("zed-1", 1)])
    clock = first.clock(conn)
    assert clock is not None and clock < int((T0 + 10 * DAY).timestamp() * 1000)
    assert sweep(conn, first, [0, 1]) == {("dee", "at_risk")}
    assert _timer(conn, "dee") == T0 + 10 * DAY  # the overdue threshold is next
    assert sweep(conn, first, [0, 1]) == set()  # nothing read again, nothing raised again

    apply(conn, first, [late_activity("zed-0", 0)])  # the clock passes the due date
    assert sweep(conn, first, [0, 1]) == {("dee", "overdue")}
    assert _timer(conn, "dee") is None  # both decided: the pair leaves the sweep's index

    later = T0 + 40 * DAY
    moved = event(f"{L}enrollment.created.v1", T0 + DAY, 0, enrollment_id="e-dee",
                  learner_id="dee", course_id="ops-101", due_at=later)  # fmt: skip
    apply(conn, first, [moved])
    due = _timer(conn, "dee")
    assert due is not None and due == later - 7 * DAY  # armed again, for the new date
