"""Records tests publish or hand to a processor."""

from __future__ import annotations

from typing import Any

from learnstream.events import make_envelope

LESSON = "org.learnstream.learning.lesson.completed.v1"


def lesson_completed(learner: str) -> dict[str, Any]:
    """A valid lesson.completed record with a fresh event id (course c-1, lesson l-1)."""
    return {
        "envelope": make_envelope(LESSON, tenant_id="acme", source="/tests"),
        "learner_id": learner,
        "course_id": "c-1",
        "module_id": None,
        "lesson_id": "l-1",
        "time_spent_seconds": 30.0,
    }
