"""The read endpoints. Every one needs a bearer token except /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any, cast

import psycopg
import redis
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from sinks.api import queries
from sinks.api.auth import (
    Principal,
    authorize_course_stats,
    authorize_learner,
    authorize_manager,
    current_principal,
)
from sinks.api.cache import DashboardCache
from sinks.api.errors import ERROR_RESPONSES, NotFound
from sinks.api.models import (
    CertificateOut,
    CertificatesResponse,
    CourseProgress,
    CourseStatsResponse,
    Funnel,
    Health,
    LeaderboardEntry,
    LeaderboardResponse,
    ProgressResponse,
    RecommendationOut,
    RecommendationsResponse,
    TeamMember,
    TeamResponse,
)

router = APIRouter()
CACHE_HEADER = "X-Learnstream-Cache"  # hit | miss: where the dashboard came from


def db_connection(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.db.connection() as conn:
        yield conn


Caller = Annotated[Principal, Depends(current_principal)]
Conn = Annotated[psycopg.Connection, Depends(db_connection)]
# Postgres text cannot hold NUL, so no stored id has one: such an id is invalid input (422),
# not a query that fails (500).
Id = Annotated[str, Path(pattern=r"^[^\x00]+$")]


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz() -> Health:
    """Liveness: the process answers. Touches no dependency."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    tags=["health"],
    responses={503: {"model": Health, "description": "Postgres or Redis unreachable"}},
)
def readyz(request: Request) -> Any:
    """Readiness: Postgres answers SELECT 1 and Redis answers PING."""
    checks: dict[str, str] = {}
    try:
        with request.app.state.db.connection() as conn:
            conn.execute("SELECT 1").fetchone()
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes in the body
        checks["postgres"] = f"error: {type(exc).__name__}: {exc}"[:300]
    try:
        request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}: {exc}"[:300]
    ready = all(value == "ok" for value in checks.values())
    body = Health(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/learners/{learner_id}/progress",
    response_model=ProgressResponse,
    responses=ERROR_RESPONSES,
    tags=["learners"],
)
def learner_progress(
    learner_id: Id, request: Request, response: Response, caller: Caller, conn: Conn
) -> ProgressResponse:
    """The learner dashboard: progress per course, read through the Redis cache."""
    authorize_learner(caller, learner_id, conn)
    cache: DashboardCache = request.app.state.cache
    cached = cache.get(learner_id)
    if cached is not None:
        try:
            body = ProgressResponse(
                learner_id=learner_id, courses=[CourseProgress.model_validate(r) for r in cached]
            )
            response.headers[CACHE_HEADER] = "hit"
            return body
        except ValidationError:
            pass  # not this layout (an older release wrote it): refill below
    courses = [CourseProgress.model_validate(row) for row in queries.progress(conn, learner_id)]
    if not courses and not queries.learner_known(conn, learner_id):
        raise NotFound(f"unknown learner {learner_id}")
    cache.put(learner_id, [course.model_dump(mode="json") for course in courses])
    response.headers[CACHE_HEADER] = "miss"
    return ProgressResponse(learner_id=learner_id, courses=courses)


@router.get(
    "/learners/{learner_id}/certificates",
    response_model=CertificatesResponse,
    responses=ERROR_RESPONSES,
    tags=["learners"],
)
def learner_certificates(learner_id: Id, caller: Caller, conn: Conn) -> CertificatesResponse:
    """Every certificate issued to the learner: valid, expired (re-certification due) or
    revoked."""
    authorize_learner(caller, learner_id, conn)
    rows = queries.certificates(conn, learner_id)
    if not rows and not queries.learner_known(conn, learner_id):
        raise NotFound(f"unknown learner {learner_id}")
    return CertificatesResponse(
        learner_id=learner_id, certificates=[CertificateOut.model_validate(r) for r in rows]
    )


class _NoRedis:
    """Stands in for Redis when it is down: every read misses, so the recommender recomputes
    features and popularity from Postgres."""

    def hgetall(self, _key: str) -> dict[str, str]:
        return {}

    def pipeline(self, transaction: bool = True) -> _NoPipeline:
        return _NoPipeline()


