"""The Postgres schema, as SQLAlchemy 2 models. Alembic migrations (sinks/migrations) create it.

Three kinds of tables:
* bookkeeping for effectively-once processing (stream_offsets, processed_events, outbox);
* processor state: the facts the pure rules fold over (pair_state, courses, org_chart);
* views for the API and analysts (learner_course_progress, certificates, notifications, …).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        datetime: DateTime(timezone=True),
    }


# --- effectively-once bookkeeping ---------------------------------------------------------
class StreamOffset(Base):
    """Next offset to apply per consumer and partition, committed with the effects it covers.
    It is the truth about progress; Kafka's committed offset is only a hint (ADR 0005)."""

    __tablename__ = "stream_offsets"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ProcessedEvent(Base):
    """Event ids a consumer has applied: client retries re-send the same event_id."""

    __tablename__ = "processed_events"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Retention finds markers past the de-duplication window by time (migration 0011).
    __table_args__ = (
        Index("ix_processed_events_processed_at", "processed_at", postgresql_using="brin"),
    )


class Outbox(Base):
    """Derived events, written in the transaction that derived them; a relay publishes them."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[UUID] = mapped_column(unique=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_outbox_unsent", "seq", postgresql_where="sent_at IS NULL"),
        Index("ix_outbox_created_at", "created_at", postgresql_using="brin"),  # retention
    )


# --- processor state ----------------------------------------------------------------------
class CourseVersion(Base):
    """Every published catalog version: progress is re-folded when one arrives late."""

    __tablename__ = "course_versions"
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    rules: Mapped[dict[str, Any]]
    catalog: Mapped[dict[str, Any]]
    published_at: Mapped[datetime]


class PartitionWatermark(Base):
    """Largest event time applied per input partition. The low watermark (the minimum over
    partitions) is the clock of time-based rules: a lagging partition holds it back."""

    __tablename__ = "partition_watermarks"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_time: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Watermark(Base):
    """Largest event time a consumer has seen: the clock for overdue and at-risk rules."""

    __tablename__ = "watermarks"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_time: Mapped[datetime]


class PairState(Base):
    """Per learner × course bookkeeping of the progress rules: what was emitted, the pinned
    catalog version (the facts they fold over are in pair_facts)."""

    __tablename__ = "pair_state"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[dict[str, Any]]
    catalog_version: Mapped[int | None] = mapped_column(Integer)
    # The partition of the lane input its events arrive on: whose due sweep decides the pair.
    lane_partition: Mapped[int | None] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PairFact(Base):
    """One fact of a pair (an activity event as the progress rules read it), written once."""

    __tablename__ = "pair_facts"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fact_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fact: Mapped[dict[str, Any]]


class OrgSnapshot(Base):
    """Every employment snapshot, so "the manager at time T" can be answered."""

    __tablename__ = "org_chart"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    effective_at: Mapped[datetime] = mapped_column(primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime]
    tenant_id: Mapped[str] = mapped_column(String(100))
    manager_id: Mapped[str | None] = mapped_column(String(200), index=True)
    department: Mapped[str | None] = mapped_column(String(200))
    hr_worker_id: Mapped[str | None] = mapped_column(String(200))
    sap_user_id: Mapped[str | None] = mapped_column(String(200))
    employment_status: Mapped[str] = mapped_column(String(20))


class NotificationCause(Base):
    """Every notification cause and where it was routed: routed once, kept across rebuilds."""

    __tablename__ = "notification_causes"
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    cause_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    course_id: Mapped[str | None] = mapped_column(String(200))
    tenant_id: Mapped[str] = mapped_column(String(100))
    at_time: Mapped[datetime]
    lookup_time: Mapped[datetime]
    event_id: Mapped[UUID]
    recipient_id: Mapped[str | None] = mapped_column(String(200))  # set once routed


class DueAlert(Base):
    """Overdue and at-risk decisions, taken once per (pair, kind, due date) in event time."""

    __tablename__ = "due_alerts"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    raised: Mapped[bool] = mapped_column(Boolean)  # decided once; False = checked, not owed
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())


# --- views ----------------------------------------------------------------------------------
class LearnerCourseProgress(Base):
    __tablename__ = "learner_course_progress"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), index=True)
    required_done: Mapped[int] = mapped_column(Integer)
    required_total: Mapped[int] = mapped_column(Integer)
    percent: Mapped[float] = mapped_column(Float)
    time_spent_seconds: Mapped[float] = mapped_column(Float)
    best_scores: Mapped[dict[str, Any]]
    last_activity_at: Mapped[datetime | None]
    enrolled_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The due sweep's timer: the pair's next undecided threshold (at-risk, then overdue), NULL
    # once both are decided (streams/progress/due_sweep.py, migration 0009).
    next_due_check_at: Mapped[datetime | None]
    __table_args__ = (
        Index(
            "ix_learner_course_progress_next_due_check",
            "next_due_check_at",
            postgresql_where="next_due_check_at IS NOT NULL",
        ),
        Index(
            "ix_learner_course_progress_due_open",
            "due_at",
            postgresql_where="status IN ('in_progress', 'not_started') AND active",
        ),
    )


class Completion(Base):
    __tablename__ = "completions"
    completion_id: Mapped[UUID] = mapped_column(primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    course_id: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime]
    score: Mapped[float | None] = mapped_column(Float)


class Certificate(Base):
    __tablename__ = "certificates"
    certificate_id: Mapped[UUID] = mapped_column(primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    course_id: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # The leaderboards look certificates up by course and learner (migration 0008).
    __table_args__ = (Index("ix_certificates_course_learner", "course_id", "learner_id"),)


class Notification(Base):
    """The notification outbox and delivery log: one row per deterministic notification id."""

    __tablename__ = "notifications"
    notification_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    recipient_id: Mapped[str] = mapped_column(String(200), index=True)
    subject_learner_id: Mapped[str] = mapped_column(String(200))
    course_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)


# --- operations ----------------------------------------------------------------------------
class DlqRedrive(Base):
    """Every dead letter `learnstream dlq redrive` re-published, recorded after the broker
    acknowledged it. Keyed by the letter's DLQ position; `origin_*` is the record first
    dead-lettered (followed back through earlier redrives), so a copy of a letter that was
    already redriven is recognised whichever DLQ or redrive produced it."""

    __tablename__ = "dlq_redrives"
    dlq_topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    dlq_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    dlq_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_topic: Mapped[str] = mapped_column(String(255))  # the letter's __dlq.* coordinates
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    origin_topic: Mapped[str] = mapped_column(String(255))
    origin_partition: Mapped[int] = mapped_column(Integer)
    origin_offset: Mapped[int] = mapped_column(BigInteger)
    target_topic: Mapped[str] = mapped_column(String(255))  # where the copy was written
    target_partition: Mapped[int] = mapped_column(Integer)
    target_offset: Mapped[int] = mapped_column(BigInteger)
    event_name: Mapped[str | None] = mapped_column(String(300))  # None: sent undecodable
    forced: Mapped[bool] = mapped_column(Boolean)
    redriven_at: Mapped[datetime] = mapped_column(server_default=func.now())
    __table_args__ = (
        Index("ix_dlq_redrives_origin", "origin_topic", "origin_partition", "origin_offset"),
        Index("ix_dlq_redrives_target", "target_topic", "target_partition", "target_offset"),
    )
