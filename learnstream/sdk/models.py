"""Every event model by name: the registry the publisher and consumers look models up in."""

from __future__ import annotations

from learnstream.sdk.models_base import Envelope, Event, EventValidationError
from learnstream.sdk.models_learning import (
    AssessmentGraded,
    AssessmentSubmitted,
    CourseCompleted,
    EnrollmentCancelled,
    EnrollmentCreated,
    GradeCorrected,
    GradeCorrectionAction,
    LessonCompleted,
    ModuleCompleted,
    ProgressChanged,
    ProgressStatus,
    ProgressTransition,
    RecertificationRequired,
    VideoProgressed,
    WatchedSegment,
)
from learnstream.sdk.models_other import (
    CertificateIssued,
    CertificateRevoked,
    CorrectionRequired,
    CourseItem,
    CourseModule,
    CoursePublished,
    EmploymentChanged,
    EmploymentStatus,
    HrChange,
    HrSyncStatus,
    HrTarget,
    ItemKind,
    NotificationChannel,
    NotificationKind,
    NotificationRequested,
    ProfileChanged,
    SkillWeight,
    SyncResult,
)

EVENT_MODELS: dict[str, type[Event]] = {
    model.EVENT_NAME: model
    for model in (
        EnrollmentCreated,
        EnrollmentCancelled,
        LessonCompleted,
        ModuleCompleted,
        VideoProgressed,
        AssessmentSubmitted,
        AssessmentGraded,
        GradeCorrected,
        CourseCompleted,
        ProgressChanged,
        RecertificationRequired,
        CoursePublished,
        EmploymentChanged,
        ProfileChanged,
        CertificateIssued,
        CertificateRevoked,
        NotificationRequested,
        SyncResult,
        CorrectionRequired,
    )
}


def model_for(event_name: str) -> type[Event]:
    try:
        return EVENT_MODELS[event_name]
    except KeyError:
        raise KeyError(f"no SDK model for event {event_name!r}") from None


__all__ = [
    "EVENT_MODELS",
    "AssessmentGraded",
    "AssessmentSubmitted",
    "CertificateIssued",
    "CertificateRevoked",
    "CorrectionRequired",
    "CourseCompleted",
    "CourseItem",
    "CourseModule",
    "CoursePublished",
    "EmploymentChanged",
    "EmploymentStatus",
    "EnrollmentCancelled",
    "EnrollmentCreated",
    "Envelope",
    "Event",
    "EventValidationError",
    "GradeCorrected",
    "GradeCorrectionAction",
    "HrChange",
    "HrSyncStatus",
    "HrTarget",
    "ItemKind",
    "LessonCompleted",
    "ModuleCompleted",
    "NotificationChannel",
    "NotificationKind",
    "NotificationRequested",
    "ProfileChanged",
    "ProgressChanged",
    "ProgressStatus",
    "ProgressTransition",
    "RecertificationRequired",
    "SkillWeight",
    "SyncResult",
    "VideoProgressed",
    "WatchedSegment",
    "model_for",
]
