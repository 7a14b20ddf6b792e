"""Postgres state of the features agent (sinks/feature_tables.py): folding a batch in, and
computing features and course popularity back out of it with the pure rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import orjson
import psycopg

from learnstream import ids, names
from learnstream.runtime.records import Event
from learnstream.runtime.watermarks import advance_watermarks
from streams.features import rules
from streams.features.activity_cache import ActivityCache, BatchActivity, LearnerInputs, load_inputs
from streams.features.rules import CoursePopularity, GradeFact, LearnerFeatures, PairStatus

CONSUMER = "features"
# What counts as activity is what docs/domain-rules.md counts for last_activity_at: enrolling
# or cancelling is not engagement.
ENGAGEMENT = names.ACTIVITY - {names.ENROLLMENT_CREATED, names.ENROLLMENT_CANCELLED}
_EPOCH_DAY = date(1970, 1, 1)


# --- batch in ---------------------------------------------------------------------------------
def day_date(day: int) -> date:
    return _EPOCH_DAY + timedelta(days=day)


def record_events(conn: psycopg.Connection, events: Iterable[Event]) -> BatchActivity:
    """Fold the batch into the agent's tables, one statement per table. The counters are
    incremented (`+=`), which is not idempotent by itself: it is safe because the runtime
    applies each event once per consumer (processed_events and offsets commit in this same
    transaction)."""
    daily: Counter[tuple[str, int]] = Counter()
    enrolments: Counter[tuple[str, int, int]] = Counter()  # (course, day, input partition)
    learners: dict[str, tuple[str, int | None]] = {}
    grades: list[dict[str, Any]] = []
    batch = BatchActivity(daily=daily)
    for event in events:
        r, t = event.record, ids.epoch_ms(event.occurred_at)
        learner = r["learner_id"]
        last = learners.get(learner, (event.tenant_id, None))[1]
        if event.name in ENGAGEMENT:
            daily[(learner, rules.day_of(t))] += 1
            last = t if last is None else max(last, t)
        learners[learner] = (event.tenant_id, last)
        if event.name == names.ENROLLMENT_CREATED:
            enrolments[(r["course_id"], rules.day_of(t), event.source.partition)] += 1
        elif event.name in (names.ASSESSMENT_GRADED, names.GRADE_CORRECTED):
            fact = GradeFact(
                event.event_id,
                t,
                "graded" if event.name == names.ASSESSMENT_GRADED else "corrected",
                r["course_id"],
                r["assessment_id"],
                r["attempt"],
                r.get("score"),
                r.get("max_score"),
                r.get("action"),
                r.get("new_score"),
            )
            batch.grades.append((learner, fact))
            grades.append(
                {
                    "l": learner,
                    "e": event.event_id,
                    "k": "graded" if event.name == names.ASSESSMENT_GRADED else "corrected",
                    "c": r["course_id"],
                    "a": r["assessment_id"],
                    "n": r["attempt"],
                    "t": t,
                    "s": r.get("score"),
                    "m": r.get("max_score"),
                    "x": r.get("action"),
                    "ns": r.get("new_score"),
                }
            )
    # Rows travel as one JSON document each (see progress_store.save_pairs), sorted: concurrent
    # batches (other partitions) lock shared course rows in one order.
    rows = _upsert(
        conn,
        "INSERT INTO learner_activity (learner_id, tenant_id, last_activity_at) "
        "SELECT l, t, to_timestamp(a / 1000.0) FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(l text, t text, a bigint) ON CONFLICT (learner_id) DO UPDATE SET "
        "tenant_id = EXCLUDED.tenant_id, last_activity_at = "
        "GREATEST(learner_activity.last_activity_at, EXCLUDED.last_activity_at), "
        "updated_at = now() RETURNING learner_id, xmin::text",
        [{"l": k, "t": learners[k][0], "a": learners[k][1]} for k in sorted(learners)],
    )
    batch.versions = dict(rows)
    batch.last = {learner: last for learner, (_, last) in learners.items()}
    _upsert(
        conn,
        "INSERT INTO learner_daily_activity (learner_id, day, events) "
        "SELECT l, date '1970-01-01' + d, n FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(l text, d int, n int) ON CONFLICT (learner_id, day) DO UPDATE SET "
        "events = learner_daily_activity.events + EXCLUDED.events",
        [{"l": k[0], "d": k[1], "n": n} for k, n in sorted(daily.items())],
    )
    _upsert(
        conn,
        "INSERT INTO course_daily_enrolments (course_id, day, source_partition, enrolments) "
        "SELECT c, date '1970-01-01' + d, p, n FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(c text, d int, p smallint, n int) "
        "ON CONFLICT (course_id, day, source_partition) DO UPDATE SET "
        "enrolments = course_daily_enrolments.enrolments + EXCLUDED.enrolments",
        [{"c": k[0], "d": k[1], "p": k[2], "n": n} for k, n in sorted(enrolments.items())],
    )
    _upsert(
        conn,
        "INSERT INTO learner_grade_facts (learner_id, event_id, kind, course_id, "
        "assessment_id, attempt, occurred_at, score, max_score, action, new_score) "
        "SELECT l, e, k, c, a, n, to_timestamp(t / 1000.0), s, m, x, ns "
        "FROM jsonb_to_recordset(%s::jsonb) AS u(l text, e uuid, k text, c text, a text, "
        "n int, t bigint, s double precision, m double precision, x text, "
        "ns double precision) ON CONFLICT DO NOTHING",
        grades,
    )
    return batch


def _upsert(conn: psycopg.Connection, sql: str, rows: list[dict[str, Any]]) -> list[Any]:
    if not rows:
        return []
    cur = conn.execute(sql, (orjson.dumps(rows).decode(),))
    return cur.fetchall() if cur.description else []


def advance_watermark(conn: psycopg.Connection, events: Iterable[Event]) -> None:
    """The largest event time seen, kept per input partition: members that own different
    partitions never wait for each other's row (one shared row serialised their commits)."""
    seen: dict[tuple[str, int], int] = {}
    for event in events:
        key = (event.source.topic, event.source.partition)
        seen[key] = max(seen.get(key, 0), ids.epoch_ms(event.occurred_at))
    advance_watermarks(conn, CONSUMER, seen)


