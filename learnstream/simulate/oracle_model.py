"""The oracle's result: typed rows and a stable JSON form.

JSON layout (`Oracle.to_json()`), every list sorted as noted, every time an ISO-8601 UTC string
with milliseconds (`2026-01-05T08:15:00.123Z`) or null:

    {
      "format": 1,
      "as_of": time, "seed": int | null,
      "counts": {"events", "unique_events", "duplicates", "after_as_of", "by_type": {name: n},
                 "learners", "courses", "pairs", "status": {status: n}, "completions",
                 "certificates", "revoked", "expired", "notifications": {kind: n},
                 "hr_records": {target: n}, "hr_corrections"},
      "progress":      [{learner_id, course_id, status, required_done, required_total, percent,
                         best_scores: {assessment_id: ratio}, time_spent_seconds,
                         last_activity_at, due_at}]                    by (learner_id, course_id)
      "certificates":  [{certificate_id, learner_id, course_id, attempt, issued_at, expires_at,
                         revoked, revoked_at, expired}]       by (learner_id, course_id, attempt)
      "completions":   [{completion_id, learner_id, course_id, attempt, completed_at, score,
                         course_version, time_spent_seconds}] by (learner_id, course_id, attempt)
      "notifications": [{notification_id, kind, recipient_id, subject_learner_id, course_id}]
                                 by (subject_learner_id, course_id, kind, recipient_id)
      "hr_records":    [{target, hr_user_id, learner_id, course_id, completion_id, state}]
                                 by (learner_id, course_id, completion_id, target)
                       state: the record as the HR system must end up holding it, COMPLETED,
                       or REVOKED (Workday, updated in place after a revocation); absent in
                       files written before it existed, read as COMPLETED
      "hr_corrections":[{target, hr_user_id, learner_id, course_id, certificate_id,
                         completion_id}]  by (learner_id, course_id, certificate_id, target)
    }

Scores and best_scores are ratios 0-1, percent 0-100, durations seconds (floats).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

FORMAT = 1


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


class _Row:
    """JSON (de)serialisation for the row dataclasses: datetimes as ISO strings."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in data and f.default is not MISSING:
                continue  # a field added later, with a default: older files still load
            value = data[f.name]
            if f.name.endswith("_at") or f.name == "as_of":
                value = parse_iso(value)
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class ProgressRow(_Row):
    learner_id: str
    course_id: str
    status: str  # not_started | in_progress | completed | overdue
    required_done: int
    required_total: int
    percent: float
    best_scores: dict[str, float]
    time_spent_seconds: float
    last_activity_at: datetime | None
    due_at: datetime | None


@dataclass(frozen=True)
class CertificateRow(_Row):
    certificate_id: str
    learner_id: str
    course_id: str
    attempt: int
    issued_at: datetime
    expires_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    expired: bool


@dataclass(frozen=True)
class CompletionRow(_Row):
    completion_id: str
    learner_id: str
    course_id: str
    attempt: int
    completed_at: datetime
    score: float | None
    course_version: int | None
    time_spent_seconds: float


@dataclass(frozen=True)
class NotificationRow(_Row):
    notification_id: str
    kind: (
        str  # CERTIFICATE_ISSUED | COURSE_COMPLETED | OVERDUE | AT_RISK | RECERTIFICATION_REQUIRED
    )
    recipient_id: str
    subject_learner_id: str
    course_id: str


@dataclass(frozen=True)
class HrRecordRow(_Row):
    target: str  # WORKDAY | SAP
    hr_user_id: str
    learner_id: str
    course_id: str
    completion_id: str
    state: str = "COMPLETED"  # REVOKED: Workday's enrolment updated after a revocation


@dataclass(frozen=True)
class HrCorrectionRow(_Row):
    target: str
    hr_user_id: str
    learner_id: str
    course_id: str
    certificate_id: str
    completion_id: str


_LISTS: dict[str, type[_Row]] = {
    "progress": ProgressRow,
    "certificates": CertificateRow,
    "completions": CompletionRow,
    "notifications": NotificationRow,
    "hr_records": HrRecordRow,
    "hr_corrections": HrCorrectionRow,
}


@dataclass
class Oracle:
    as_of: datetime
    seed: int | None
    counts: dict[str, Any]
    progress: list[ProgressRow] = field(default_factory=list)
    certificates: list[CertificateRow] = field(default_factory=list)
    completions: list[CompletionRow] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
    hr_records: list[HrRecordRow] = field(default_factory=list)
    hr_corrections: list[HrCorrectionRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "as_of": iso(self.as_of),
            "seed": self.seed,
            "counts": self.counts,
        }
        for name in _LISTS:
            out[name] = [row.to_dict() for row in getattr(self, name)]
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Oracle:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported oracle format {data.get('format')!r}")
        as_of = parse_iso(data["as_of"])
        assert as_of is not None
        lists: dict[str, Any] = {
            name: [row.from_dict(item) for item in data[name]] for name, row in _LISTS.items()
        }
        return cls(as_of=as_of, seed=data["seed"], counts=data["counts"], **lists)

    @classmethod
    def from_json(cls, text: str) -> Oracle:
        return cls.from_dict(json.loads(text))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Oracle:
        return cls.from_json(path.read_text())

    # --- look-ups for tests and comparisons ---------------------------------------------------
    def progress_of(self, learner_id: str, course_id: str) -> ProgressRow | None:
        for row in self.progress:
            if row.learner_id == learner_id and row.course_id == course_id:
                return row
        return None

    def certificates_of(self, learner_id: str, course_id: str) -> list[CertificateRow]:
        return [
            c for c in self.certificates if c.learner_id == learner_id and c.course_id == course_id
        ]
