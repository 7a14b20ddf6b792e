"""Progress agent: learning activity + catalogs → pair timelines → progress and completions.

A thin shell: state in and out of Postgres (store), rules in rules and timeline.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import redis

from learnstream import ids
from learnstream.names import COURSE_PUBLISHED as CATALOG
from learnstream.runtime import watermarks
from learnstream.runtime.errors import InvalidContent
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.locks import lock_learners
from learnstream.runtime.records import Event, Outbound
from learnstream.settings import Settings
from learnstream.topology import load_topology
from streams.catalog import course_rules
from streams.progress import store
from streams.progress.due_sweep import pending
from streams.progress.events import emissions
from streams.progress.pair_cache import PairCache
from streams.progress.rules import to_fact
from streams.progress.timeline import Completion, Progress, kept_timeline, progress_as_of
from streams.validation import validate_event
from streams.views.dashboards import refresh_learners

FACT_IDS = "_ids"  # the ids of its facts, kept in memory only
Pair = store.Pair


class ProgressHandler(BaseHandler):
    consumer = "progress"

    def __init__(
        self,
        activity_topic: str,
        partitions: int,
        catalog_topic: str,
        client: redis.Redis[str] | None = None,
        prefix: str = "learnstream:",
        cache_learners: int = 0,
    ) -> None:
        self.activity_topic = activity_topic  # the topic whose low watermark is the clock
        self.partitions = partitions
        self.catalog_topic = catalog_topic  # must be caught up before time-based decisions
        self.client = client  # Redis views (dashboards, features); None in pure-Postgres tests
        self.prefix = prefix
        self._touched: set[str] = set()  # learners whose views this batch rewrote
        self.pairs = PairCache(cache_learners)  # pair state kept between batches

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def clock(
        self, conn: psycopg.Connection, end_offsets: dict[tuple[str, int], int] | None = None
    ) -> int | None:
        """The low watermark of the activity topic; None while catalogs are still unapplied
        (a decision needs every catalog version published before its threshold)."""
        if end_offsets is None:
            return watermarks.low_watermark(
                conn, self.consumer, self.activity_topic, self.partitions
            )
        catalogs = {p: e for (t, p), e in end_offsets.items() if t == self.catalog_topic}
        if not watermarks.caught_up(conn, self.consumer, self.catalog_topic, catalogs):
            return None
        activity = {p: e for (t, p), e in end_offsets.items() if t == self.activity_topic}
        return watermarks.low_watermark(
            conn, self.consumer, self.activity_topic, self.partitions, activity
        )

    def clock_topics(self) -> list[str]:
        return [self.activity_topic, self.catalog_topic]

    def backlog_topics(self) -> list[str]:
        return self.clock_topics()

    def backlog(
        self, conn: psycopg.Connection, end_offsets: dict[tuple[str, int], int]
    ) -> dict[str, int]:
        """Due decisions owed at the clock (the learner lane's sweep takes them)."""
        return {"due_sweep": len(pending(conn, self, end_offsets)[1])}

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        catalogs = [e for e in events if e.name == CATALOG]
        learning: dict[Pair, list[dict[str, Any]]] = {}
        tenants: dict[Pair, str] = {}
        partitions: dict[Pair, int] = {}  # the lane partition each pair's events arrive on
        for event in events:
            if event.name == CATALOG:
                continue
            fact = to_fact(
                event.name, event.record, ids.epoch_ms(event.occurred_at), event.event_id
            )
            if fact is None:
                raise InvalidContent(f"{event.name} is not a progress event")
            pair = (event.record["learner_id"], event.record["course_id"])
            learning.setdefault(pair, []).append(fact)
            tenants[pair] = event.tenant_id
            if event.source.partition >= 0:
                partitions[pair] = event.source.partition
        changed_courses = {e.record["course_id"] for e in catalogs}
        if not catalogs:  # the common batch: its own pairs only, all locks in one round trip
            store.lock_courses_then_learners(
                conn, {course for _, course in learning}, {learner for learner, _ in learning}
            )
        else:
            store.lock_courses(conn, {course for _, course in learning}, changed_courses)
            store.save_versions(
                conn,
                [
                    (
                        e.tenant_id,
                        course_rules(e.record, ids.epoch_ms(e.occurred_at), e.event_id),
                        e.record,
                    )
                    for e in catalogs
                ],
            )
        pairs = set(learning) | store.pairs_of_courses(conn, changed_courses)
        if not pairs:
            return []
        if catalogs:
            lock_learners(conn, {learner for learner, _ in pairs})  # one sorted acquisition
        seen: dict[tuple[str, int], int] = {}
        for event in events:
            if event.name != CATALOG:
                key = (event.source.topic, event.source.partition)
                seen[key] = max(seen.get(key, 0), ids.epoch_ms(event.occurred_at))
        watermarks.advance_watermarks(conn, self.consumer, seen)
        watermark = self.clock(conn) or 0  # unknown clock: nothing is overdue yet
        states = self.pairs.states(conn, pairs)
        versions = store.load_versions(conn, {course for _, course in pairs})
        outbound: list[Outbound] = []
        views: list[tuple[Pair, str, Progress]] = []
        completions: list[tuple[Pair, str, Completion]] = []
        new_facts: dict[Pair, list[dict[str, Any]]] = {}
        for pair in sorted(pairs):
            state = states.get(pair) or {"tenant_id": tenants[pair], "facts": [], "emitted": {}}
            known = _fact_ids(state)
            fresh = new_facts[pair] = [f for f in learning.get(pair, []) if f["id"] not in known]
            state["facts"] += fresh
            known.update(f["id"] for f in fresh)
            timeline = kept_timeline(state, fresh, versions.get(pair[1], []))
            progress = progress_as_of(timeline, watermark)
            said = dict(state.get("emitted", {}).get("completed_as", {}))
            outbound += emissions(pair, state, timeline, progress)
            # A completion's row is written with its course.completed event: once, and again
            # when a late fact corrects it (progress_events.emissions).
            now = state["emitted"]["completed_as"]
            completions += [
                (pair, state["tenant_id"], c)
                for c in timeline.completions
                if now.get(str(c.attempt)) != said.get(str(c.attempt))
            ]
            state["catalog_version"] = timeline.course.version if timeline.course else None
            states[pair] = state
            views.append((pair, state["tenant_id"], progress))
        self.pairs.written(states, store.save_pairs(conn, states, new_facts, partitions))
        store.save_progress(conn, views)
        self._touched.update(learner for learner, _ in pairs)
        save_completions(conn, completions)
        return outbound

    def materialize(self, conn: psycopg.Connection, events: list[Event]) -> None:
        """Rewrite the dashboards and feature hashes of the learners this batch changed, from
        its own state, before COMMIT (streams/views/dashboards.py). A savepoint that was rolled
        back may have added learners: rewriting a view from the current state is harmless."""
        del events  # a catalog batch changes the pairs of its courses, not only its keys
        if self.client is not None:
            refresh_learners(conn, self.client, self.prefix, self.take_touched())

    def committed(self) -> None:
        self.pairs.committed()

    def rolled_back(self) -> None:
        self.pairs.rolled_back()

    def revoked(self) -> None:
        self.pairs.clear()

    def take_touched(self) -> set[str]:
        """The learners whose views the batch changed (and forget them)."""
        touched, self._touched = self._touched, set()
        return touched


def _fact_ids(state: dict[str, Any]) -> set[str]:
    """The ids of the pair's facts, kept in memory with the state (a duplicate is dropped)."""
    known: set[str] | None = state.get(FACT_IDS)
    if known is None:
        known = state[FACT_IDS] = {f["id"] for f in state["facts"]}
    return known


def save_completions(conn: psycopg.Connection, rows: list[tuple[Pair, str, Completion]]) -> None:
    if not rows:
        return
    conn.execute(
        "INSERT INTO completions (completion_id, learner_id, course_id, attempt, completed_at, "
        "score) SELECT i, l, c, a, to_timestamp(t / 1000.0), s FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(i uuid, l text, c text, a int, t bigint, s double precision) "
        "ON CONFLICT (completion_id) DO UPDATE "
        "SET completed_at = EXCLUDED.completed_at, score = EXCLUDED.score",
        (
            json.dumps(
                [
                    {
                        "i": str(ids.completion_id(tenant, learner, course, c.attempt)),
                        "l": learner,
                        "c": course,
                        "a": c.attempt,
                        "t": c.completed_at,
                        "s": c.score,
                    }
                    for (learner, course), tenant, c in rows
                ]
            ),
        ),
    )


def build_handler(settings: Settings) -> ProgressHandler:
    from streams.views.layout import redis_prefix

    topology = load_topology(settings.topology_file)
    spec = topology.agents[ProgressHandler.consumer]
    (activity,), (catalog,) = spec.inputs, spec.tables  # topology check: one of each
    return ProgressHandler(
        settings.topic(activity),
        topology.partitions(activity),
        settings.topic(catalog),
        redis.Redis.from_url(settings.redis_address, decode_responses=True),
        redis_prefix(settings),
        settings.worker.state_cache_learners,
    )
