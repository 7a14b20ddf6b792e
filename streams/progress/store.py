"""Postgres reads and writes of the progress agent: pair facts, catalog versions, the view."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from learnstream.clock import AT_RISK_WINDOW_MS
from learnstream.ids import from_epoch_ms
from learnstream.runtime.locks import learner_lock_key
from streams.catalog import CourseRules
from streams.progress.timeline import Progress

Pair = tuple[str, str]  # (learner_id, course_id)


def course_lock_key(course_id: str) -> int:
    return zlib.crc32(f"course:{course_id}".encode())


def lock_courses(conn: psycopg.Connection, shared: set[str], exclusive: set[str]) -> None:
    """A catalog change re-folds every pair of its course; an activity batch must either see
    the new version or be seen by that re-fold, so they exclude each other per course."""
    courses = sorted(shared | exclusive, key=course_lock_key)
    if not courses:
        return
    # One round trip; the ordered subquery takes the locks in key order, as every batch does.
    conn.execute(
        "SELECT CASE WHEN x THEN pg_advisory_xact_lock(k)::text "
        "ELSE pg_advisory_xact_lock_shared(k)::text END "
        "FROM (SELECT k, x FROM unnest(%s::bigint[], %s::bool[]) AS u(k, x) ORDER BY k) AS o",
        ([course_lock_key(c) for c in courses], [c in exclusive for c in courses]),
    ).fetchall()


def lock_courses_then_learners(
    conn: psycopg.Connection, courses: set[str], learners: set[str]
) -> None:
    """An activity batch's locks, in one round trip: its courses shared (lock_courses), then
    its learners (learnstream/runtime/locks.py), each in key order, the order every writer keeps."""
    course_keys = sorted({course_lock_key(c) for c in courses})
    learner_keys = sorted({learner_lock_key(learner) for learner in learners})
    if not course_keys and not learner_keys:
        return
    conn.execute(
        "SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k)::text "
        "ELSE pg_advisory_xact_lock(k)::text END FROM (SELECT k, s FROM "
        "unnest(%s::bigint[], %s::bool[]) WITH ORDINALITY AS u(k, s, o) ORDER BY o) AS x",
        (course_keys + learner_keys, [True] * len(course_keys) + [False] * len(learner_keys)),
    ).fetchall()


def save_versions(
    conn: psycopg.Connection, rows: list[tuple[str, CourseRules, dict[str, Any]]]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO course_versions (course_id, version, tenant_id, title, rules, catalog, "
            "published_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (
                    r.course_id,
                    r.version,
                    tenant,
                    catalog.get("title", ""),
                    Jsonb(r.to_json()),
                    Jsonb(_jsonable(catalog)),
                    from_epoch_ms(r.published_at),
                )
                for tenant, r, catalog in rows
            ],
        )


# (database, course, version, row version) -> its rules: a published version is never
# rewritten (ON CONFLICT DO NOTHING), so each is parsed once per process, and every batch
# gets the same objects (folds kept in memory compare them by identity first).
_RULES: dict[tuple[str, str, int, str], CourseRules] = {}


def load_versions(
    conn: psycopg.Connection, course_ids: Iterable[str]
) -> dict[str, list[CourseRules]]:
    """Each course's published versions, oldest first. Asks only which versions exist; the
    rules documents are read for versions this process has not seen."""
    wanted = list(course_ids)
    rows = conn.execute(
        "SELECT course_id, version, xmin::text FROM course_versions "
        "WHERE course_id = ANY(%s) ORDER BY version",
        (wanted,),
    ).fetchall()
    db = conn.info.dbname
    unknown = [(c, v) for c, v, x in rows if (db, c, v, x) not in _RULES]
    if unknown:
        for course, version, row_version, rules in conn.execute(
            "SELECT course_id, version, xmin::text, rules FROM course_versions "
            "WHERE (course_id, version) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
            ([c for c, _ in unknown], [v for _, v in unknown]),
        ):
            _RULES[(db, course, version, row_version)] = CourseRules.from_json(rules)
    versions: dict[str, list[CourseRules]] = {}
    for course, version, row_version in rows:
        rules = _RULES.get((db, course, version, row_version))
        if rules is None:  # rewritten between the two reads: read it again, whole
            return load_versions(conn, wanted)
        versions.setdefault(course, []).append(rules)
    return versions


def pairs_of_courses(conn: psycopg.Connection, course_ids: set[str]) -> set[Pair]:
    if not course_ids:  # an activity batch without catalog events: no round trip
        return set()
    rows = conn.execute(
        "SELECT learner_id, course_id FROM pair_state WHERE course_id = ANY(%s)",
        (sorted(course_ids),),
    ).fetchall()
    return {(learner, course) for learner, course in rows}


def load_pairs(conn: psycopg.Connection, pairs: set[Pair]) -> dict[Pair, dict[str, Any]]:
    """Pair state with its facts (no row locks: writers of a learner hold its advisory lock)."""
    learners = sorted({learner for learner, _ in pairs})
    loaded = load_learners(conn, learners)
    return {pair: loaded[pair[0]][0][pair[1]] for pair in pairs if pair[1] in loaded[pair[0]][0]}


def load_learners(
    conn: psycopg.Connection, learners: list[str], only: set[Pair] | None = None
) -> dict[str, tuple[dict[str, dict[str, Any]], dict[str, str]]]:
    """Every pair of each learner (or only the pairs in `only`): ({course: state with its
    facts}, {course: row version}). The row version (xmin) tells a cached copy whether anyone
    wrote the pair since."""
    found: dict[str, tuple[dict[str, dict[str, Any]], dict[str, str]]] = {
        learner: ({}, {}) for learner in learners
    }
    if not learners:
        return found
    for learner, course, tenant, state, xmin in conn.execute(
        "SELECT learner_id, course_id, tenant_id, state, xmin::text FROM pair_state "
        "WHERE learner_id = ANY(%s)",
        (learners,),
    ):
        if only is None or (learner, course) in only:
            found[learner][0][course] = {**state, "tenant_id": tenant, "facts": []}
            found[learner][1][course] = xmin
    # One JSON array per pair, parsed in one call: a row per fact cost a Python call each.
    for learner, course, facts in conn.execute(
        "SELECT learner_id, course_id, json_agg(fact)::text FROM pair_facts "
        "WHERE learner_id = ANY(%s) GROUP BY learner_id, course_id",
        (learners,),
    ):
        state = found[learner][0].get(course)
        if state is not None:  # facts are written with their pair's row, never without
            state["facts"] = json.loads(facts)
    return found


def row_versions(conn: psycopg.Connection, learners: list[str]) -> dict[str, dict[str, str]]:
    """{learner: {course: xmin}} of the learners' pair rows, to validate cached copies."""
    versions: dict[str, dict[str, str]] = {learner: {} for learner in learners}
    if learners:
        for learner, course, xmin in conn.execute(
            "SELECT learner_id, course_id, xmin::text FROM pair_state WHERE learner_id = ANY(%s)",
            (learners,),
        ):
            versions[learner][course] = xmin
    return versions


