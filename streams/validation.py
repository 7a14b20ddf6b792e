"""Content rules checked before an event reaches the rules: cheap, per event, no pydantic on
the hot path (the SDK's models enforce the same rules at the producer). A failure is an
InvalidContent, so the event is dead-lettered with the rule it broke."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnstream import names
from learnstream.runtime.errors import InvalidContent

Check = Callable[[dict[str, Any]], str | None]


def _graded(r: dict[str, Any]) -> str | None:
    if r["max_score"] <= 0:
        return f"max_score must be > 0 (got {r['max_score']})"
    if not 0 <= r["score"] <= r["max_score"]:
        return f"score must be within [0, max_score] (got {r['score']} of {r['max_score']})"
    if not 0 <= r["pass_mark"] <= 1:
        return f"pass_mark must be a ratio in [0, 1] (got {r['pass_mark']})"
    return _attempt(r)


def _attempt(r: dict[str, Any]) -> str | None:
    return None if r["attempt"] >= 1 else f"attempt must be >= 1 (got {r['attempt']})"


def _video(r: dict[str, Any]) -> str | None:
    if r["duration_seconds"] <= 0:
        return f"duration_seconds must be > 0 (got {r['duration_seconds']})"
    for segment in r["watched_segments"]:
        if segment["end_seconds"] < segment["start_seconds"] or segment["start_seconds"] < 0:
            return f"watched segment {segment} must have 0 <= start <= end"
    return None


def _catalog(r: dict[str, Any]) -> str | None:
    if not 0 <= r["pass_mark"] <= 1:
        return f"pass_mark must be a ratio in [0, 1] (got {r['pass_mark']})"
    if r["version"] < 0:
        return f"version must be >= 0 (got {r['version']})"
    return None


def _corrected(r: dict[str, Any]) -> str | None:
    if r["action"] == "UNKNOWN":
        return "action UNKNOWN is a reader fallback, never a valid value"
    if r["action"] == "CORRECTED" and r.get("new_score") is None and r.get("new_passed") is None:
        return "a CORRECTED grade needs new_score or new_passed"
    return _attempt(r)


CHECKS: dict[str, Check] = {
    names.ASSESSMENT_GRADED: _graded,
    names.ASSESSMENT_SUBMITTED: _attempt,
    names.GRADE_CORRECTED: _corrected,
    names.VIDEO_PROGRESSED: _video,
    names.COURSE_PUBLISHED: _catalog,
}
ID_FIELDS = ("learner_id", "course_id", "recipient_id")


def validate_event(event_name: str, record: dict[str, Any]) -> None:
    for name in ID_FIELDS:
        value = record.get(name)
        if value is not None and (not value or value != value.strip()):
            raise InvalidContent(f"{event_name}: {name} must be a non-empty id (got {value!r})")
    check = CHECKS.get(event_name)
    problem = check(record) if check else None
    if problem:
        raise InvalidContent(f"{event_name}: {problem}")
