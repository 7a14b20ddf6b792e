"""The features stage's inputs in memory: each learner's daily activity counts, last activity and
graded attempts, loaded on first touch, kept across batches, updated with each batch's own
deltas, validated before every use (ADR 0010, "State in memory").

Postgres stays the truth, as for the pair state (streams/progress/pair_cache.py): every write of a
learner's features rows also writes its `learner_activity` row in the same transaction, so that
row's version (xmin) stands for all of them. Before a batch uses a cached learner, one index scan
compares it; a learner someone else wrote since (a rebuild, another member after a rebalance) is
read again. A rollback or a failed savepoint evicts what the transaction touched.

Computing a learner's features used to read about twenty rows per learner on every batch that
touched it: half of the lane's time under live load went there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from learnstream import ids
from learnstream.runtime.learner_cache import LearnerCache
from learnstream.runtime.metrics import STATE_CACHE_LEARNERS, STATE_CACHE_READS
from streams.features.rules import GradeFact, ScoredAttempt, effective_attempts

EPOCH_DAY = date(1970, 1, 1)


@dataclass
class LearnerInputs:
    """What the features rules need of one learner besides its pairs."""

    daily: dict[int, int] = field(default_factory=dict)  # UTC day -> engagement events
    last_activity: int | None = None
    grades: dict[str, GradeFact] = field(default_factory=dict)  # by event id
    version: str | None = None  # xmin of the learner_activity row; None: no row yet
    _attempts: list[ScoredAttempt] | None = None  # effective_attempts(grades), until they change

    def attempts(self) -> list[ScoredAttempt]:
        if self._attempts is None:
            self._attempts = effective_attempts(self.grades.values())
        return self._attempts


@dataclass
class BatchActivity:
    """One batch's effect on the features tables, as record_events wrote it."""

    daily: Counter[tuple[str, int]] = field(default_factory=Counter)
    last: dict[str, int | None] = field(default_factory=dict)  # every learner of the batch
    grades: list[tuple[str, GradeFact]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # learner_activity xmin after


class ActivityCache(LearnerCache[LearnerInputs]):
    def inputs(
        self, conn: psycopg.Connection, learners: Iterable[str], since_day: int
    ) -> dict[str, LearnerInputs]:
        """Current inputs of `learners`, read from Postgres where the copy is missing or stale
        (daily counts from `since_day` on: older days are outside every window still asked)."""
        wanted = sorted(set(learners))
        # Learners this transaction read already hold its state: only the others are checked.
        cached = [l for l in wanted if l in self._learners and l not in self._dirty]  # noqa: E741
        current = activity_versions(conn, cached)
        stale = [l for l in cached if current.get(l) != self._learners[l].version]  # noqa: E741
        missing = [learner for learner in wanted if learner not in self._learners] + stale
        STATE_CACHE_READS.labels("activity", "hit").inc(len(cached) - len(stale))
        STATE_CACHE_READS.labels("activity", "miss").inc(len(missing))
        self._learners.update(load_inputs(conn, missing, since_day))
        for learner in wanted:
            _forget_before(self._learners[learner], since_day)
        self._touch(wanted)
        STATE_CACHE_LEARNERS.labels("activity").set(len(self._learners))
        return {learner: self._learners[learner] for learner in wanted}

    def record(self, batch: BatchActivity) -> None:
        """Apply what record_events wrote to the copies read (and validated) before it."""
        for learner, last in batch.last.items():
            kept = self._learners.get(learner)
            if kept is None:
                continue  # not read first: read whole on next use
            if last is not None:
                kept.last_activity = (
                    last if kept.last_activity is None else max(kept.last_activity, last)
                )
            kept.version = batch.versions.get(learner)
            self._dirty.add(learner)
        for (learner, day), n in batch.daily.items():
            if (kept := self._learners.get(learner)) is not None:
                kept.daily[day] = kept.daily.get(day, 0) + n
        for learner, grade in batch.grades:
            if (kept := self._learners.get(learner)) is not None:
                kept.grades.setdefault(grade.event_id, grade)  # ON CONFLICT DO NOTHING
                kept._attempts = None


def _forget_before(inputs: LearnerInputs, since_day: int) -> None:
    if inputs.daily and min(inputs.daily) < since_day:
        inputs.daily = {day: n for day, n in inputs.daily.items() if day >= since_day}


def activity_versions(conn: psycopg.Connection, learners: list[str]) -> dict[str, str]:
    if not learners:
        return {}
    rows = conn.execute(
        "SELECT learner_id, xmin::text FROM learner_activity WHERE learner_id = ANY(%s)",
        (learners,),
    )
    return dict(rows.fetchall())


def load_inputs(
    conn: psycopg.Connection, learners: list[str], since_day: int
) -> dict[str, LearnerInputs]:
    """The learners' inputs from Postgres, one statement per table."""
    found = {learner: LearnerInputs() for learner in learners}
    if not learners:
        return found
    for learner, day, n in conn.execute(
        "SELECT learner_id, day, events FROM learner_daily_activity "
        "WHERE learner_id = ANY(%s) AND day >= %s",
        (learners, EPOCH_DAY + timedelta(days=since_day)),
    ):
        found[learner].daily[(day - EPOCH_DAY).days] = n
    for learner, last, version in conn.execute(
        "SELECT learner_id, last_activity_at, xmin::text FROM learner_activity "
        "WHERE learner_id = ANY(%s)",
        (learners,),
    ):
        found[learner].last_activity = None if last is None else ids.epoch_ms(last)
        found[learner].version = version
    for row in conn.execute(
        "SELECT learner_id, event_id::text, occurred_at, kind, course_id, assessment_id, "
        "attempt, score, max_score, action, new_score FROM learner_grade_facts "
        "WHERE learner_id = ANY(%s)",
        (learners,),
    ):
        grade = GradeFact(row[1], ids.epoch_ms(row[2]), *row[3:])
        found[row[0]].grades[grade.event_id] = grade
    return found