def save_pairs(
    conn: psycopg.Connection,
    states: dict[Pair, dict[str, Any]],
    new_facts: dict[Pair, list[dict[str, Any]]] | None = None,
    partitions: dict[Pair, int] | None = None,
) -> dict[Pair, str]:
    """Upsert the pairs' bookkeeping and append their new facts, one statement each; returns
    the rows' new versions (xmin), which a cache keeps to recognise its own writes. A pair's
    lane partition (whose due sweep decides it) is kept when this batch did not see one."""
    if not states:
        return {}
    keys = sorted(states)
    # The rows travel as one JSON document that the server unpacks: orjson writes it in C,
    # where psycopg's array dumper escapes every string in Python (ADR 0010, "Bulk writes").
    rows = conn.execute(
        "INSERT INTO pair_state (learner_id, course_id, tenant_id, state, catalog_version, "
        "lane_partition) SELECT l, c, t, s, v, p FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(l text, c text, t text, s jsonb, v int, p smallint) "
        "ON CONFLICT (learner_id, course_id) DO UPDATE SET state = EXCLUDED.state, "
        "catalog_version = EXCLUDED.catalog_version, "
        "lane_partition = coalesce(EXCLUDED.lane_partition, pair_state.lane_partition), "
        "updated_at = now() RETURNING learner_id, course_id, xmin::text",
        (
            _rows(
                {
                    "l": learner,
                    "c": course,
                    "t": states[(learner, course)]["tenant_id"],
                    "s": _bookkeeping(states[(learner, course)]),
                    "v": states[(learner, course)].get("catalog_version"),
                    "p": (partitions or {}).get((learner, course)),
                }
                for learner, course in keys
            ),
        ),
    ).fetchall()
    facts = [(pair, f) for pair, fs in sorted((new_facts or {}).items()) for f in fs]
    if facts:
        conn.execute(
            "INSERT INTO pair_facts (learner_id, course_id, fact_id, fact) "
            "SELECT l, c, f->>'id', f FROM jsonb_to_recordset(%s::jsonb) "
            "AS u(l text, c text, f jsonb) ON CONFLICT DO NOTHING",
            (_rows({"l": pair[0], "c": pair[1], "f": f} for pair, f in facts),),
        )
    return {(learner, course): xmin for learner, course, xmin in rows}


