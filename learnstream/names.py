"""Every event name of the contract, once. Each is the full name of a schema in schemas/avro
(`<name>.avsc`); tests/unit/test_names.py checks both ways, so a new schema without a constant
or a constant without a schema fails the build. Code compares names with these, never by suffix.
"""

from __future__ import annotations

from typing import Final

# Client-published activity (topic learning.activity)
ENROLLMENT_CREATED: Final = "org.learnstream.learning.enrollment.created.v1"
ENROLLMENT_CANCELLED: Final = "org.learnstream.learning.enrollment.cancelled.v1"
LESSON_COMPLETED: Final = "org.learnstream.learning.lesson.completed.v1"
MODULE_COMPLETED: Final = "org.learnstream.learning.module.completed.v1"
VIDEO_PROGRESSED: Final = "org.learnstream.learning.video.progressed.v1"
ASSESSMENT_SUBMITTED: Final = "org.learnstream.learning.assessment.submitted.v1"
ASSESSMENT_GRADED: Final = "org.learnstream.learning.assessment.graded.v1"
GRADE_CORRECTED: Final = "org.learnstream.learning.grade.corrected.v1"

# Reference data (compacted topics)
COURSE_PUBLISHED: Final = "org.learnstream.catalog.course.published.v1"
EMPLOYMENT_CHANGED: Final = "org.learnstream.org.employment.changed.v1"
PROFILE_CHANGED: Final = "org.learnstream.learner.profile.changed.v1"

# Derived by the stream
PROGRESS_CHANGED: Final = "org.learnstream.learning.progress.changed.v1"
COURSE_COMPLETED: Final = "org.learnstream.learning.course.completed.v1"
RECERTIFICATION_REQUIRED: Final = "org.learnstream.learning.recertification.required.v1"
CERTIFICATE_ISSUED: Final = "org.learnstream.credential.certificate.issued.v1"
CERTIFICATE_REVOKED: Final = "org.learnstream.credential.certificate.revoked.v1"
NOTIFICATION_REQUESTED: Final = "org.learnstream.notification.notification.requested.v1"
HR_SYNC_RESULT: Final = "org.learnstream.hr.sync.result.v1"
HR_CORRECTION_REQUIRED: Final = "org.learnstream.hr.correction.required.v1"

# The minor version of the schema each derived event is written with (envelope.minor_version),
# where it is not 0: a reader tells "the writer knew this field, and it is null" from "the writer
# predates the field" by it (schemas/avro/README.md, "Field rules").
MINOR_VERSIONS: Final = {PROGRESS_CHANGED: 1, COURSE_COMPLETED: 1}

ACTIVITY_EVENTS: Final = (  # in topology.yaml's order (the simulator draws from it)
    ENROLLMENT_CREATED,
    ENROLLMENT_CANCELLED,
    LESSON_COMPLETED,
    MODULE_COMPLETED,
    VIDEO_PROGRESSED,
    ASSESSMENT_SUBMITTED,
    ASSESSMENT_GRADED,
    GRADE_CORRECTED,
)
ACTIVITY: Final = frozenset(ACTIVITY_EVENTS)
EVENT_NAMES: Final = ACTIVITY | {
    COURSE_PUBLISHED,
    EMPLOYMENT_CHANGED,
    PROFILE_CHANGED,
    PROGRESS_CHANGED,
    COURSE_COMPLETED,
    RECERTIFICATION_REQUIRED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    NOTIFICATION_REQUESTED,
    HR_SYNC_RESULT,
    HR_CORRECTION_REQUIRED,
}
