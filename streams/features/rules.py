"""Recommendation features and next-best-content, as pure functions of plain data (no I/O).

Every clock is event time (`as_of`, UTC ms), so a replay computes the same numbers. Windows
are whole UTC days: "the last N days" are the N calendar days ending on as_of's day, both
ends included, so a bucketed daily count in Postgres is all the state a window needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from learnstream.clock import DAY_MS
from streams.catalog import COUNTED_KINDS

SHORT_WINDOW_DAYS = 7
LONG_WINDOW_DAYS = 30
# Each newer attempt on a skill counts 1 / MASTERY_DECAY times more than the one before it:
# recent evidence dominates, but one bad day does not erase a history of good scores.
MASTERY_DECAY = 0.5


def day_of(ms: int) -> int:
    """UTC day number (days since the epoch) of an event time."""
    return ms // DAY_MS


# --- learner features ----------------------------------------------------------------------
@dataclass(frozen=True)
class GradeFact:
    """An assessment.graded ("graded") or grade.corrected ("corrected") event of a learner."""

    event_id: str
    t: int
    kind: str
    course_id: str
    assessment_id: str
    attempt: int
    score: float | None = None
    max_score: float | None = None
    action: str | None = None
    new_score: float | None = None


@dataclass(frozen=True)
class ScoredAttempt:
    """An effective attempt (after corrections) with its score ratio in [0, 1]."""

    t: int
    event_id: str
    course_id: str
    assessment_id: str
    attempt: int
    ratio: float


@dataclass(frozen=True)
class PairStatus:
    course_id: str
    status: str  # as in learner_course_progress
    enrolled: bool


@dataclass(frozen=True)
class LearnerFeatures:
    learner_id: str
    as_of: int
    events_per_day_7d: float
    events_per_day_30d: float
    last_activity_at: int | None
    days_since_last_activity: float | None
    enrolled_courses: int
    completed_courses: int
    completion_rate: float | None
    graded_attempts: int
    mean_score: float | None
    mastery: dict[str, float] = field(default_factory=dict)


def events_per_day(daily: Mapping[int, int], as_of: int, days: int) -> float:
    """Mean events per day over the `days` UTC days ending on as_of's day (inclusive)."""
    last = day_of(as_of)
    first = last - days + 1
    return sum(n for day, n in daily.items() if first <= day <= last) / days


def days_since(last_activity_at: int | None, as_of: int) -> float | None:
    if last_activity_at is None:
        return None
    return max(0, as_of - last_activity_at) / DAY_MS


def effective_attempts(facts: Iterable[GradeFact]) -> list[ScoredAttempt]:
    """Grades after their corrections, applied in event-time order as docs/domain-rules.md
    says: VOIDED drops the attempt, CORRECTED replaces the score; an early correction waits."""
    # (grade, current score, voided); a voided attempt stays voided until it is re-graded
    attempts: dict[tuple[str, str, int], tuple[GradeFact, float | None, bool]] = {}
    early: dict[tuple[str, str, int], list[GradeFact]] = {}
    for fact in sorted(facts, key=lambda f: (f.t, f.event_id)):
        key = (fact.course_id, fact.assessment_id, fact.attempt)
        if fact.kind == "graded":
            attempts[key] = (fact, fact.score, False)
            pending = early.pop(key, [])
        elif key in attempts:
            pending = [fact]
        else:  # the correction overtook its grade
            early.setdefault(key, []).append(fact)
            continue
        for correction in pending:
            grade, score, voided = attempts[key]
            if correction.action == "VOIDED":
                attempts[key] = (grade, score, True)
            elif correction.action == "CORRECTED" and correction.new_score is not None:
                attempts[key] = (grade, score if voided else correction.new_score, voided)
    scored = []
    for grade, score, voided in attempts.values():
        if voided or score is None or not grade.max_score:
            continue
        ratio = min(1.0, max(0.0, score / grade.max_score))
        scored.append(
            ScoredAttempt(
                grade.t, grade.event_id, grade.course_id, grade.assessment_id, grade.attempt, ratio
            )
        )
    return sorted(scored, key=lambda a: (a.t, a.event_id))