def _rows(rows: Iterable[dict[str, Any]]) -> str:
    return orjson.dumps(list(rows)).decode()


def _bookkeeping(state: dict[str, Any]) -> dict[str, Any]:
    """What pair_state.state keeps: not the facts (pair_facts), nor what lives in memory only
    (keys starting with "_", such as the folded timeline)."""
    return {k: v for k, v in state.items() if k not in ("tenant_id", "facts") and k[0] != "_"}


def save_progress(conn: psycopg.Connection, rows: list[tuple[Pair, str, Progress]]) -> None:
    """The progress view, one statement for the batch (times travel as epoch ms)."""
    if not rows:
        return
    conn.execute(
        "INSERT INTO learner_course_progress (learner_id, course_id, tenant_id, status, "
        "required_done, required_total, percent, time_spent_seconds, best_scores, "
        "last_activity_at, enrolled_at, due_at, completed_at, active, next_due_check_at) "
        "SELECT l, c, t, status, done, total, pct, spent, best, "
        f"{_ts('last')}, {_ts('enrolled')}, {_ts('due')}, {_ts('completed')}, active, "
        f"{_ts('chk')} FROM jsonb_to_recordset(%s::jsonb) AS u(l text, c text, t text, "
        "status text, done int, total int, pct double precision, spent double precision, "
        "best jsonb, last bigint, enrolled bigint, due bigint, completed bigint, active bool, "
        "chk bigint) "
        "ON CONFLICT (learner_id, course_id) DO UPDATE SET status = EXCLUDED.status, "
        "required_done = EXCLUDED.required_done, required_total = EXCLUDED.required_total, "
        "percent = EXCLUDED.percent, time_spent_seconds = EXCLUDED.time_spent_seconds, "
        "best_scores = EXCLUDED.best_scores, last_activity_at = EXCLUDED.last_activity_at, "
        "enrolled_at = EXCLUDED.enrolled_at, due_at = EXCLUDED.due_at, "
        "completed_at = EXCLUDED.completed_at, active = EXCLUDED.active, updated_at = now(), "
        # A new due date arms the due sweep's timer again (its decisions are per due date).
        "next_due_check_at = CASE WHEN EXCLUDED.due_at IS DISTINCT FROM "
        "learner_course_progress.due_at THEN EXCLUDED.next_due_check_at "
        "ELSE learner_course_progress.next_due_check_at END",
        (
            _rows(
                {
                    "l": learner,
                    "c": course,
                    "t": tenant,
                    "status": p.status,
                    "done": p.required_done,
                    "total": p.required_total,
                    "pct": p.percent,
                    "spent": p.time_spent_seconds,
                    "best": p.best_scores,
                    "last": p.last_activity_at,
                    "enrolled": p.enrolled_at,
                    "due": p.due_at,
                    "chk": None if p.due_at is None else p.due_at - AT_RISK_WINDOW_MS,
                    "completed": p.completed_at,
                    "active": p.active,
                }
                # sorted: concurrent writers (the due sweep) lock rows in one order
                for (learner, course), tenant, p in sorted(rows, key=lambda r: r[0])
            ),
        ),
    )


def _ts(column: str) -> str:
    """SQL for an epoch-ms column of a JSON recordset as timestamptz, exact to the ms."""
    return f"to_timestamp({column} / 1000.0)"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
