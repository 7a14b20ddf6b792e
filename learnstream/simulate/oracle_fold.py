"""The oracle's fold: applies one event at a time (in event-time order) to the catalog, the
org chart and the learner × course pairs, starting a completion or revoking a certificate at the
event that changes whether a pair is completed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from learnstream import ids
from learnstream.clock import DAY_MS
from learnstream.ids import epoch_ms
from learnstream.names import ACTIVITY as ACTIVITY_NAMES
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
from learnstream.simulate.model import SimEvent
from learnstream.simulate.oracle_state import (
    CatalogVersion,
    Completion,
    Correction,
    Grade,
    OrgTimeline,
    Pair,
    Snapshot,
    Video,
)

LEARNING_EVENTS = ACTIVITY_NAMES
ACTIVITY = LEARNING_EVENTS - {ENROLLMENT_CREATED, ENROLLMENT_CANCELLED}  # last_activity_at


def event_time(event: SimEvent) -> int:
    return epoch_ms(event.record["envelope"]["occurred_at"])


def _opt_ms(value: datetime | int | None) -> int | None:
    return None if value is None else epoch_ms(value)


class Fold:
    """The state after applying events one by one, in event-time order."""

    def __init__(self) -> None:
        self.catalogs: dict[str, CatalogVersion] = {}  # the newest version per course
        self.published: dict[str, dict[int, CatalogVersion]] = {}  # first copy of each
        self.pairs: dict[tuple[str, str], Pair] = {}
        self.by_course: dict[str, list[Pair]] = {}
        self.org: dict[str, OrgTimeline] = {}
        self.learners: set[str] = set()

    def apply(self, event: SimEvent) -> None:
        name, rec, t = event.event_name, event.record, event_time(event)
        if name == COURSE_PUBLISHED:
            course, version = rec["course_id"], int(rec["version"])
            current = self.catalogs.get(course)
            published = CatalogVersion.from_record(rec, t, event.event_id)
            first = version not in self.published.setdefault(course, {})
            self.published[course].setdefault(version, published)
            if current is None or version > current.version:
                self.catalogs[course] = published
                for pair in self.by_course.get(course, []):
                    self._republished(pair, published, t)
            elif first:  # an older version, published late, that an enrolment may name
                for pair in self.by_course.get(course, []):
                    if pair.wanted_version == version and not pair.completed:
                        pair.catalog = published
                        self._evaluate(pair, t)
        elif name == EMPLOYMENT_CHANGED:
            self.learners.add(rec["learner_id"])
            self.org.setdefault(rec["learner_id"], OrgTimeline()).add(
                Snapshot(
                    epoch_ms(rec["effective_at"]),
                    t,
                    event.event_id,
                    rec.get("manager_id"),
                    rec["employment_status"],
                    rec.get("hr_worker_id"),
                    rec.get("sap_user_id"),
                )
            )
        elif name in LEARNING_EVENTS:
            pair = self._pair(rec["envelope"]["tenant_id"], rec["learner_id"], rec["course_id"])
            self._learn(pair, name, rec, t)
            if name == ENROLLMENT_CREATED and not pair.completed:  # (re-)enrolment re-pins
                pair.wanted_version = rec.get("course_version")
                named = self.published.get(pair.course_id, {}).get(pair.wanted_version or -1)
                pair.catalog = named or self.catalogs.get(pair.course_id)
            if name in ACTIVITY:
                pair.last_activity = t if pair.last_activity is None else max(pair.last_activity, t)
            self._evaluate(pair, t)
        elif "learner_id" in rec:
            self.learners.add(rec["learner_id"])

    def _pair(self, tenant_id: str, learner_id: str, course_id: str) -> Pair:
        pair = self.pairs.get((learner_id, course_id))
        if pair is None:
            pair = self.pairs[(learner_id, course_id)] = Pair(tenant_id, learner_id, course_id)
            pair.catalog = self.catalogs.get(course_id)  # its first event pins the version
            self.by_course.setdefault(course_id, []).append(pair)
            self.learners.add(learner_id)
        return pair

    @staticmethod
    def _learn(pair: Pair, name: str, rec: dict[str, Any], t: int) -> None:
        if name == ENROLLMENT_CREATED:
            pair.created_at, pair.explicit_due = t, _opt_ms(rec.get("due_at"))
        elif name == ENROLLMENT_CANCELLED:
            pair.cancelled_at = t
        elif name == LESSON_COMPLETED:
            pair.lessons.add(rec["lesson_id"])
            pair.spent.append(rec.get("time_spent_seconds") or 0.0)
        elif name == MODULE_COMPLETED:
            pair.modules.add(rec["module_id"])
        elif name == VIDEO_PROGRESSED:
            video = pair.videos.setdefault(rec["video_id"], Video())
            video.duration = float(rec["duration_seconds"])
            for seg in rec.get("watched_segments", []):
                start, end = float(seg["start_seconds"]), float(seg["end_seconds"])
                video.segments.append((start, end))
                pair.spent.append(max(0.0, end - start))
        elif name == ASSESSMENT_SUBMITTED:
            pair.spent.append(rec.get("time_spent_seconds") or 0.0)
        elif name == ASSESSMENT_GRADED:
            pair.grades[(rec["assessment_id"], rec["attempt"])] = Grade(
                float(rec["score"]),
                float(rec["max_score"]),
                float(rec["pass_mark"]),
                bool(rec["passed"]),
            )
        elif name == GRADE_CORRECTED:
            pair.corrections.setdefault((rec["assessment_id"], rec["attempt"]), []).append(
                Correction(rec["action"], rec.get("new_score"), rec.get("new_passed"))
            )

    def _republished(self, pair: Pair, published: CatalogVersion, t: int) -> None:
        """A newer version reaches a pair that already began: it keeps its pinned version,
        unless the owner asked everyone to re-certify."""
        named = pair.wanted_version
        if named == published.version and not pair.completed:
            pair.catalog = published  # the version the enrolment named is out now
        elif pair.catalog is None or (
            named is not None and named not in self.published.get(pair.course_id, {})
        ):
            pair.catalog = published  # nothing pinned yet: follow the newest
        elif not published.recertify_on_publish:
            return
        else:
            pair.recertify_versions.append(published)
            if pair.completed:
                last = pair.completions[-1]
                deadline = published.recertify_deadline
                last.expires_at = min(last.expires_at or deadline, deadline)
                last.recertified.append((published.version, t))
                return
            pair.catalog, pair.wanted_version = published, None
        self._evaluate(pair, t)

    def _evaluate(self, pair: Pair, t: int) -> None:
        catalog = pair.catalog
        done, total = pair.required_done(catalog)
        complete = total > 0 and done == total
        if complete and not pair.completed and catalog is not None:
            attempt = len(pair.completions) + 1
            key = (pair.tenant_id, pair.learner_id, pair.course_id, attempt)
            validity = catalog.validity_days
            expires_at = None if validity is None else t + validity * DAY_MS
            for later in pair.recertify_versions:  # its version was superseded by its owner
                if later.version > catalog.version:
                    deadline = later.recertify_deadline
                    expires_at = deadline if expires_at is None else min(expires_at, deadline)
            pair.completions.append(
                Completion(
                    attempt=attempt,
                    completion_id=ids.completion_id(*key),
                    certificate_id=ids.certificate_id(*key),
                    completed_at=t,
                    score=pair.course_score(catalog),
                    course_version=catalog.version,
                    time_spent=pair.time_spent(),
                    expires_at=expires_at,
                )
            )
        elif pair.completed and not complete:
            last = pair.completions[-1]
            if last.revoked_at is None:
                last.revoked_at = t
        pair.completed = complete

    def manager_at(self, learner_id: str, t: int) -> str | None:
        timeline = self.org.get(learner_id)
        return None if timeline is None else timeline.manager_at(t)