class _NoPipeline:
    def __init__(self) -> None:
        self.results: list[Any] = []

    def zrange(self, *_args: Any, **_kwargs: Any) -> None:
        self.results.append([])

    def hgetall(self, _key: str) -> None:
        self.results.append({})

    def execute(self) -> list[Any]:
        return self.results


@router.get(
    "/learners/{learner_id}/recommendations",
    response_model=RecommendationsResponse,
    responses=ERROR_RESPONSES,
    tags=["learners"],
)
def learner_recommendations(
    learner_id: Id,
    request: Request,
    caller: Caller,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> RecommendationsResponse:
    """Next-best content: unfinished items first, then new courses (views.recommendations)."""
    from streams.views.recommendations import recommendations_for

    authorize_learner(caller, learner_id, conn)
    if not queries.learner_known(conn, learner_id):
        raise NotFound(f"unknown learner {learner_id}")
    prefix = request.app.state.settings.redis_key_prefix
    try:
        found = recommendations_for(
            conn, request.app.state.redis, learner_id, limit, key_prefix=prefix
        )
    except redis.RedisError:
        found = recommendations_for(
            conn, cast("redis.Redis[str]", _NoRedis()), learner_id, limit, key_prefix=prefix
        )
    out = []
    for rec in found:
        fields = asdict(rec)
        fields["due_at"] = queries.ms_to_datetime(rec.due_at)
        out.append(RecommendationOut.model_validate(fields))
    return RecommendationsResponse(learner_id=learner_id, recommendations=out)


@router.get(
    "/managers/{manager_id}/team",
    response_model=TeamResponse,
    responses=ERROR_RESPONSES,
    tags=["managers"],
)
def manager_team(manager_id: Id, caller: Caller, conn: Conn) -> TeamResponse:
    """The manager's current direct reports and their active assignments by status."""
    authorize_manager(caller, manager_id)
    members = [TeamMember.model_validate(row) for row in queries.team(conn, manager_id)]
    if not members and not queries.manager_known(conn, manager_id):
        raise NotFound(f"unknown manager {manager_id}")
    return TeamResponse(
        manager_id=manager_id,
        reports=len(members),
        assignments=sum(m.assignments for m in members),
        completed=sum(m.completed for m in members),
        in_progress=sum(m.in_progress for m in members),
        not_started=sum(m.not_started for m in members),
        overdue=sum(m.overdue for m in members),
        overdue_reports=[m.learner_id for m in members if m.overdue],
        members=members,
    )


@router.get(
    "/courses/{course_id}/stats",
    response_model=CourseStatsResponse,
    responses=ERROR_RESPONSES,
    tags=["courses"],
)
def course_stats(course_id: Id, caller: Caller, conn: Conn) -> CourseStatsResponse:
    """Enrolments, completions, median time to complete and the completion funnel
    (analytics.course_stats and analytics.completion_funnel). Managers and admins."""
    authorize_course_stats(caller)
    row = queries.course_stats(conn, course_id)
    if row is None:
        raise NotFound(f"unknown course {course_id}")
    funnel = Funnel.model_validate(row)
    return CourseStatsResponse.model_validate({**row, "funnel": funnel})


@router.get(
    "/courses/{course_id}/leaderboard",
    response_model=LeaderboardResponse,
    responses=ERROR_RESPONSES,
    tags=["courses"],
)
def course_leaderboard(
    course_id: Id,
    request: Request,
    caller: Caller,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> LeaderboardResponse:
    """Best unrevoked certificate score per learner: the Redis sorted set, or Postgres (and a
    refill) when Redis lost it. Managers and admins."""
    from streams.views.leaderboard import load_leaderboard

    authorize_course_stats(caller)
    if queries.course_stats(conn, course_id) is None:
        raise NotFound(f"unknown course {course_id}")
    prefix = request.app.state.settings.redis_key_prefix
    leaders, from_redis = load_leaderboard(conn, request.app.state.redis, prefix, course_id, limit)
    return LeaderboardResponse(
        course_id=course_id,
        source="redis" if from_redis else "postgres",
        leaders=[LeaderboardEntry(learner_id=learner, score=score) for learner, score in leaders],
    )
