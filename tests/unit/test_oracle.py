"""The oracle against hand-built scenarios, one per rule of docs/domain-rules.md.

Every scenario uses course c1 unless it says otherwise:
  m1 (required): l1 LESSON (required), v1 VIDEO (required), a1 ASSESSMENT (required),
                 lx LESSON (optional)
  m2 (optional): l2 LESSON (required, but inside an optional module)
so required_total is 3. Times are minutes after T0.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from learnstream import ids
from learnstream.events import make_envelope
from learnstream.names import (
    ASSESSMENT_GRADED,
    ASSESSMENT_SUBMITTED,
    COURSE_PUBLISHED,
    EMPLOYMENT_CHANGED,
    ENROLLMENT_CANCELLED,
    ENROLLMENT_CREATED,
    GRADE_CORRECTED,
    LESSON_COMPLETED,
    MODULE_COMPLETED,
    VIDEO_PROGRESSED,
)
from learnstream.simulate import Oracle, SimEvent, compute_oracle

T0 = datetime(2026, 1, 5, tzinfo=UTC)
DAY = 24 * 60  # minutes
C1_MODULES = [
    {
        "module_id": "m1",
        "title": "M1",
        "required": True,
        "items": [
            {"item_id": "l1", "kind": "LESSON", "required": True},
            {"item_id": "v1", "kind": "VIDEO", "required": True},
            {"item_id": "a1", "kind": "ASSESSMENT", "required": True},
            {"item_id": "lx", "kind": "LESSON", "required": False},
        ],
    },
    {
        "module_id": "m2",
        "title": "M2",
        "required": False,
        "items": [{"item_id": "l2", "kind": "LESSON", "required": True}],
    },
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Scenario:
    def __init__(self) -> None:
        self.events: list[SimEvent] = []
        self.made = 0

    def add(self, name: str, minutes: float, key: str, **body: Any) -> SimEvent:
        self.made += 1
        event_id = uuid.uuid5(ids.LEARNSTREAM_NS, f"test:{self.made}")
        envelope = make_envelope(
            name, tenant_id="acme", source="/test", event_id=event_id, occurred_at=at(minutes)
        )
        event = SimEvent(name, key, {"envelope": envelope, **body})
        self.events.append(event)
        return event

    def course(
        self,
        minutes: float = 0,
        course_id: str = "c1",
        version: int = 1,
        modules: list[dict[str, Any]] | None = None,
        pass_mark: float = 0.7,
        due_days: int | None = None,
        validity: int | None = None,
        **extra: Any,
    ) -> SimEvent:
        return self.add(
            COURSE_PUBLISHED,
            minutes,
            course_id,
            course_id=course_id,
            title="C",
            version=version,
            modules=C1_MODULES if modules is None else modules,
            pass_mark=pass_mark,
            due_days=due_days,
            certificate_validity_days=validity,
            prerequisites=[],
            skills=[],
            **extra,
        )

    def employ(
        self,
        minutes: float,
        learner: str = "l-1",
        manager: str | None = "boss",
        status: str = "ACTIVE",
        effective: float | None = None,
        hr: str | None = None,
        sap: str | None = None,
    ) -> SimEvent:
        return self.add(
            EMPLOYMENT_CHANGED,
            minutes,
            learner,
            learner_id=learner,
            manager_id=manager,
            department=None,
            hr_worker_id=hr,
            sap_user_id=sap,
            employment_status=status,
            effective_at=at(minutes if effective is None else effective),
        )

    def _learning(
        self, name: str, minutes: float, learner: str, course: str, **body: Any
    ) -> SimEvent:
        return self.add(name, minutes, learner, learner_id=learner, course_id=course, **body)

    def enrol(
        self,
        minutes: float,
        learner: str = "l-1",
        course: str = "c1",
        due: float | None = None,
        version: int | None = None,
    ) -> SimEvent:
        return self._learning(
            ENROLLMENT_CREATED,
            minutes,
            learner,
            course,
            enrollment_id=f"e-{learner}-{course}-{minutes}",
            course_version=version,
            assigned_by=None,
            due_at=None if due is None else at(due),
        )

    def cancel(self, minutes: float, learner: str = "l-1", course: str = "c1") -> SimEvent:
        return self._learning(
            ENROLLMENT_CANCELLED,
            minutes,
            learner,
            course,
            enrollment_id="e",
            cancelled_by=None,
            reason=None,
        )

    def lesson(
        self,
        minutes: float,
        lesson: str = "l1",
        learner: str = "l-1",
        course: str = "c1",
        spent: float | None = 60.0,
    ) -> SimEvent:
        return self._learning(
            LESSON_COMPLETED,
            minutes,
            learner,
            course,
            module_id=None,
            lesson_id=lesson,
            time_spent_seconds=spent,
        )

    def video(
        self,
        minutes: float,
        segments: list[tuple[float, float]],
        video: str = "v1",
        duration: float = 100.0,
        learner: str = "l-1",
        course: str = "c1",
    ) -> SimEvent:
        return self._learning(
            VIDEO_PROGRESSED,
            minutes,
            learner,
            course,
            module_id=None,
            video_id=video,
            position_seconds=segments[-1][1] if segments else 0.0,
            duration_seconds=duration,
            watched_segments=[{"start_seconds": s, "end_seconds": e} for s, e in segments],
        )

    def module(
        self, minutes: float, module: str = "m1", learner: str = "l-1", course: str = "c1"
    ) -> SimEvent:
        return self._learning(MODULE_COMPLETED, minutes, learner, course, module_id=module)

    def submitted(
        self,
        minutes: float,
        spent: float | None,
        assessment: str = "a1",
        attempt: int = 1,
        learner: str = "l-1",
        course: str = "c1",
    ) -> SimEvent:
        return self._learning(
            ASSESSMENT_SUBMITTED,
            minutes,
            learner,
            course,
            module_id=None,
            assessment_id=assessment,
            attempt=attempt,
            answers_count=5,
            time_spent_seconds=spent,
        )

    def graded(
        self,
        minutes: float,
        score: float,
        attempt: int = 1,
        assessment: str = "a1",
        max_score: float = 10.0,
        pass_mark: float = 0.7,
        learner: str = "l-1",
        course: str = "c1",
    ) -> SimEvent:
        return self._learning(
            ASSESSMENT_GRADED,
            minutes,
            learner,
            course,
            module_id=None,
            assessment_id=assessment,
            attempt=attempt,
            score=score,
            max_score=max_score,
            pass_mark=pass_mark,
            passed=score / max_score >= pass_mark,
        )

    def corrected(
        self,
        minutes: float,
        action: str,
        attempt: int = 1,
        assessment: str = "a1",
        new_score: float | None = None,
        new_passed: bool | None = None,
        learner: str = "l-1",
        course: str = "c1",
    ) -> SimEvent:
        return self._learning(
            GRADE_CORRECTED,
            minutes,
            learner,
            course,
            assessment_id=assessment,
            attempt=attempt,
            action=action,
            new_score=new_score,
            new_passed=new_passed,
            corrected_by=None,
            reason=None,
        )

    def complete_c1(self, minutes: float, learner: str = "l-1", score: float = 8.0) -> None:
        """Enrol (at `minutes`) and do every required item; a1 graded last, at minutes + 3."""
        self.enrol(minutes, learner)
        self.lesson(minutes + 1, learner=learner)
        self.video(minutes + 2, [(0.0, 100.0)], learner=learner)
        self.graded(minutes + 3, score, learner=learner)

    def oracle(self, as_of: float | None = None) -> Oracle:
        return compute_oracle(self.events, None if as_of is None else at(as_of))


def only(oracle: Oracle, learner: str = "l-1", course: str = "c1") -> Any:
    row = oracle.progress_of(learner, course)
    assert row is not None
    return row


# --- progress -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("segments", "done"),
    [
        ([(0.0, 89.0)], False),  # 89 %
        ([(0.0, 91.0)], True),  # 91 %
        ([(0.0, 50.0), (40.0, 91.0)], True),  # overlapping: 91 % once merged
        ([(0.0, 60.0), (0.0, 60.0), (10.0, 55.0)], False),  # rewatches: 120+ s played, 60 % covered
        ([(0.0, 45.0), (45.0, 90.0)], True),  # touching segments: exactly 90 %
    ],
)
def test_video_done_at_90_percent_of_the_merged_coverage(
    segments: list[tuple[float, float]], done: bool
) -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    for n, segment in enumerate(segments):  # one heartbeat per segment
        s.video(2 + n, [segment])
    row = only(s.oracle())
    assert row.required_done == (1 if done else 0)
    assert row.percent == (33.3 if done else 0.0)
    assert row.status == "in_progress"
    assert row.time_spent_seconds == sum(e - b for b, e in segments)  # every segment counts


def test_video_uses_the_latest_duration() -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    s.video(2, [(0.0, 95.0)], duration=100.0)  # done at 100 s
    s.video(3, [], duration=120.0)  # the video was replaced by a longer cut: 95/120 < 90 %
    assert only(s.oracle()).required_done == 0


def test_progress_fields_and_completion() -> None:
    s = Scenario()
    s.course()
    s.enrol(0)
    s.lesson(1, spent=100.0)
    s.lesson(2, lesson="l2", spent=None)  # optional module: counts for time, not for progress
    s.video(3, [(0.0, 100.0)])
    s.submitted(4, spent=300.0)
    s.graded(5, 6.0)  # 0.6 < 0.7: failed
    row = only(s.oracle())
    assert (row.required_done, row.required_total, row.percent) == (2, 3, 66.7)
    assert row.best_scores == {"a1": 0.6}
    assert row.time_spent_seconds == 100.0 + 100.0 + 300.0
    assert row.last_activity_at == at(5)
    assert row.status == "in_progress"
    s.submitted(6, spent=200.0, attempt=2)
    s.graded(7, 9.0, attempt=2)
    oracle = s.oracle()
    row = only(oracle)
    assert (row.status, row.required_done, row.percent) == ("completed", 3, 100.0)
    assert row.best_scores == {"a1": 0.9}
    [completion] = oracle.completions
    assert completion.completion_id == ids.completion_id("acme", "l-1", "c1", 1)
    assert (completion.attempt, completion.completed_at, completion.score) == (1, at(7), 0.9)
    assert completion.time_spent_seconds == 700.0
    [cert] = oracle.certificates
    assert cert.certificate_id == ids.certificate_id("acme", "l-1", "c1", 1)
    assert (cert.issued_at, cert.expires_at, cert.revoked, cert.expired) == (
        at(7),
        None,
        False,
        False,
    )


def test_not_started_and_enrolment_events_are_not_activity() -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    row = only(s.oracle())
    assert (row.status, row.last_activity_at, row.percent, row.best_scores) == (
        "not_started",
        None,
        0.0,
        {},
    )


def test_module_completed_marks_lessons_and_videos_but_not_assessments() -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    s.module(2)
    row = only(s.oracle())
    assert (row.required_done, row.status) == (2, "in_progress")
    s.graded(3, 7.0)  # 7/10 >= 0.7: the pass completes the course
    assert only(s.oracle()).status == "completed"


def test_course_score_is_the_mean_of_the_required_assessments() -> None:
    modules = [
        {
            "module_id": "m",
            "title": "M",
            "required": True,
            "items": [
                {"item_id": "a1", "kind": "ASSESSMENT", "required": True},
                {"item_id": "a2", "kind": "ASSESSMENT", "required": True},
                {"item_id": "a3", "kind": "ASSESSMENT", "required": False},
            ],
        }
    ]
    s = Scenario()
    s.course(modules=modules)
    s.enrol(1)
    s.graded(2, 16.0, assessment="a1", max_score=20.0)  # 0.8
    s.graded(3, 3.0, assessment="a3")  # optional, failed: in best_scores, not in the score
    s.graded(4, 9.0, assessment="a2")  # 0.9
    oracle = s.oracle()
    assert oracle.completions[0].score == pytest.approx(0.85)
    assert only(oracle).best_scores == {"a1": 0.8, "a2": 0.9, "a3": 0.3}


# --- grades and corrections ------------------------------------------------------------------
def test_voided_pass_revokes_then_a_new_pass_certifies_attempt_2() -> None:
    s = Scenario()
    s.employ(0, hr="W1", sap="S1")
    s.course()
    s.complete_c1(1)  # completed at 4
    s.corrected(10, "VOIDED")
    s.graded(20, 9.0, attempt=2)
    oracle = s.oracle()
    first, second = oracle.certificates
    first_completion = ids.completion_id("acme", "l-1", "c1", 1)
    assert (first.attempt, first.revoked, first.revoked_at) == (1, True, at(10))
    assert (second.attempt, second.revoked, second.issued_at) == (2, False, at(20))
    assert second.certificate_id == ids.certificate_id("acme", "l-1", "c1", 2)
    assert [c.completed_at for c in oracle.completions] == [at(4), at(20)]
    assert only(oracle).best_scores == {"a1": 0.9}  # the voided 0.8 is gone
    # Both completions are owed to both HR systems; the revoked one needs a SAP correction,
    # and Workday's enrolment of it is expected updated in place.
    states = {(r.target, r.completion_id == first_completion, r.state) for r in oracle.hr_records}
    assert len(oracle.hr_records) == 4 and states == {
        ("SAP", True, "COMPLETED"),
        ("WORKDAY", True, "REVOKED"),
        ("SAP", False, "COMPLETED"),
        ("WORKDAY", False, "COMPLETED"),
    }
    [fix] = oracle.hr_corrections
    assert (fix.target, fix.hr_user_id, fix.certificate_id, fix.completion_id) == (
        "SAP",
        "S1",
        first.certificate_id,
        ids.completion_id("acme", "l-1", "c1", 1),
    )


def test_voided_pass_while_in_progress_undoes_the_assessment() -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    s.graded(2, 8.0)
    s.corrected(3, "VOIDED")
    row = only(s.oracle())
    assert (row.required_done, row.best_scores, row.last_activity_at) == (0, {}, at(3))


def test_correction_to_a_fail_revokes_and_a_second_attempt_keeps_it_done() -> None:
    s = Scenario()
    s.course()
    s.complete_c1(1)
    s.corrected(10, "CORRECTED", new_score=5.0)  # new_passed null: 5/10 < 0.7 fails
    oracle = s.oracle()
    assert oracle.certificates[0].revoked_at == at(10)
    assert only(oracle).best_scores == {"a1": 0.5}
    s2 = Scenario()
    s2.course()
    s2.complete_c1(1)
    s2.graded(5, 9.0, attempt=2)  # a second pass: the course stays completed
    s2.corrected(10, "VOIDED")
    oracle2 = s2.oracle()
    assert [c.revoked for c in oracle2.certificates] == [False]
    assert only(oracle2).status == "completed"


def test_corrected_new_passed_overrides_and_correction_before_its_grade_applies() -> None:
    s = Scenario()
    s.course()
    s.enrol(1)
    s.lesson(2)
    s.video(3, [(0.0, 100.0)])
    # Delivered (and occurring) before its grade: applies once the grade exists.
    s.corrected(4, "CORRECTED", new_score=6.0, new_passed=True)
    s.graded(5, 3.0)
    oracle = s.oracle()
    assert only(oracle).best_scores == {"a1": 0.6}
    assert only(oracle).status == "completed"
    assert oracle.completions[0].completed_at == at(5)


def test_correction_delivered_before_its_grade_but_later_in_event_time() -> None:
    s = Scenario()
    s.course()
    s.complete_c1(1)
    grade = s.events.pop()  # the grade at 4 is delivered after its correction at 10
    s.corrected(10, "VOIDED")
    s.events.append(grade)
    oracle = s.oracle()
    assert [(c.issued_at, c.revoked_at) for c in oracle.certificates] == [(at(4), at(10))]


# --- catalog ---------------------------------------------------------------------------------
def test_catalog_lower_or_equal_version_arriving_later_is_ignored() -> None:
    lesson_only = [
        {
            "module_id": "m1",
            "title": "M1",
            "required": True,
            "items": [{"item_id": "l1", "kind": "LESSON", "required": True}],
        }
    ]
    s = Scenario()
    s.course(0, version=2, modules=lesson_only, validity=30)
    s.course(1, version=1)  # lower: ignored
    s.course(2, version=2, modules=C1_MODULES)  # equal: ignored
    s.enrol(3)
    s.lesson(4)
    oracle = s.oracle()
    assert (only(oracle).required_total, only(oracle).status) == (1, "completed")
    assert oracle.completions[0].course_version == 2
    assert oracle.certificates[0].expires_at == at(4 + 30 * DAY)


LESSON_ONLY = [
    {
        "module_id": "m1",
        "title": "M1",
        "required": True,
        "items": [{"item_id": "l1", "kind": "LESSON", "required": True}],
    }
]
LESSON_PLUS_MODULE = [
    *LESSON_ONLY,
    {
        "module_id": "m9",
        "title": "New",
        "required": True,
        "items": [{"item_id": "l9", "kind": "LESSON", "required": True}],
    },
]


def republished_course() -> Scenario:
    """l-1 is certified on version 1; version 2 adds a required module; l-2 enrols after."""
    s = Scenario()
    for learner in ("l-1", "l-2"):
        s.employ(0, learner=learner, manager="boss")
    s.course(0, version=1, modules=LESSON_ONLY, validity=365)
    s.enrol(1, learner="l-1")
    s.lesson(2, learner="l-1")  # completed on version 1
    s.course(5, version=2, modules=LESSON_PLUS_MODULE)  # one more required module
    s.enrol(6, learner="l-2")
    s.lesson(7, learner="l-2")
    return s


def recertified_course() -> Scenario:
    """l-1 is certified on version 1, l-2 still learning; version 2 asks for recertification."""
    s = Scenario()
    for learner in ("l-1", "l-2"):
        s.employ(0, learner=learner, manager="boss")
    s.course(0, version=1, modules=LESSON_ONLY, validity=365)
    s.enrol(1, learner="l-1")
    s.lesson(2, learner="l-1")  # certified on version 1
    s.enrol(3, learner="l-2")  # still learning when version 2 arrives
    s.course(
        50,
        version=2,
        modules=LESSON_PLUS_MODULE,
        validity=365,
        recertify_on_publish=True,
        recertify_by=at(100),
    )
    s.lesson(60, learner="l-2")
    return s


def named_versions() -> Scenario:
    """Enrolments that name their catalog version: an older one, and one not published yet."""
    s = Scenario()
    s.course(0, version=1, modules=LESSON_ONLY)
    s.course(5, version=2, modules=LESSON_PLUS_MODULE)
    s.enrol(6, learner="l-1", version=1)  # enrolled against version 1 on purpose
    s.lesson(7, learner="l-1")
    s.enrol(6, learner="l-2", version=3)  # version 3 is published later
    s.lesson(7, learner="l-2")
    s.course(9, version=3, modules=LESSON_ONLY)
    return s


def test_an_enrolment_that_names_a_version_is_held_to_that_version() -> None:
    oracle = named_versions().oracle()
    progress = {p.learner_id: (p.status, p.required_total) for p in oracle.progress}
    assert progress == {"l-1": ("completed", 1), "l-2": ("completed", 1)}
    assert sorted((c.learner_id, c.course_version, c.completed_at) for c in oracle.completions) == [
        ("l-1", 1, at(7)),
        ("l-2", 3, at(9)),
    ]


def test_a_republished_course_binds_new_enrolments_and_never_revokes_earned_certificates() -> None:
    oracle = republished_course().oracle()
    progress = {
        p.learner_id: (p.status, p.required_done, p.required_total) for p in oracle.progress
    }
    assert progress == {"l-1": ("completed", 1, 1), "l-2": ("in_progress", 1, 2)}
    assert [(c.learner_id, c.revoked, c.expires_at) for c in oracle.certificates] == [
        ("l-1", False, at(2 + 365 * DAY))
    ]
    assert [c.course_version for c in oracle.completions] == [1]
    assert {n.kind for n in oracle.notifications} == {"COURSE_COMPLETED", "CERTIFICATE_ISSUED"}


def test_an_enrolment_in_progress_keeps_its_version_even_when_the_new_one_is_easier() -> None:
    s = Scenario()
    s.course(0, version=1, modules=LESSON_PLUS_MODULE)
    s.enrol(1)
    s.lesson(2)
    s.course(5, version=2, modules=LESSON_ONLY)  # would complete the pair if it applied
    s.enrol(6, learner="l-2")  # began after: version 2
    s.lesson(7, learner="l-2")
    oracle = s.oracle()
    assert [(p.learner_id, p.status) for p in oracle.progress] == [
        ("l-1", "in_progress"),
        ("l-2", "completed"),
    ]
    assert [(c.learner_id, c.course_version) for c in oracle.completions] == [("l-2", 2)]


def test_an_enrolment_that_began_before_any_catalog_takes_the_first_version() -> None:
    s = Scenario()
    s.enrol(1)
    s.lesson(2)
    s.course(3, version=1, modules=LESSON_ONLY)
    s.course(5, version=2, modules=LESSON_PLUS_MODULE)
    oracle = s.oracle()
    assert (only(oracle).status, only(oracle).required_total) == ("completed", 1)
    assert oracle.completions[0].completed_at == at(3)


def test_recertify_on_publish_expires_earned_certificates_and_notifies_instead_of_revoking() -> (
    None
):
    oracle = recertified_course().oracle()
    progress = {
        p.learner_id: (p.status, p.required_done, p.required_total) for p in oracle.progress
    }
    assert progress == {"l-1": ("completed", 1, 1), "l-2": ("in_progress", 1, 2)}
    [cert] = oracle.certificates
    assert (cert.learner_id, cert.revoked, cert.expires_at) == ("l-1", False, at(100))
    cause = ids.recertification_cause_id(cert.certificate_id, 2)
    recertify = {
        (n.notification_id, n.recipient_id)
        for n in oracle.notifications
        if n.kind == "RECERTIFICATION_REQUIRED"
    }
    assert recertify == {
        (ids.notification_id("RECERTIFICATION_REQUIRED", cause, to), to) for to in ("boss", "l-1")
    }
    assert oracle.hr_corrections == []


# --- status: due dates, overdue, cancelled, at risk -------------------------------------------
LATENESS = 6 * 60  # learnstream.clock.ALLOWED_LATENESS_MS, in this file's minutes


def test_overdue_is_decided_at_the_due_date_in_event_time() -> None:
    s = Scenario()
    for learner in ("l-1", "l-2", "l-4"):
        s.employ(0, learner=learner, manager="boss")
    s.course(0, due_days=1)
    s.enrol(10, learner="l-1", due=100)  # explicit due date
    s.lesson(20, learner="l-1")
    s.enrol(10, learner="l-2")  # catalog rule: due 1 day after enrolling
    s.lesson(20, learner="l-2")
    s.cancel(2 * DAY, learner="l-2")  # cancelled after its due date: it *was* overdue
    s.enrol(10, learner="l-3", course="c1", due=100)
    s.cancel(50, learner="l-3")
    s.enrol(60, learner="l-3", due=120)  # re-enrolled: active again
    s.enrol(10, learner="l-4", due=500)
    s.cancel(100, learner="l-4")  # cancelled before its due date: never overdue
    oracle = s.oracle(as_of=3 * DAY)
    statuses = {p.learner_id: (p.status, p.due_at) for p in oracle.progress}
    assert statuses == {
        "l-1": ("overdue", at(100)),
        "l-2": ("in_progress", at(10 + DAY)),  # status is as of as_of: cancelled now
        "l-3": ("overdue", at(120)),
        "l-4": ("not_started", at(500)),
    }
    # l-3 has no employment snapshot: no manager, nothing sent.
    notes = [(n.kind, n.recipient_id, n.subject_learner_id) for n in oracle.notifications]
    assert notes == [("OVERDUE", "boss", "l-1"), ("OVERDUE", "boss", "l-2")]
    cause = ids.due_cause_id("l-1", "c1", at(100))
    assert cause == f"l-1:c1:{ids.epoch_ms(at(100))}"
    assert oracle.notifications[0].notification_id == ids.notification_id("OVERDUE", cause, "boss")


def test_overdue_waits_for_the_allowed_lateness_and_uses_the_manager_at_due() -> None:
    s = Scenario()
    s.employ(0, manager="old")
    s.employ(1, manager="new", effective=150)  # announced at 1, effective after the due date
    s.course()
    s.enrol(10, due=100)
    assert only(s.oracle(as_of=100)).status == "not_started"
    early = s.oracle(as_of=100 + LATENESS - 1)
    assert only(early).status == "overdue" and early.notifications == []  # not decided yet
    oracle = s.oracle(as_of=100 + LATENESS)
    assert [(n.kind, n.recipient_id) for n in oracle.notifications] == [("OVERDUE", "old")]


def test_completed_after_the_due_date_was_still_overdue() -> None:
    s = Scenario()
    s.employ(0, manager="boss")
    s.course()
    s.enrol(1, due=100)
    s.lesson(200)
    s.video(201, [(0.0, 100.0)])
    s.graded(202, 8.0)  # every required item done, 102 minutes after the due date
    oracle = s.oracle(as_of=3 * DAY)
    assert only(oracle).status == "completed"
    assert "OVERDUE" in [n.kind for n in oracle.notifications]


@pytest.mark.parametrize(
    ("as_of", "lessons", "expected"),
    [
        (3 * DAY + LATENESS, ["l1"], ["boss-then"]),  # decided once the lateness has passed
        (3 * DAY + LATENESS - 1, ["l1"], []),  # window open, not decided yet
        (20 * DAY, ["l1"], ["boss-then"]),  # decided in event time: still owed later
        (9 * DAY, ["l1", "m1"], []),  # 66.7 % (module.completed marks l1 and v1): not at risk
    ],
)
def test_at_risk_window_and_percent(as_of: float, lessons: list[str], expected: list[str]) -> None:
    s = Scenario()
    s.employ(0, manager="boss-then")
    s.employ(3 * DAY + 60, manager="boss-now")  # after due - 7 days: not the recipient
    s.course()
    s.enrol(1, due=10 * DAY)
    for n, what in enumerate(lessons):
        if what == "m1":
            s.module(2 + n)
        else:
            s.lesson(2 + n, lesson=what)
    oracle = s.oracle(as_of=as_of)
    at_risk = [n for n in oracle.notifications if n.kind == "AT_RISK"]
    assert [n.recipient_id for n in at_risk] == expected
    if expected:
        cause = ids.due_cause_id("l-1", "c1", at(10 * DAY))
        assert at_risk[0].notification_id == ids.notification_id("AT_RISK", cause, "boss-then")


def test_progress_after_the_window_opened_does_not_undo_at_risk() -> None:
    s = Scenario()
    s.employ(0, manager="boss")
    s.course()
    s.enrol(1, due=10 * DAY)
    s.lesson(2, lesson="l1")
    s.module(4 * DAY)  # 66.7 % only after the window opened at due - 7 days
    oracle = s.oracle(as_of=5 * DAY)
    assert [n.kind for n in oracle.notifications] == ["AT_RISK"]


# --- certificates: expiry --------------------------------------------------------------------
def test_certificate_expiry_is_not_revocation() -> None:
    s = Scenario()
    s.course(validity=1)
    s.complete_c1(1)
    fresh = s.oracle(as_of=4 + DAY)  # expires_at == as_of: not yet expired
    assert fresh.certificates[0].expires_at == at(4 + DAY)
    assert not fresh.certificates[0].expired
    later = s.oracle(as_of=5 + DAY)
    assert (later.certificates[0].expired, later.certificates[0].revoked) == (True, False)
    assert later.counts["expired"] == 1
    assert only(later).status == "completed"


# --- org chart, notifications and HR --------------------------------------------------------
def test_manager_at_the_time_of_each_completion() -> None:
    s = Scenario()
    s.employ(0, manager="ann", hr="W1")
    s.employ(40, manager="bob", effective=50, hr="W1")  # announced at 40, effective at 50
    s.course(0, course_id="c1")
    s.course(0, course_id="c2")
    s.complete_c1(1)  # completed at 4 -> ann
    s.enrol(30, course="c2")
    s.lesson(31, course="c2")
    s.video(32, [(0.0, 100.0)], course="c2")
    s.graded(45, 9.0, course="c2")  # completed at 45 -> still ann (bob from 50)
    s.graded(55, 9.0, attempt=2, course="c2")  # no new completion: nothing new owed
    oracle = s.oracle()
    kinds = sorted((n.course_id, n.kind, n.recipient_id) for n in oracle.notifications)
    assert kinds == [
        ("c1", "CERTIFICATE_ISSUED", "ann"),
        ("c1", "COURSE_COMPLETED", "ann"),
        ("c2", "CERTIFICATE_ISSUED", "ann"),
        ("c2", "COURSE_COMPLETED", "ann"),
    ]
    cert = oracle.certificates_of("l-1", "c1")[0]
    expected_id = ids.notification_id("CERTIFICATE_ISSUED", cert.certificate_id, "ann")
    assert expected_id in {n.notification_id for n in oracle.notifications}
    s.enrol(60, course="c3")
    s.course(0, course_id="c3")
    s.lesson(61, course="c3")
    s.video(62, [(0.0, 100.0)], course="c3")
    s.graded(63, 9.0, course="c3")
    recipients = {n.recipient_id for n in s.oracle().notifications if n.course_id == "c3"}
    assert recipients == {"bob"}


def test_same_effective_time_ties_break_by_event_time() -> None:
    s = Scenario()
    s.employ(5, manager="late", effective=0)
    s.employ(1, manager="early", effective=0)
    s.course()
    s.complete_c1(10)
    assert {n.recipient_id for n in s.oracle().notifications} == {"late"}


def test_terminated_learner_gets_no_hr_record_and_no_notification() -> None:
    s = Scenario()
    s.employ(0, manager="boss", hr="W1", sap="S1")
    s.course(0, course_id="c1")
    s.course(0, course_id="c2")
    s.complete_c1(1)  # completed at 4, while ACTIVE
    s.employ(10, manager="boss", status="TERMINATED", hr="W1", sap="S1")
    s.enrol(5, course="c2")
    s.lesson(6, course="c2")
    s.video(7, [(0.0, 100.0)], course="c2")
    s.graded(20, 9.0, course="c2")  # a grade arriving after the termination completes c2
    oracle = s.oracle()
    assert len(oracle.completions) == 2  # the completion and certificate still happen
    assert {(r.course_id, r.target, r.hr_user_id) for r in oracle.hr_records} == {
        ("c1", "WORKDAY", "W1"),
        ("c1", "SAP", "S1"),
    }
    assert {n.course_id for n in oracle.notifications} == {"c1"}


def test_hr_record_per_mapped_system_at_completion_time() -> None:
    s = Scenario()
    s.employ(0, learner="l-1", hr="W1")
    s.employ(0, learner="l-2", sap="S2")
    s.employ(0, learner="l-3")  # mapped nowhere
    s.employ(20, learner="l-3", sap="S3")  # mapped after its completion: nothing owed
    s.course()
    for learner in ("l-1", "l-2", "l-3", "l-4"):  # l-4 has no employment at all
        s.complete_c1(1, learner=learner)
    oracle = s.oracle()
    assert [(r.learner_id, r.target, r.hr_user_id) for r in oracle.hr_records] == [
        ("l-1", "WORKDAY", "W1"),
        ("l-2", "SAP", "S2"),
    ]
    assert oracle.hr_records[0].completion_id == ids.completion_id("acme", "l-1", "c1", 1)
    assert oracle.counts["hr_records"] == {"SAP": 1, "WORKDAY": 1}


def test_revocation_without_sap_needs_no_correction() -> None:
    s = Scenario()
    s.employ(0, hr="W1")
    s.course()
    s.complete_c1(1)
    s.corrected(10, "VOIDED")
    oracle = s.oracle()
    assert oracle.certificates[0].revoked
    assert oracle.hr_corrections == []
    [record] = oracle.hr_records  # Workday updates its enrolment: no correction needed
    assert (record.target, record.state) == ("WORKDAY", "REVOKED")


def test_an_oracle_file_from_before_hr_record_states_still_loads() -> None:
    s = Scenario()
    s.employ(0, hr="W1")
    s.course()
    s.complete_c1(1)
    data = s.oracle().to_dict()
    del data["hr_records"][0]["state"]
    assert Oracle.from_dict(data).hr_records[0].state == "COMPLETED"


# --- delivery: duplicates, order, as_of -------------------------------------------------------
def busy_scenario() -> Scenario:
    s = Scenario()
    s.employ(0, manager="ann", hr="W1", sap="S1")
    s.employ(30, manager="bob", effective=35, hr="W1", sap="S1")
    s.course(0, validity=1, due_days=2)
    s.complete_c1(1)
    s.corrected(10, "VOIDED")
    s.submitted(19, spent=120.0, attempt=2)
    s.graded(20, 9.0, attempt=2)
    s.corrected(40, "CORRECTED", attempt=2, new_score=10.0)
    s.enrol(5, learner="l-2", due=60)
    s.video(6, [(0.0, 30.0)], learner="l-2")
    s.video(7, [(20.0, 95.0)], learner="l-2")
    s.lesson(8, learner="l-2")
    return s


def test_duplicates_are_ignored() -> None:
    s = busy_scenario()
    once = s.oracle()
    s.events = s.events + s.events[3:9] + s.events[-2:]
    twice = s.oracle()
    assert twice.counts["duplicates"] == 8
    assert twice.counts["events"] == once.counts["events"] + 8
    assert twice.progress == once.progress
    assert twice.certificates == once.certificates
    assert twice.notifications == once.notifications
    assert only(twice).time_spent_seconds == 60.0 + 100.0 + 120.0


def test_out_of_order_delivery_gives_the_in_order_result() -> None:
    s = busy_scenario()
    in_order = s.oracle().to_json()
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(s.events)
        assert s.oracle().to_json() == in_order
    oracle = Oracle.from_json(in_order)
    assert [(c.attempt, c.revoked) for c in oracle.certificates] == [(1, True), (2, False)]
    l2 = only(oracle, "l-2")  # the video is 95 % covered across two overlapping heartbeats
    assert (l2.status, l2.required_done, l2.time_spent_seconds) == ("in_progress", 2, 165.0)


def test_as_of_leaves_out_later_events_and_json_round_trips() -> None:
    s = busy_scenario()
    early = s.oracle(as_of=5)
    assert early.counts["after_as_of"] > 0
    assert [c.revoked for c in early.certificates] == [False]  # the void at 10 is not known yet
    assert early.as_of == at(5)
    again = Oracle.from_json(early.to_json())
    assert again == early
    assert again.to_json() == early.to_json()