def skill_mastery(
    attempts: Iterable[ScoredAttempt], skills_of: Mapping[str, Sequence[tuple[str, float]]]
) -> dict[str, float]:
    """Per skill, the exponentially weighted mean of the score ratios of attempts in courses
    teaching it, each weighted by the skill's weight in that course. A weighted mean of ratios
    stays in [0, 1]; skills without evidence are absent (read them as 0)."""
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for attempt in sorted(attempts, key=lambda a: (a.t, a.event_id)):
        for skill, weight in skills_of.get(attempt.course_id, ()):
            if weight <= 0:
                continue
            num[skill] = MASTERY_DECAY * num.get(skill, 0.0) + weight * attempt.ratio
            den[skill] = MASTERY_DECAY * den.get(skill, 0.0) + weight
    return {skill: num[skill] / den[skill] for skill in sorted(num)}


def learner_features(
    learner_id: str,
    as_of: int,
    daily_events: Mapping[int, int],
    last_activity_at: int | None,
    pairs: Iterable[PairStatus],
    grades: Iterable[GradeFact],
    skills_of: Mapping[str, Sequence[tuple[str, float]]],
    attempts: list[ScoredAttempt] | None = None,
) -> LearnerFeatures:
    """`attempts`: effective_attempts(grades), when the caller kept it from before."""
    enrolled = [p for p in pairs if p.enrolled]
    completed = sum(p.status == "completed" for p in enrolled)
    if attempts is None:
        attempts = effective_attempts(grades)
    return LearnerFeatures(
        learner_id=learner_id,
        as_of=as_of,
        events_per_day_7d=events_per_day(daily_events, as_of, SHORT_WINDOW_DAYS),
        events_per_day_30d=events_per_day(daily_events, as_of, LONG_WINDOW_DAYS),
        last_activity_at=last_activity_at,
        days_since_last_activity=days_since(last_activity_at, as_of),
        enrolled_courses=len(enrolled),
        completed_courses=completed,
        completion_rate=completed / len(enrolled) if enrolled else None,
        graded_attempts=len(attempts),
        mean_score=sum(a.ratio for a in attempts) / len(attempts) if attempts else None,
        mastery=skill_mastery(attempts, skills_of),
    )


# --- course popularity -----------------------------------------------------------------------
@dataclass(frozen=True)
class CoursePopularity:
    course_id: str
    enrolments_30d: int
    completions: int


def course_popularity(
    daily_enrolments: Mapping[str, Mapping[int, int]], completions: Mapping[str, int], as_of: int
) -> dict[str, CoursePopularity]:
    last = day_of(as_of)
    first = last - LONG_WINDOW_DAYS + 1
    courses = sorted(set(daily_enrolments) | set(completions))
    return {
        course: CoursePopularity(
            course,
            sum(n for day, n in daily_enrolments.get(course, {}).items() if first <= day <= last),
            completions.get(course, 0),
        )
        for course in courses
    }


# --- next best content -----------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    kind: str
    module_id: str
    required: bool  # required item in a required module, of a kind that counts


@dataclass(frozen=True)
class CatalogCourse:
    course_id: str
    title: str
    items: tuple[CatalogItem, ...]  # display order
    prerequisites: tuple[str, ...] = ()
    skills: tuple[tuple[str, float], ...] = ()

    @property
    def required_items(self) -> list[CatalogItem]:
        return [item for item in self.items if item.required]


def catalog_course(record: Mapping[str, Any]) -> CatalogCourse:
    """From a catalog.course.published record (as stored in course_versions.catalog)."""
    items = tuple(
        CatalogItem(
            item["item_id"],
            item["kind"],
            module["module_id"],
            bool(module["required"] and item["required"] and item["kind"] in COUNTED_KINDS),
        )
        for module in record.get("modules", [])
        for item in module.get("items", [])
    )
    return CatalogCourse(
        course_id=record["course_id"],
        title=record.get("title", ""),
        items=items,
        prerequisites=tuple(record.get("prerequisites") or ()),
        skills=tuple((s["skill"], float(s["weight"])) for s in record.get("skills") or ()),
    )


