"""A late fact that completes a pair earlier in event time than the completion already derived
corrects it: the completion row and the certificate end as if every fact had arrived in order
(order independence), and the corrected completion and certificate are emitted again under
the same ids, once. Real Postgres; the progress and certification stages as the fused lane
runs them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from learnstream import ids
from learnstream.events import make_envelope
from learnstream.names import CERTIFICATE_ISSUED, COURSE_COMPLETED
from learnstream.runtime.records import Event, InboundRecord, Outbound
from learnstream.sdk.models import EVENT_MODELS
from learnstream.settings import Settings
from learnstream.topology import event_topics
from sinks.database import upgrade
from streams.certification.handler import CertificationHandler
from streams.learner.pipeline import in_memory
from streams.progress.handler import ProgressHandler

pytestmark = pytest.mark.integration
TOPICS = event_topics(Settings().topology_file)  # event name -> topic, as the lane has it

L = "org.learnstream.learning."
CATALOG = "org.learnstream.catalog.course.published.v1"
T0 = datetime(2025, 3, 10, 9, 0, 0, 500_000, tzinfo=UTC)
MIN = timedelta(minutes=1)
VALIDITY_DAYS = 180
_offsets = itertools.count()


def progress_stage() -> ProgressHandler:
    return ProgressHandler("learning.activity", 6, "catalog.course")


def event(name: str, at: datetime, **fields: Any) -> Event:
    envelope = make_envelope(name, tenant_id="acme", source="/tests/late", occurred_at=at)
    record = EVENT_MODELS[name].from_avro({"envelope": envelope, **fields}).to_avro()
    key = fields.get("learner_id", fields["course_id"])
    return Event(name, record, InboundRecord("t", 0, next(_offsets), key.encode(), None))


CATALOG_EVENT = event(
    CATALOG,
    T0 - timedelta(days=10),
    course_id="sec-101",
    title="Security",
    version=1,
    modules=[
        {
            "module_id": "m1",
            "title": "M1",
            "required": True,
            "items": [
                {"item_id": "l1", "kind": "LESSON", "required": True},
                {"item_id": "l2", "kind": "LESSON", "required": True},
                {"item_id": "q1", "kind": "ASSESSMENT", "required": True},
            ],
        }
    ],
    pass_mark=0.7,
    certificate_validity_days=VALIDITY_DAYS,
    skills=[],
)


def journey(learner: str) -> tuple[list[Event], Event]:
    """What the learner did, in delivery order, and the lesson whose delivery is late: l2 was
    done at +20 min, the quiz passed at +30 min, and the client's module.completed came at
    +31 min. In event time the pair completed with the quiz; without l2, with the module."""
    course = {"learner_id": learner, "course_id": "sec-101"}
    on_time = [
        event(f"{L}enrollment.created.v1", T0, enrollment_id=f"e-{learner}", **course),
        event(
            f"{L}lesson.completed.v1",
            T0 + 10 * MIN,
            module_id="m1",
            lesson_id="l1",
            time_spent_seconds=60.0,
            **course,
        ),
        event(
            f"{L}assessment.graded.v1",
            T0 + 30 * MIN,
            module_id="m1",
            assessment_id="q1",
            attempt=1,
            score=9.0,
            max_score=10.0,
            pass_mark=0.7,
            passed=True,
            **course,
        ),
        event(f"{L}module.completed.v1", T0 + 31 * MIN, module_id="m1", **course),
    ]
    late = event(f"{L}lesson.completed.v1", T0 + 20 * MIN, module_id="m1", lesson_id="l2",
                 time_spent_seconds=60.0, **course)  # fmt: skip
    return on_time, late


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    upgrade(url=make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False))
    with psycopg.connect(pg_url) as connection:
        yield connection


def batch(conn: psycopg.Connection, stages: tuple[ProgressHandler, CertificationHandler],
          events: list[Event]) -> list[Outbound]:  # fmt: skip
    """One lane batch: progress, then certification over what it derived, one transaction."""
    progress, certification = stages
    with conn.transaction():
        derived = progress.apply(conn, events)
        certified = certification.apply(
            conn, [e for e in (in_memory(o, TOPICS) for o in derived) if certification.relevant(e)]
        )
    progress.committed()
    return derived + certified


def certificate(conn: psycopg.Connection, learner: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT c.attempt, c.issued_at, c.expires_at, c.score, p.completed_at, p.score "
        "FROM certificates c JOIN completions p USING (learner_id, course_id, attempt) "
        "WHERE c.learner_id = %s",
        (learner,),
    ).fetchall()
    assert len(row) == 1, row  # one certificate, one completion
    return tuple(row[0])


def named(out: list[Outbound], name: str) -> list[Outbound]:
    return [o for o in out if o.event_name == name]


def test_a_late_fact_corrects_the_completion_and_its_certificate_once(
    conn: psycopg.Connection,
) -> None:
    stages = (progress_stage(), CertificationHandler())
    batch(conn, stages, [CATALOG_EVENT])

    in_order, late = journey("bob")  # every fact in one batch: the reference
    batch(
        conn, stages, sorted([*in_order, late], key=lambda e: e.record["envelope"]["occurred_at"])
    )
    on_time, late = journey("ann")  # the late lesson in the next batch
    first = batch(conn, stages, on_time)
    corrected = batch(conn, stages, [late])
    again = batch(conn, stages, [late])  # redelivered: changes nothing

    quiz_passed = T0 + 30 * MIN
    expected = (1, quiz_passed, quiz_passed + timedelta(days=VALIDITY_DAYS), 0.9, quiz_passed, 0.9)
    assert certificate(conn, "bob") == expected
    assert certificate(conn, "ann") == expected

    # first derived from the module event, then corrected under the same ids
    [done_first] = named(first, COURSE_COMPLETED)
    [done_again] = named(corrected, COURSE_COMPLETED)
    assert ids.epoch_ms(done_first.record["completed_at"]) == ids.epoch_ms(T0 + 31 * MIN)
    assert ids.epoch_ms(done_again.record["completed_at"]) == ids.epoch_ms(quiz_passed)
    assert done_first.record["completion_id"] == done_again.record["completion_id"]
    assert done_first.event_id != done_again.event_id
    [issued_first] = named(first, CERTIFICATE_ISSUED)
    [issued_again] = named(corrected, CERTIFICATE_ISSUED)
    assert issued_first.record["certificate_id"] == issued_again.record["certificate_id"]
    assert ids.epoch_ms(issued_again.record["issued_at"]) == ids.epoch_ms(quiz_passed)
    assert not named(again, COURSE_COMPLETED) and not named(again, CERTIFICATE_ISSUED)


def test_a_state_kept_in_memory_or_reloaded_corrects_alike(conn: psycopg.Connection) -> None:
    """The emitted completion's values live in the pair state: a worker that lost its memory
    (restart, rebalance) between the two batches corrects exactly as one that kept it."""
    batch(conn, (progress_stage(), CertificationHandler()), [CATALOG_EVENT])
    on_time, late = journey("cid")
    batch(conn, (progress_stage(), CertificationHandler()), on_time)
    corrected = batch(conn, (progress_stage(), CertificationHandler()), [late])
    assert len(named(corrected, CERTIFICATE_ISSUED)) == 1
    quiz_passed = T0 + 30 * MIN
    assert certificate(conn, "cid")[1:3] == (
        quiz_passed,
        quiz_passed + timedelta(days=VALIDITY_DAYS),
    )


def test_the_last_snapshot_stays_in_memory_and_a_reload_derives_the_same_event(
    conn: psycopg.Connection,
) -> None:
    """The pair row keeps what a restart needs, not the last progress snapshot emitted. A
    handler that lost its memory derives that snapshot again under the same event id, so the
    outbox (one row per id) relays it once."""
    first = progress_stage()
    on_time, _ = journey("dan")
    out = first.apply(conn, [CATALOG_EVENT, *on_time])
    conn.commit()
    snapshots = [o.event_id for o in out if o.record.get("transition") == "snapshot"]
    row = conn.execute("SELECT state FROM pair_state WHERE learner_id = 'dan'").fetchone()
    assert row is not None
    [state] = row
    assert "snapshot" not in state["emitted"] and not any(k.startswith("_") for k in state)

    published_at = CATALOG_EVENT.occurred_at
    assert isinstance(published_at, datetime)
    republished = event(CATALOG, published_at, **{
        k: v for k, v in CATALOG_EVENT.record.items() if k != "envelope"
    })  # fmt: skip
    again = progress_stage().apply(conn, [republished])  # same version: nothing changes
    conn.rollback()
    assert [o.event_id for o in again] == snapshots[-1:]
