"""Progress of one learner in one course, as a fold over that pair's facts in event time.

The stream keeps every fact of a pair and re-folds them whenever one arrives, late or not,
so the outcome depends only on the set of facts and catalog versions, never on arrival order.
Each fold yields the pair's *timeline*: every completion and un-completion with the event
that caused it, from which the agents derive their events with deterministic ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from learnstream import names
from learnstream.clock import DAY_MS
from streams.catalog import CourseRules

VIDEO_DONE_RATIO = 0.9
ACTIVITY_KINDS = {"lesson", "module", "video", "submitted", "graded", "corrected"}

Fact = dict[str, Any]  # JSON-able: {"t": ms, "id": event_id, "kind": ..., fields...}


def to_fact(event_name: str, record: dict[str, Any], t: int, event_id: str) -> Fact | None:
    """The part of a learning event that progress needs; None for events it ignores."""
    base: Fact = {"t": t, "id": event_id}
    if event_name == names.ENROLLMENT_CREATED:
        due = record.get("due_at")
        return {
            **base,
            "kind": "enrolled",
            "due": _ms(due) if due is not None else None,
            "version": record.get("course_version"),  # null: the newest published
        }
    if event_name == names.ENROLLMENT_CANCELLED:
        return {**base, "kind": "cancelled"}
    if event_name == names.LESSON_COMPLETED:
        return {
            **base,
            "kind": "lesson",
            "item": record["lesson_id"],
            "spent": record.get("time_spent_seconds") or 0.0,
        }
    if event_name == names.MODULE_COMPLETED:
        return {**base, "kind": "module", "module": record["module_id"]}
    if event_name == names.VIDEO_PROGRESSED:
        segments = [[s["start_seconds"], s["end_seconds"]] for s in record["watched_segments"]]
        return {
            **base,
            "kind": "video",
            "item": record["video_id"],
            "duration": record["duration_seconds"],
            "segments": segments,
        }
    if event_name == names.ASSESSMENT_SUBMITTED:
        return {**base, "kind": "submitted", "spent": record.get("time_spent_seconds") or 0.0}
    if event_name == names.ASSESSMENT_GRADED:
        return {
            **base,
            "kind": "graded",
            "item": record["assessment_id"],
            "attempt": record["attempt"],
            "score": record["score"],
            "max": record["max_score"],
            "pass_mark": record["pass_mark"],
            "passed": record["passed"],
        }
    if event_name == names.GRADE_CORRECTED:
        return {
            **base,
            "kind": "corrected",
            "item": record["assessment_id"],
            "attempt": record["attempt"],
            "action": record["action"],
            "new_score": record.get("new_score"),
            "new_passed": record.get("new_passed"),
        }
    return None


def _ms(value: Any) -> int:
    from learnstream.ids import epoch_ms

    return epoch_ms(value)


@dataclass
class _Attempt:
    score: float
    max_score: float
    pass_mark: float
    passed: bool
    corrections: list[Fact] = field(default_factory=list)

    def effective(self) -> tuple[float, bool] | None:
        score, passed = self.score, self.passed
        for c in self.corrections:
            if c["action"] == "VOIDED":
                return None
            if c["action"] == "CORRECTED":
                if c["new_score"] is not None:
                    score = float(c["new_score"])
                passed = (
                    bool(c["new_passed"])
                    if c["new_passed"] is not None
                    else score / self.max_score >= self.pass_mark
                )
        return score, passed


ITEM_OF_FACT = {"video": "VIDEO", "graded": "ASSESSMENT", "corrected": "ASSESSMENT"}


@dataclass
class PairFacts:
    """What is known about a pair at one point of its event-time fold."""

    enrolled_at: int | None = None
    explicit_due: int | None = None
    cancelled_at: int | None = None
    lessons: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    video_segments: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    video_duration: dict[str, float] = field(default_factory=dict)
    attempts: dict[tuple[str, int], _Attempt] = field(default_factory=dict)
    early_corrections: dict[tuple[str, int], list[Fact]] = field(default_factory=dict)
    spent: list[float] = field(default_factory=list)
    last_activity: int | None = None
    # A fold evaluates every required item after every fact; an item's answer only changes
    # when a fact about that item arrives, so it is remembered until then.
    _done: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False, compare=False)
    # Which required items of the course followed are done, kept up to date fact by fact: a
    # fold asks after every fact, and a fact changes at most the items it names.
    _required: _RequiredDone | None = field(default=None, repr=False, compare=False)

    def learn(self, fact: Fact) -> None:
        kind = fact["kind"]
        if kind in ITEM_OF_FACT:
            self._done.pop((ITEM_OF_FACT[kind], fact["item"]), None)
        if kind == "enrolled":
            self.enrolled_at, self.explicit_due = fact["t"], fact["due"]
        elif kind == "cancelled":
            self.cancelled_at = fact["t"]
        elif kind == "lesson":
            self.lessons.add(fact["item"])
            self.spent.append(float(fact["spent"]))
        elif kind == "module":
            self.modules.add(fact["module"])
        elif kind == "video":
            self.video_duration[fact["item"]] = float(fact["duration"])
            for start, end in fact["segments"]:
                self.video_segments.setdefault(fact["item"], []).append((float(start), float(end)))
                self.spent.append(max(0.0, float(end) - float(start)))
        elif kind == "submitted":
            self.spent.append(float(fact["spent"]))
        elif kind == "graded":
            key = (fact["item"], int(fact["attempt"]))
            self.attempts[key] = _Attempt(
                float(fact["score"]),
                float(fact["max"]),
                float(fact["pass_mark"]),
                bool(fact["passed"]),
                self.early_corrections.pop(key, []),
            )
        elif kind == "corrected":
            key = (fact["item"], int(fact["attempt"]))
            if key in self.attempts:
                self.attempts[key].corrections.append(fact)
            else:  # the correction overtook its grade; it applies once the grade is known
                self.early_corrections.setdefault(key, []).append(fact)
        if kind in ACTIVITY_KINDS:
            self.last_activity = max(self.last_activity or fact["t"], fact["t"])
        if self._required is not None:
            self._recheck(self._required, fact)

    def _recheck(self, memo: _RequiredDone, fact: Fact) -> None:
        kind = fact["kind"]
        if kind == "module":
            touched = memo.by_module.get(fact["module"], ())
        elif kind in ITEM_OF_FACT or kind == "lesson":
            touched = memo.by_item.get(fact["item"], ())
        else:
            return
        required = memo.course.required
        for i in touched:
            item, item_kind = required[i]
            if self.item_done(item, item_kind, memo.course):
                memo.done.add(i)
            else:
                memo.done.discard(i)

    def video_done(self, video_id: str) -> bool:
        duration = self.video_duration.get(video_id)
        if not duration:
            return False
        return covered_seconds(self.video_segments.get(video_id, []), duration) >= (
            VIDEO_DONE_RATIO * duration
        )

    def best_scores(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for (assessment, _), attempt in self.attempts.items():
            effective = attempt.effective()
            if effective is not None and attempt.max_score > 0:
                ratio = effective[0] / attempt.max_score
                best[assessment] = max(best.get(assessment, ratio), ratio)
        return best

    def passed(self, assessment: str) -> bool:
        return any(
            (e := a.effective()) is not None and e[1]
            for (item, _), a in self.attempts.items()
            if item == assessment
        )

    def item_done(self, item: str, kind: str, course: CourseRules) -> bool:
        if kind == "ASSESSMENT":
            return self._cached(kind, item, self.passed)
        if kind == "LESSON" and item in self.lessons:
            return True
        if kind == "VIDEO" and self._cached(kind, item, self.video_done):
            return True
        return course.module_of.get(item) in self.modules

    def _cached(self, kind: str, item: str, compute: Callable[[str], bool]) -> bool:
        key = (kind, item)
        if key not in self._done:
            self._done[key] = compute(item)
        return self._done[key]

    def required_done(self, course: CourseRules | None) -> tuple[int, int]:
        if course is None:
            return 0, 0
        memo = self._required
        if memo is None or not memo.follows(course):
            memo = self._required = _RequiredDone.of(self, course)
        return len(memo.done), len(course.required)

    def course_score(self, course: CourseRules) -> float | None:
        assessments = course.required_assessments
        if not assessments:
            return None
        best = self.best_scores()
        return math.fsum(best.get(a, 0.0) for a in assessments) / len(assessments)

    def time_spent(self) -> float:
        return math.fsum(self.spent)

    def due_at(self, course: CourseRules | None) -> int | None:
        if self.explicit_due is not None:
            return self.explicit_due
        if self.enrolled_at is None or course is None or course.due_days is None:
            return None
        return self.enrolled_at + course.due_days * DAY_MS

    def active(self) -> bool:
        """Enrolled, and not cancelled since."""
        if self.enrolled_at is None:
            return False
        return self.cancelled_at is None or self.enrolled_at > self.cancelled_at


@dataclass
class _RequiredDone:
    """The indices (into course.required) of the done items, and which facts can change them."""

    course: CourseRules
    done: set[int]
    by_item: dict[str, list[int]]
    by_module: dict[str, list[int]]

    def follows(self, course: CourseRules) -> bool:
        """The same published version (each batch reads its versions afresh: equal, not same)."""
        kept = self.course
        return kept is course or (
            kept.course_id == course.course_id
            and kept.version == course.version
            and kept.event_id == course.event_id
        )

    @classmethod
    def of(cls, facts: PairFacts, course: CourseRules) -> _RequiredDone:
        by_item: dict[str, list[int]] = {}
        by_module: dict[str, list[int]] = {}
        done: set[int] = set()
        for i, (item, kind) in enumerate(course.required):
            by_item.setdefault(item, []).append(i)
            module = course.module_of.get(item)
            if module is not None:
                by_module.setdefault(module, []).append(i)
            if facts.item_done(item, kind, course):
                done.add(i)
        return cls(course, done, by_item, by_module)


def covered_seconds(segments: list[tuple[float, float]], duration: float) -> float:
    """Length of the union of the segments clipped to [0, duration]."""
    clipped = sorted((max(0.0, s), min(duration, e)) for s, e in segments if e > s)
    covered, reach = 0.0, 0.0
    for start, end in clipped:
        if end <= reach:
            continue
        covered += end - max(start, reach)
        reach = end
    return covered
