"""Fold a pair's facts and its course's catalog versions in event time into a timeline of
completions and un-completions, plus the pair's progress as of a clock (docs/domain-rules.md).

An enrolment is pinned to the catalog version in force when it began: a later version changes
the requirements of new enrolments only, so republishing a course never revokes a certificate.
A version published with `recertify_on_publish` is the owner's explicit exception: it moves the
pinned enrolments that are still in progress onto it, and makes the current certificates of
completed ones expire at its deadline (a recertification, never a revocation).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from learnstream.clock import DAY_MS
from streams.catalog import CourseRules
from streams.progress.rules import Fact, PairFacts


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
    recertify: tuple[Recertify, ...] = ()  # later versions whose owner asked to re-certify


@dataclass(frozen=True)
class Recertify:
    """A version with `recertify_on_publish` reached a completed pair of an earlier version."""

    version: int
    event_id: str  # the catalog event: the cause of the derived events
    published_at: int
    deadline: int  # the certificate expires no later than this


@dataclass
class Timeline:
    facts: PairFacts
    course: CourseRules | None  # the version the pair follows (pinned once enrolled)
    latest: CourseRules | None = None  # the newest version published so far
    published: dict[int, CourseRules] = field(default_factory=dict)
    wanted: int | None = None  # the version the enrolment names, when it names one
    recertify_caps: list[CourseRules] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    completed: bool = False
    last_fact_id: str | None = None
    last_fact_t: int | None = None
    last_step: tuple[int, str] | None = None  # the latest (event time, id) folded in
    versions: tuple[tuple[int, str], ...] = ()  # the catalog versions folded in


def versions_key(versions: list[CourseRules]) -> tuple[tuple[int, str], ...]:
    return tuple((v.version, v.event_id) for v in versions)


def fold(facts: list[Fact], versions: list[CourseRules]) -> Timeline:
    """Apply facts and catalog versions in (event time, event id) order, evaluating after each."""
    steps: list[tuple[int, str, Any]] = [(f["t"], f["id"], f) for f in facts]
    steps += [(v.published_at, v.event_id, v) for v in versions]
    steps.sort(key=lambda step: (step[0], step[1]))
    timeline = Timeline(PairFacts(), None, versions=versions_key(versions))
    _apply_steps(timeline, steps)
    return timeline


def extend(timeline: Timeline, facts: list[Fact], versions: list[CourseRules]) -> bool:
    """Fold `facts` into a timeline folded before, in place, when that gives what a fold of
    everything would: the catalog versions are the same and every new fact comes after every
    step folded so far (events arriving in order, the common case). False: fold again."""
    steps: list[tuple[int, str, Any]] = sorted(
        ((f["t"], f["id"], f) for f in facts), key=lambda step: (step[0], step[1])
    )
    if timeline.versions != versions_key(versions):
        return False
    if steps and timeline.last_step is not None and steps[0][:2] <= timeline.last_step:
        return False
    _apply_steps(timeline, steps)
    return True


def _apply_steps(timeline: Timeline, steps: list[tuple[int, str, Any]]) -> None:
    for t, event_id, item in steps:
        timeline.last_step = (t, event_id)
        if isinstance(item, CourseRules):
            if not _publish(timeline, item):
                continue
        else:
            timeline.facts.learn(item)
            timeline.last_fact_id, timeline.last_fact_t = event_id, t
            if item["kind"] == "enrolled" and not timeline.completed:
                _pin(timeline, item.get("version"))
        _evaluate(timeline, t, event_id)


def _pin(timeline: Timeline, wanted: int | None) -> None:
    """A (re-)enrolment pins the version it names, or else the newest; a named version not
    published yet is pinned when it is (the newest is followed until then)."""
    timeline.wanted = wanted
    named = None if wanted is None else timeline.published.get(wanted)
    timeline.course = named or timeline.latest


def _publish(timeline: Timeline, version: CourseRules) -> bool:
    """Take a catalog version into the fold; False when it changes nothing for this pair."""
    first = version.version not in timeline.published
    timeline.published.setdefault(version.version, version)
    if first and timeline.wanted == version.version and not timeline.completed:
        timeline.course = version  # the version the enrolment named has been published
        timeline.latest = max(version, timeline.latest or version, key=lambda v: v.version)
        return True
    if timeline.latest is not None and version.version <= timeline.latest.version:
        return False  # an older or equal version published later changes nothing
    timeline.latest = version
    waiting = timeline.wanted is not None and timeline.wanted not in timeline.published
    pinned = timeline.last_fact_id is not None and timeline.course is not None and not waiting
    if not pinned:
        timeline.course = version  # no activity yet: the pair follows the newest version
        return True
    if not version.recertify_on_publish:
        return False  # the enrolment keeps the version it began with
    timeline.recertify_caps.append(version)
    if not timeline.completed:
        timeline.course, timeline.wanted = version, None  # still learning: new requirements
        return True
    last = timeline.completions[-1]
    expires = _capped(last.expires_at, version.recertify_deadline)
    recertify = Recertify(version.version, version.event_id, version.published_at, expires)
    timeline.completions[-1] = replace(
        last, expires_at=expires, recertify=(*last.recertify, recertify)
    )
    return False


def _capped(expires_at: int | None, deadline: int) -> int:
    return deadline if expires_at is None else min(expires_at, deadline)


def fold_until(facts: list[Fact], versions: list[CourseRules], at: int) -> Timeline:
    """The pair as it was at event time `at` (what had happened by then, nothing later)."""
    return fold([f for f in facts if f["t"] <= at], [v for v in versions if v.published_at <= at])


def _evaluate(timeline: Timeline, t: int, cause_id: str) -> None:
    course, facts = timeline.course, timeline.facts
    done, total = facts.required_done(course)
    complete = total > 0 and done == total
    if complete and not timeline.completed and course is not None:
        validity = course.validity_days
        expires_at = None if validity is None else t + validity * DAY_MS
        for later in timeline.recertify_caps:  # completed on a version its owner superseded
            if later.version > course.version:
                expires_at = _capped(expires_at, later.recertify_deadline)
        timeline.completions.append(
            Completion(
                attempt=len(timeline.completions) + 1,
                completed_at=t,
                cause_id=cause_id,
                score=facts.course_score(course),
                course_version=course.version,
                time_spent=facts.time_spent(),
                expires_at=expires_at,
            )
        )
    elif timeline.completed and not complete:
        last = timeline.completions[-1]
        if last.revoked_at is None:
            timeline.completions[-1] = replace(last, revoked_at=t, revoked_by=cause_id)
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


# --- the timeline a pair state keeps in memory -------------------------------------------------
TIMELINE = "_timeline"  # a pair state's folded timeline, kept in memory only


def timeline_of(state: dict[str, Any], versions: list[Any]) -> Timeline:
    """The pair's folded timeline as the lane keeps it (folded again if the catalog moved)."""
    return kept_timeline(state, [], versions)


def kept_timeline(
    state: dict[str, Any], fresh: list[dict[str, Any]], versions: list[Any]
) -> Timeline:
    """The pair's timeline: the one kept in memory with the fresh facts folded in when they
    come after it (in-order arrival), else a fold of every fact."""
    kept: Timeline | None = state.get(TIMELINE)
    if kept is None or not extend(kept, fresh, versions):
        kept = state[TIMELINE] = fold(state["facts"], versions)
    return kept
