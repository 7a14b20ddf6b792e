"""Fold a pair's facts and its course's catalog versions in event time into a timeline of
completions and un-completions, plus the pair's progress as of a clock (docs/domain-rules.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.rules.catalog import CourseRules
from streams.rules.progress import DAY_MS, Fact, PairFacts


@dataclass(frozen=True)
class Completion:
    attempt: int
    completed_at: int
    cause_id: str  # event id of the fact (or catalog version) that completed the pair
    score: float | None
    course_version: int
    time_spent: float
    expires_at: int | None
    revoked_at: int | None = None
    revoked_by: str | None = None  # event id that un-completed it


@dataclass
class Timeline:
    facts: PairFacts
    course: CourseRules | None
    completions: list[Completion] = field(default_factory=list)
    completed: bool = False
    last_fact_id: str | None = None
    last_fact_t: int | None = None


def fold(facts: list[Fact], versions: list[CourseRules]) -> Timeline:
    """Apply facts and catalog versions in (event time, event id) order, evaluating after each."""
    steps: list[tuple[int, str, Any]] = [(f["t"], f["id"], f) for f in facts]
    steps += [(v.published_at, v.event_id, v) for v in versions]
    steps.sort(key=lambda step: (step[0], step[1]))
    timeline = Timeline(PairFacts(), None)
    for t, event_id, item in steps:
        if isinstance(item, CourseRules):
            if timeline.course is not None and item.version <= timeline.course.version:
                continue  # an older or equal version published later changes nothing
            timeline.course = item
        else:
            timeline.facts.learn(item)
            timeline.last_fact_id, timeline.last_fact_t = event_id, t
        _evaluate(timeline, t, event_id)
    return timeline


def fold_until(facts: list[Fact], versions: list[CourseRules], at: int) -> Timeline:
    """The pair as it was at event time `at` (what had happened by then, nothing later)."""
    return fold([f for f in facts if f["t"] <= at], [v for v in versions if v.published_at <= at])


def _evaluate(timeline: Timeline, t: int, cause_id: str) -> None:
    course, facts = timeline.course, timeline.facts
    done, total = facts.required_done(course)
    complete = total > 0 and done == total
    if complete and not timeline.completed and course is not None:
        validity = course.validity_days
        timeline.completions.append(
            Completion(
                attempt=len(timeline.completions) + 1,
                completed_at=t,
                cause_id=cause_id,
                score=facts.course_score(course),
                course_version=course.version,
                time_spent=facts.time_spent(),
                expires_at=None if validity is None else t + validity * DAY_MS,
            )
        )
    elif timeline.completed and not complete:
        last = timeline.completions[-1]
        if last.revoked_at is None:
            timeline.completions[-1] = Completion(
                **{**last.__dict__, "revoked_at": t, "revoked_by": cause_id}
            )
    timeline.completed = complete


@dataclass(frozen=True)
class Progress:
    status: str
    required_done: int
    required_total: int
    percent: float
    time_spent_seconds: float
    best_scores: dict[str, float]
    last_activity_at: int | None
    enrolled_at: int | None
    due_at: int | None
    completed_at: int | None
    active: bool = True  # the enrolment is not cancelled


def progress_as_of(timeline: Timeline, as_of: int) -> Progress:
    facts, course = timeline.facts, timeline.course
    done, total = facts.required_done(course)
    due = facts.due_at(course)
    if timeline.completed:
        status = "completed"
    elif facts.active() and due is not None and due < as_of:
        status = "overdue"
    else:
        status = "in_progress" if facts.last_activity is not None else "not_started"
    completed_at = timeline.completions[-1].completed_at if timeline.completed else None
    return Progress(
        status=status,
        required_done=done,
        required_total=total,
        percent=round(100 * done / total, 1) if total else 0.0,
        time_spent_seconds=facts.time_spent(),
        best_scores=facts.best_scores(),
        last_activity_at=facts.last_activity,
        enrolled_at=facts.enrolled_at,
        due_at=due,
        completed_at=completed_at,
        active=facts.active(),
    )
