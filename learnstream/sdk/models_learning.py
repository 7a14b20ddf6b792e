"""Models of the learning domain: client activity (learning.activity) and derived progress.

Enums leave out the schemas' fallback symbol on purpose: UNKNOWN only exists so that an old
reader can map a newer symbol, and a writer that sent it would lose information.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from learnstream import names
from learnstream.sdk.models_base import (
    Attempt,
    Count,
    Event,
    Frozen,
    Id,
    Percent,
    Points,
    Ratio,
    Seconds,
    Timestamp,
    Version,
    rule_violation,
)

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositivePoints = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class GradeCorrectionAction(enum.StrEnum):
    VOIDED = "VOIDED"
    CORRECTED = "CORRECTED"


class ProgressStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    OVERDUE = "overdue"


class ProgressTransition(enum.StrEnum):
    """Why a progress snapshot was emitted (progress.changed `transition`)."""

    SNAPSHOT = "snapshot"
    UNCOMPLETED = "uncompleted"
    OVERDUE = "overdue"
    AT_RISK = "at_risk"


class EnrollmentCreated(Event):
    EVENT_NAME: ClassVar[str] = names.ENROLLMENT_CREATED

    enrollment_id: Id
    learner_id: Id
    course_id: Id
    course_version: Version | None = None
    assigned_by: Id | None = None
    due_at: Timestamp | None = None


class EnrollmentCancelled(Event):
    EVENT_NAME: ClassVar[str] = names.ENROLLMENT_CANCELLED

    enrollment_id: Id
    learner_id: Id
    course_id: Id
    cancelled_by: Id | None = None
    reason: Id | None = None


class LessonCompleted(Event):
    EVENT_NAME: ClassVar[str] = names.LESSON_COMPLETED

    learner_id: Id
    course_id: Id
    module_id: Id | None = None
    lesson_id: Id
    time_spent_seconds: Seconds | None = None


class ModuleCompleted(Event):
    EVENT_NAME: ClassVar[str] = names.MODULE_COMPLETED

    learner_id: Id
    course_id: Id
    module_id: Id


class WatchedSegment(Frozen):
    start_seconds: Seconds
    end_seconds: Seconds

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end_seconds < self.start_seconds:
            raise rule_violation(
                "end_seconds",
                f"must be >= start_seconds (got {self.end_seconds} < {self.start_seconds})",
            )
        return self


class VideoProgressed(Event):
    EVENT_NAME: ClassVar[str] = names.VIDEO_PROGRESSED

    learner_id: Id
    course_id: Id
    module_id: Id | None = None
    video_id: Id
    position_seconds: Seconds
    duration_seconds: PositiveSeconds
    watched_segments: list[WatchedSegment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _within_the_video(self) -> Self:
        if self.position_seconds > self.duration_seconds:
            raise rule_violation(
                "position_seconds",
                f"must be <= duration_seconds "
                f"(got {self.position_seconds} > {self.duration_seconds})",
            )
        for index, segment in enumerate(self.watched_segments):
            # Coverage is a fraction of the duration; a segment past the end would inflate it.
            if segment.end_seconds > self.duration_seconds:
                raise rule_violation(
                    f"watched_segments.{index}.end_seconds",
                    f"must be <= duration_seconds "
                    f"(got {segment.end_seconds} > {self.duration_seconds})",
                )
        return self


class AssessmentSubmitted(Event):
    EVENT_NAME: ClassVar[str] = names.ASSESSMENT_SUBMITTED

    learner_id: Id
    course_id: Id
    module_id: Id | None = None
    assessment_id: Id
    attempt: Attempt
    answers_count: Count
    time_spent_seconds: Seconds | None = None


class AssessmentGraded(Event):
    EVENT_NAME: ClassVar[str] = names.ASSESSMENT_GRADED

    learner_id: Id
    course_id: Id
    module_id: Id | None = None
    assessment_id: Id
    attempt: Attempt
    score: Points
    max_score: PositivePoints
    pass_mark: Ratio
    passed: bool

    @model_validator(mode="after")
    def _score_within_max(self) -> Self:
        if self.score > self.max_score:
            raise rule_violation(
                "score", f"must be <= max_score (got {self.score} > {self.max_score})"
            )
        return self


class GradeCorrected(Event):
    EVENT_NAME: ClassVar[str] = names.GRADE_CORRECTED

    learner_id: Id
    course_id: Id
    assessment_id: Id
    attempt: Attempt
    action: GradeCorrectionAction
    new_score: Points | None = None
    new_passed: bool | None = None
    corrected_by: Id | None = None
    reason: Id | None = None

    @model_validator(mode="after")
    def _fields_fit_the_action(self) -> Self:
        if self.action is GradeCorrectionAction.VOIDED:
            for name in ("new_score", "new_passed"):
                if getattr(self, name) is not None:
                    raise rule_violation(name, "must be null when action is VOIDED")
        elif self.new_score is None and self.new_passed is None:
            # Progress recomputes `passed` from new_score; with neither there is nothing to apply.
            raise rule_violation("new_score", "new_score or new_passed is required for CORRECTED")
        return self


class CourseCompleted(Event):
    EVENT_NAME: ClassVar[str] = names.COURSE_COMPLETED

    completion_id: uuid.UUID
    learner_id: Id
    course_id: Id
    course_version: Version | None = None
    attempt: Attempt
    completed_at: Timestamp
    score: Ratio | None = None
    time_spent_seconds: Seconds = 0.0
    expires_at: Timestamp | None = None  # minor version 1: null = no validity period


class RecertificationRequired(Event):
    EVENT_NAME: ClassVar[str] = names.RECERTIFICATION_REQUIRED

    certificate_id: uuid.UUID
    completion_id: uuid.UUID
    learner_id: Id
    course_id: Id
    attempt: Attempt
    certified_version: Version
    required_version: Version
    published_at: Timestamp
    expires_at: Timestamp

    @model_validator(mode="after")
    def _required_is_newer(self) -> Self:
        if self.required_version <= self.certified_version:
            raise rule_violation(
                "required_version",
                f"must be > certified_version (got {self.required_version} <= "
                f"{self.certified_version})",
            )
        return self


class ProgressChanged(Event):
    EVENT_NAME: ClassVar[str] = names.PROGRESS_CHANGED

    learner_id: Id
    course_id: Id
    required_done: Count
    required_total: Count
    percent: Percent
    time_spent_seconds: Seconds
    best_scores: dict[Id, Ratio] = Field(default_factory=dict)
    status: ProgressStatus
    last_activity_at: Timestamp | None = None
    # minor version 1: why it was emitted, with what the transition is about
    transition: ProgressTransition | None = None
    uncompleted_attempt: Attempt | None = None
    uncompleted_reason: Id | None = None
    due_at: Timestamp | None = None

    @model_validator(mode="after")
    def _done_within_total(self) -> Self:
        if self.required_done > self.required_total:
            raise rule_violation(
                "required_done",
                f"must be <= required_total (got {self.required_done} > {self.required_total})",
            )
        return self
