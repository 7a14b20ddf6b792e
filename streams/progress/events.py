"""The progress stage's derived events (learning.progress): completions, un-completions,
recertifications and progress snapshots, each emitted once per cause. Their shape is the
contract HR integrations consume (schemas/avro), so it changes only with the schemas."""

from __future__ import annotations

from typing import Any

from learnstream import ids
from learnstream.names import COURSE_COMPLETED, PROGRESS_CHANGED, RECERTIFICATION_REQUIRED
from learnstream.runtime.records import Outbound
from streams.derive import derived
from streams.progress.timeline import Completion, Progress, Recertify, Timeline

SNAPSHOT = "_snapshot"  # "_": kept in memory with the pair, never written (progress_store)
Pair = tuple[str, str]  # (learner_id, course_id)


def emissions(
    pair: Pair, state: dict[str, Any], timeline: Timeline, progress: Progress
) -> list[Outbound]:
    """Derived events for what the timeline has that was not emitted yet, in event time."""
    learner = pair[0]
    tenant = state["tenant_id"]
    emitted = state.setdefault("emitted", {})
    done_attempts: list[int] = emitted.setdefault("completed", [])
    revoked_attempts: list[int] = emitted.setdefault("uncompleted", [])
    recertified: list[list[int]] = emitted.setdefault("recertify", [])
    out: list[tuple[int, Outbound]] = []
    # What each emitted completion said (attempt -> [completed_at, score]): a late fact can
    # complete the pair earlier in event time, or with a better score, than the completion
    # emitted first; the same completion is then emitted again, corrected (docs/contract).
    said: dict[str, list[Any]] = emitted.setdefault("completed_as", {})
    for c in timeline.completions:
        for r in c.recertify:
            if [c.attempt, r.version] not in recertified:
                recertified.append([c.attempt, r.version])
                out.append((r.published_at, recertification(tenant, pair, c, r)))
        now = [c.completed_at, c.score]
        if c.attempt not in done_attempts:
            done_attempts.append(c.attempt)
            said[str(c.attempt)] = now
            out.append((c.completed_at, completed(tenant, pair, c, c.cause_id)))
        elif said.setdefault(str(c.attempt), now) != now and c.revoked_at is None:
            said[str(c.attempt)] = now
            cause = f"{c.cause_id}:corrected:{c.completed_at}:{c.score}"
            out.append((c.completed_at, completed(tenant, pair, c, cause)))
        if c.revoked_at is not None and c.revoked_by and c.attempt not in revoked_attempts:
            revoked_attempts.append(c.attempt)
            undone = progress_fields(
                pair,
                progress,
                status="in_progress",
                transition="uncompleted",
                uncompleted_attempt=c.attempt,
                # Versions are pinned per enrolment, so only a correction revokes.
                uncompleted_reason="grade_corrected",
            )
            out.append(
                (
                    c.revoked_at,
                    derived(
                        PROGRESS_CHANGED,
                        learner,
                        tenant_id=tenant,
                        cause=f"{c.revoked_by}:uncompleted:{c.attempt}",
                        at_ms=c.revoked_at,
                        fields=undone,
                    ),
                )
            )
    snapshot = {**vars(progress), "best_scores": dict(sorted(progress.best_scores.items()))}
    # The last snapshot emitted lives in memory only: it was four fifths of every pair row
    # rewritten per batch. After a reload the first snapshot is derived again; unchanged, it
    # has the same event id, and the outbox keeps one row per id.
    last = state.get(SNAPSHOT, emitted.pop("snapshot", None))
    if snapshot != last and timeline.last_fact_id is not None:
        state[SNAPSHOT] = snapshot
        at = max(timeline.last_fact_t or 0, max((t for t, _ in out), default=0))
        out.append(
            (
                at,
                derived(
                    PROGRESS_CHANGED,
                    learner,
                    tenant_id=tenant,
                    cause=f"{timeline.last_fact_id}:{progress.status}:{progress.required_done}",
                    at_ms=at,
                    fields=progress_fields(pair, progress, transition="snapshot"),
                ),
            )
        )
    out.sort(key=lambda item: item[0])
    return [outbound for _, outbound in out]


def completed(tenant: str, pair: Pair, c: Completion, cause: str) -> Outbound:
    learner, course = pair
    return derived(
        COURSE_COMPLETED,
        learner,
        tenant_id=tenant,
        cause=cause,
        at_ms=c.completed_at,
        fields={
            "completion_id": ids.completion_id(tenant, learner, course, c.attempt),
            "learner_id": learner,
            "course_id": course,
            "course_version": c.course_version,
            "attempt": c.attempt,
            "completed_at": ids.from_epoch_ms(c.completed_at),
            "score": c.score,
            "time_spent_seconds": c.time_spent,
            # folded with the catalog of its time; certification issues with it as it is
            "expires_at": None if c.expires_at is None else ids.from_epoch_ms(c.expires_at),
        },
    )


def recertification(tenant: str, pair: Pair, c: Completion, r: Recertify) -> Outbound:
    learner, course = pair
    return derived(
        RECERTIFICATION_REQUIRED,
        learner,
        tenant_id=tenant,
        cause=f"{r.event_id}:{learner}:{c.attempt}",
        at_ms=r.published_at,
        fields={
            "certificate_id": ids.certificate_id(tenant, learner, course, c.attempt),
            "completion_id": ids.completion_id(tenant, learner, course, c.attempt),
            "learner_id": learner,
            "course_id": course,
            "attempt": c.attempt,
            "certified_version": c.course_version,
            "required_version": r.version,
            "published_at": ids.from_epoch_ms(r.published_at),
            "expires_at": ids.from_epoch_ms(r.deadline),
        },
    )


def progress_fields(
    pair: Pair,
    progress: Progress,
    status: str | None = None,
    *,
    transition: str,
    uncompleted_attempt: int | None = None,
    uncompleted_reason: str | None = None,
    due_at: int | None = None,
) -> dict[str, Any]:
    """A progress.changed body: the snapshot, and why it was emitted (schemas/avro)."""
    return {
        "learner_id": pair[0],
        "course_id": pair[1],
        "required_done": progress.required_done,
        "required_total": progress.required_total,
        "percent": progress.percent,
        "time_spent_seconds": progress.time_spent_seconds,
        "best_scores": progress.best_scores,
        "status": status or progress.status,
        "last_activity_at": (
            None
            if progress.last_activity_at is None
            else ids.from_epoch_ms(progress.last_activity_at)
        ),
        "transition": transition,
        "uncompleted_attempt": uncompleted_attempt,
        "uncompleted_reason": uncompleted_reason,
        "due_at": None if due_at is None else ids.from_epoch_ms(due_at),
    }
