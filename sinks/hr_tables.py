"""Tables of the HR connectors (SQLAlchemy 2 models on the shared metadata) and the
`hr_sync_status` view. Migrations create them; tests may use `create_all(tables=HR_TABLES)`.

* hr_sync_audit: one row per (target, learner, course, completion) — what we owe and what
  the HR system has, with the payload hash that decides whether a re-send is needed;
* hr_sync_attempts: a write-ahead journal of every remote write, committed on its own
  connection *before* the call, so a worker killed after the HR system committed but before
  our transaction committed still leaves a trace: redelivery then reconciles, never re-sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from sinks.tables import Base


class HrSyncAudit(Base):
    __tablename__ = "hr_sync_audit"
    target: Mapped[str] = mapped_column(String(20), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    completion_id: Mapped[UUID] = mapped_column(primary_key=True)
    certificate_id: Mapped[UUID | None] = mapped_column(index=True)
    hr_user_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    payload_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    remote_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class HrSyncAttempt(Base):
    __tablename__ = "hr_sync_attempts"
    attempt_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(20))
    learner_id: Mapped[str] = mapped_column(String(200))
    course_id: Mapped[str] = mapped_column(String(200))
    completion_id: Mapped[UUID]
    payload_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))  # PENDING until the call returns
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_hr_sync_attempts_key", "target", "learner_id", "course_id", "completion_id"),
    )


HR_TABLES: list[Table] = [HrSyncAudit.__table__, HrSyncAttempt.__table__]  # type: ignore[list-item]

HR_SYNC_STATUS_VIEW = """
CREATE OR REPLACE VIEW hr_sync_status AS
SELECT target, learner_id, course_id, completion_id, hr_user_id, status, attempts,
       last_error, last_attempt_at, payload_hash, remote_ref
FROM hr_sync_audit
"""
DROP_HR_SYNC_STATUS_VIEW = "DROP VIEW IF EXISTS hr_sync_status"
