"""Response bodies (they are also the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel


class CourseProgress(BaseModel):
    course_id: str
    tenant_id: str
    status: str  # not_started | in_progress | overdue | completed
    required_done: int
    required_total: int
    percent: float
    time_spent_seconds: float
    best_scores: dict[str, float]
    last_activity_at: datetime | None
    enrolled_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    active: bool


class ProgressResponse(BaseModel):
    learner_id: str
    courses: list[CourseProgress]


class CertificateOut(BaseModel):
    certificate_id: UUID
    course_id: str
    tenant_id: str
    attempt: int
    score: float
    issued_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    status: Literal["valid", "expired", "revoked"]


class CertificatesResponse(BaseModel):
    learner_id: str
    certificates: list[CertificateOut]


class RecommendationOut(BaseModel):
    kind: str  # "item" (finish what you started) or "course" (start something new)
    course_id: str
    item_id: str | None
    reason: str
    due_at: datetime | None
    skill_gap: float | None


class RecommendationsResponse(BaseModel):
    learner_id: str
    recommendations: list[RecommendationOut]


class TeamMember(BaseModel):
    learner_id: str
    department: str | None
    assignments: int
    completed: int
    in_progress: int
    not_started: int
    overdue: int
    overdue_courses: list[str]


class TeamResponse(BaseModel):
    manager_id: str
    reports: int
    assignments: int
    completed: int
    in_progress: int
    not_started: int
    overdue: int
    overdue_reports: list[str]
    members: list[TeamMember]


class Funnel(BaseModel):
    enrolled: int
    started: int
    half_done: int
    completed: int
    certified: int


class CourseStatsResponse(BaseModel):
    course_id: str
    title: str | None
    enrolments: int
    active_enrolments: int
    completions: int
    completion_rate: float | None
    median_time_to_complete_s: float | None
    avg_percent: float | None
    certificates_issued: int
    certificates_unrevoked: int
    funnel: Funnel


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


class LeaderboardEntry(BaseModel):
    learner_id: str
    score: float


class LeaderboardResponse(BaseModel):
    course_id: str
    source: str  # "redis" or "postgres" (cache refilled)
    leaders: list[LeaderboardEntry]
