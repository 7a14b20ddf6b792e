"""The oracle's per-entity state: a course catalog version, a learner × course pair, an org
timeline. Plain data plus the docs/domain-rules.md rules that read it; no I/O, no Kafka.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from learnstream.ids import epoch_ms

VIDEO_DONE_RATIO = 0.9
ITEM_KINDS = ("LESSON", "VIDEO", "ASSESSMENT")  # UNKNOWN never counts toward progress


@dataclass(frozen=True)
class CatalogVersion:
    course_id: str
    version: int
    pass_mark: float
    due_days: int | None
    validity_days: int | None
    module_of: dict[str, str]  # item_id -> module_id
    required: list[tuple[str, str]]  # (item_id, kind): required items of required modules
    published_at: int = 0
    event_id: str = ""
    recertify_on_publish: bool = False
    recertify_by: int | None = None

    @property
    def recertify_deadline(self) -> int:
        return max(self.published_at, self.recertify_by or self.published_at)

    @classmethod
    def from_record(
        cls, record: dict[str, Any], published_at: int = 0, event_id: str = ""
    ) -> CatalogVersion:
        module_of: dict[str, str] = {}
        required: list[tuple[str, str]] = []
        for module in record.get("modules", []):
            for item in module.get("items", []):
                module_of[item["item_id"]] = module["module_id"]
                if module["required"] and item["required"] and item["kind"] in ITEM_KINDS:
                    required.append((item["item_id"], item["kind"]))
        return cls(
            course_id=record["course_id"],
            version=int(record["version"]),
            pass_mark=float(record["pass_mark"]),
            due_days=record.get("due_days"),
            validity_days=record.get("certificate_validity_days"),
            module_of=module_of,
            required=required,
            published_at=published_at,
            event_id=event_id,
            recertify_on_publish=bool(record.get("recertify_on_publish", False)),
            recertify_by=None
            if record.get("recertify_by") is None
            else epoch_ms(record["recertify_by"]),
        )

    @property
    def required_assessments(self) -> list[str]:
        return [item for item, kind in self.required if kind == "ASSESSMENT"]


@dataclass
class Grade:
    score: float
    max_score: float
    pass_mark: float
    passed: bool


@dataclass
class Correction:
    action: str
    new_score: float | None
    new_passed: bool | None


def effective_grade(grade: Grade, corrections: list[Correction]) -> Grade | None:
    """The grade after its corrections (in event-time order); None when voided."""
    score, passed = grade.score, grade.passed
    for c in corrections:
        if c.action == "VOIDED":
            return None
        if c.action == "CORRECTED":
            if c.new_score is not None:
                score = c.new_score
            passed = (
                c.new_passed
                if c.new_passed is not None
                else score / grade.max_score >= grade.pass_mark
            )
    return Grade(score, grade.max_score, grade.pass_mark, passed)


def covered_seconds(segments: list[tuple[float, float]], duration: float) -> float:
    """Length of the union of the segments, clipped to [0, duration]."""
    total, reach = 0.0, 0.0
    for start, end in sorted(segments):
        start, end = max(start, reach, 0.0), min(end, duration)
        if end > start:
            total += end - start
            reach = end
    return total


@dataclass
class Video:
    segments: list[tuple[float, float]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def done(self) -> bool:
        return self.duration > 0 and (
            covered_seconds(self.segments, self.duration) >= VIDEO_DONE_RATIO * self.duration
        )


@dataclass
class Completion:
    attempt: int
    completion_id: str
    certificate_id: str
    completed_at: int
    score: float | None
    course_version: int
    time_spent: float
    expires_at: int | None
    revoked_at: int | None = None
    # (version, published_at) of each later version whose owner asked holders to re-certify
    recertified: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Pair:
    tenant_id: str
    learner_id: str
    course_id: str
    created_at: int | None = None  # latest enrollment.created
    explicit_due: int | None = None
    cancelled_at: int | None = None  # latest enrollment.cancelled
    lessons: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    videos: dict[str, Video] = field(default_factory=dict)
    grades: dict[tuple[str, int], Grade] = field(default_factory=dict)
    corrections: dict[tuple[str, int], list[Correction]] = field(default_factory=dict)
    spent: list[float] = field(default_factory=list)
    last_activity: int | None = None
    completed: bool = False
    completions: list[Completion] = field(default_factory=list)
    catalog: CatalogVersion | None = None  # pinned when the enrolment began
    wanted_version: int | None = None  # enrollment.created.course_version, when named
    recertify_versions: list[CatalogVersion] = field(default_factory=list)

    def effective(self) -> dict[tuple[str, int], Grade]:
        out = {}
        for key, grade in self.grades.items():
            eff = effective_grade(grade, self.corrections.get(key, []))
            if eff is not None:
                out[key] = eff
        return out

    def best_scores(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for (assessment, _), g in self.effective().items():
            ratio = g.score / g.max_score
            if assessment not in best or ratio > best[assessment]:
                best[assessment] = ratio
        return dict(sorted(best.items()))

    def required_done(self, catalog: CatalogVersion | None) -> tuple[int, int]:
        if catalog is None:
            return 0, 0
        passed = {a for (a, _), g in self.effective().items() if g.passed}
        done = 0
        for item, kind in catalog.required:
            if kind == "ASSESSMENT":
                done += item in passed
            elif catalog.module_of.get(item) in self.modules:
                done += 1
            elif kind == "LESSON":
                done += item in self.lessons
            else:
                video = self.videos.get(item)
                done += video is not None and video.done
        return done, len(catalog.required)

    def course_score(self, catalog: CatalogVersion) -> float | None:
        """Mean of best_scores over the required assessments (fsum: order-independent)."""
        best = self.best_scores()
        scores = [best[a] for a in catalog.required_assessments if a in best]
        return math.fsum(scores) / len(scores) if scores else None

    def time_spent(self) -> float:
        return math.fsum(self.spent)

    def active(self) -> bool:
        created, cancelled = self.created_at, self.cancelled_at
        return created is not None and (cancelled is None or cancelled <= created)

    def due_at(self, catalog: CatalogVersion | None) -> int | None:
        if self.explicit_due is not None or self.created_at is None:
            return self.explicit_due
        if catalog is None or catalog.due_days is None:
            return None
        return self.created_at + catalog.due_days * 86_400_000


@dataclass(frozen=True)
class Snapshot:
    effective_at: int
    occurred_at: int
    event_id: str
    manager_id: str | None
    status: str
    hr_worker_id: str | None
    sap_user_id: str | None


@dataclass
class OrgTimeline:
    """All employment snapshots of one learner, ordered by (effective_at, occurred_at)."""

    snapshots: list[Snapshot] = field(default_factory=list)
    _keys: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, snap: Snapshot) -> None:
        key = (snap.effective_at, snap.occurred_at, snap.event_id)
        at = bisect_right(self._keys, key)
        self._keys.insert(at, key)
        self.snapshots.insert(at, snap)

    def at(self, t: int) -> Snapshot | None:
        """The snapshot with the greatest effective_at <= t (ties: the later event time)."""
        index = bisect_right([k[0] for k in self._keys], t)
        return self.snapshots[index - 1] if index else None

    def manager_at(self, t: int) -> str | None:
        snap = self.at(t)
        return None if snap is None or snap.status == "TERMINATED" else snap.manager_id