def read_watermark(conn: psycopg.Connection) -> int | None:
    """The features clock: the largest event time seen on any partition (databases migrated
    from before per-partition clocks still hold it in `watermarks`: read both)."""
    row = conn.execute(
        "SELECT GREATEST((SELECT max(event_time) FROM partition_watermarks WHERE consumer = %s), "
        "(SELECT event_time FROM watermarks WHERE consumer = %s))",
        (CONSUMER, CONSUMER),
    ).fetchone()
    return None if row is None or row[0] is None else ids.epoch_ms(row[0])


def latest_catalogs(
    conn: psycopg.Connection, course_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The highest published version's catalog record per course (all courses when None)."""
    wanted = None if course_ids is None else sorted(course_ids)
    rows = conn.execute(
        "SELECT DISTINCT ON (course_id) course_id, catalog FROM course_versions "
        "WHERE %(wanted)s::text[] IS NULL OR course_id = ANY(%(wanted)s) "
        "ORDER BY course_id, version DESC",
        {"wanted": wanted},
    ).fetchall()
    return {course_id: catalog for course_id, catalog in rows}


# (database, course, version) -> the version's skills: a published version never changes
_SKILLS: dict[tuple[str, str, int], Any] = {}


def latest_skills(conn: psycopg.Connection, course_ids: Iterable[str]) -> dict[str, Any]:
    """The skills of each course's highest published version. A version is immutable once
    published, so its skills are parsed once per process; each call asks only which version
    is the highest (the catalog documents are large next to a batch's features)."""
    latest = conn.execute(
        "SELECT DISTINCT ON (course_id) course_id, version FROM course_versions "
        "WHERE course_id = ANY(%s) ORDER BY course_id, version DESC",
        (sorted(course_ids),),
    ).fetchall()
    db = conn.info.dbname
    unknown = [course for course, version in latest if (db, course, version) not in _SKILLS]
    if unknown:
        for course, version, catalog in conn.execute(
            "SELECT DISTINCT ON (course_id) course_id, version, catalog FROM course_versions "
            "WHERE course_id = ANY(%s) ORDER BY course_id, version DESC",
            (unknown,),
        ):
            _SKILLS[(db, course, version)] = rules.catalog_course(catalog).skills
    return {course: _SKILLS[(db, course, version)] for course, version in latest}


# --- features from state ---------------------------------------------------------------------
def compute_features(
    conn: psycopg.Connection,
    learners: Sequence[str],
    as_of: int,
    *,
    pairs: Mapping[str, list[PairStatus]] | None = None,
    cache: ActivityCache | None = None,
) -> list[LearnerFeatures]:
    """Features of `learners` as of `as_of`, from Postgres (or the lane's validated copies in
    `cache`). Completion state comes from the progress agent's view (`pairs`, when the caller
    read those rows already), so it may trail this agent by a batch until the learner's next
    event (or a rebuild) recomputes it."""
    first_day = rules.day_of(as_of) - rules.LONG_WINDOW_DAYS + 1
    inputs: dict[str, LearnerInputs] = (
        load_inputs(conn, list(learners), first_day)
        if cache is None
        else cache.inputs(conn, learners, first_day)
    )
    if pairs is None:
        pairs = pair_statuses(conn, learners)
    courses = {g.course_id for i in inputs.values() for g in i.grades.values()}
    skills_of = latest_skills(conn, courses)
    return [
        rules.learner_features(
            learner,
            as_of,
            inputs[learner].daily,
            inputs[learner].last_activity,
            pairs.get(learner, []),
            inputs[learner].grades.values(),
            skills_of,
            inputs[learner].attempts(),
        )
        for learner in learners
    ]


def pair_statuses(conn: psycopg.Connection, learners: Sequence[str]) -> dict[str, list[PairStatus]]:
    found: dict[str, list[PairStatus]] = {learner: [] for learner in learners}
    for learner, course, status, enrolled_at in conn.execute(
        "SELECT learner_id, course_id, status, enrolled_at FROM learner_course_progress "
        "WHERE learner_id = ANY(%s)",
        (list(learners),),
    ):
        found[learner].append(PairStatus(course, status, enrolled_at is not None))
    return found


def compute_popularity(conn: psycopg.Connection, as_of: int) -> dict[str, CoursePopularity]:
    """Every course, every batch, because the window slides for courses nobody touched too.
    Enrolments read at most 30 rows per course; completions count the completed progress rows
    (status index), which grows with learners: count them incrementally if that gets costly."""
    last_day = rules.day_of(as_of)
    first_day = last_day - rules.LONG_WINDOW_DAYS + 1
    daily: dict[str, dict[int, int]] = {}
    for course, day, n in conn.execute(
        "SELECT course_id, day, sum(enrolments)::int FROM course_daily_enrolments "
        "WHERE day BETWEEN %s AND %s GROUP BY course_id, day",
        (day_date(first_day), day_date(last_day)),
    ):
        daily.setdefault(course, {})[(day - _EPOCH_DAY).days] = n
    completions: dict[str, int] = dict(
        conn.execute(
            "SELECT course_id, count(*) FROM learner_course_progress "
            "WHERE status = 'completed' GROUP BY course_id"
        ).fetchall()
    )
    return rules.course_popularity(daily, completions, as_of)