@dataclass(frozen=True)
class LearnerCourse:
    """A course the learner has a progress row for."""

    course_id: str
    status: str
    enrolled: bool  # an enrolment exists and is not cancelled
    due_at: int | None = None
    done_items: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LearnerState:
    learner_id: str
    courses: tuple[LearnerCourse, ...] = ()
    mastery: Mapping[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> set[str]:
        return {c.course_id for c in self.courses if c.status == "completed"}


@dataclass(frozen=True)
class Recommendation:
    kind: str  # "item" (finish what you started) or "course" (start something new)
    course_id: str
    item_id: str | None
    reason: str
    due_at: int | None = None
    skill_gap: float | None = None


def skill_gap(course: CatalogCourse, mastery: Mapping[str, float]) -> float:
    return sum(weight * (1.0 - mastery.get(skill, 0.0)) for skill, weight in course.skills)


def next_best_content(
    learner: LearnerState,
    catalog: Sequence[CatalogCourse],
    popularity: Mapping[str, CoursePopularity],
) -> list[Recommendation]:
    """Unfinished required items of enrolled, not-completed courses (nearest due date first,
    then catalog order), then startable courses by skill gap, then popularity."""
    position = {course.course_id: i for i, course in enumerate(catalog)}
    by_id = {course.course_id: course for course in catalog}
    completed = learner.completed
    started = sorted(
        (c for c in learner.courses if c.enrolled and c.course_id not in completed),
        key=lambda c: (c.due_at is None, c.due_at or 0, position.get(c.course_id, 0), c.course_id),
    )
    out = [
        Recommendation(
            "item",
            mine.course_id,
            item.item_id,
            _item_reason(course, item, mine),
            due_at=mine.due_at,
        )
        for mine in started
        if (course := by_id.get(mine.course_id)) is not None  # unknown catalog: nothing to say
        for item in course.required_items
        if item.item_id not in mine.done_items
    ]
    enrolled = {c.course_id for c in learner.courses if c.enrolled}
    candidates = [
        course
        for course in catalog
        if course.course_id not in completed | enrolled
        and all(p in completed for p in course.prerequisites)
    ]

    def pop(course_id: str) -> CoursePopularity:
        return popularity.get(course_id) or CoursePopularity(course_id, 0, 0)

    def rank(course: CatalogCourse) -> tuple[float, int, int, int, str]:
        gap = round(skill_gap(course, learner.mastery), 9)  # float noise must not reorder
        p = pop(course.course_id)
        return (
            -gap,
            -p.enrolments_30d,
            -p.completions,
            position[course.course_id],
            course.course_id,
        )

    for course in sorted(candidates, key=rank):
        gap = skill_gap(course, learner.mastery)
        reason = _course_reason(course, learner, gap, pop(course.course_id))
        out.append(Recommendation("course", course.course_id, None, reason, skill_gap=gap))
    return out


def _item_reason(course: CatalogCourse, item: CatalogItem, mine: LearnerCourse) -> str:
    reason = f"required {item.kind.lower()} not done yet in {course.title or course.course_id}"
    if mine.due_at is not None:
        due = datetime.fromtimestamp(mine.due_at / 1000, UTC).date().isoformat()
        reason += f", overdue since {due}" if mine.status == "overdue" else f", due {due}"
    return reason


def _course_reason(
    course: CatalogCourse, learner: LearnerState, gap: float, pop: CoursePopularity
) -> str:
    prereqs = "prerequisites met" if course.prerequisites else "no prerequisites"
    weakest = sorted(
        course.skills, key=lambda s: (-s[1] * (1.0 - learner.mastery.get(s[0], 0.0)), s[0])
    )[:2]
    skills = ", ".join(skill for skill, _ in weakest)
    reason = f"{prereqs}; skill gap {gap:.2f}"
    if skills:
        reason += f" ({skills})"
    return reason + f"; {pop.enrolments_30d} enrolments in 30 days, {pop.completions} completions"
