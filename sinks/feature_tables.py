"""State of the `features` agent (recommendation features), as SQLAlchemy models.

Kept apart from sinks/tables.py so the agent owns its schema; the Alembic env imports this
module so autogenerate sees these tables. Only what the rolling windows and the mastery fold
need is stored: daily counters (a 30-day window never needs single events) and the learner's
grade facts (corrections must be re-applied in event-time order, so facts, not aggregates).
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Date, Float, Index, Integer, SmallInteger, String, Table, func
from sqlalchemy.orm import Mapped, mapped_column

from sinks.tables import Base


class LearnerDailyActivity(Base):
    """Engagement events (lesson, module, video, submission, grade, correction) per learner and
    UTC day of event time. Incremented per event: the runtime applies each event once."""

    __tablename__ = "learner_daily_activity"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(Integer)


class LearnerActivity(Base):
    """One row per learner seen by the agent: the learner set a rebuild walks, and the latest
    engagement time (GREATEST, so late events never move it back)."""

    __tablename__ = "learner_activity"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(100))
    last_activity_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LearnerGradeFact(Base):
    """assessment.graded and grade.corrected events, folded into effective attempts."""

    __tablename__ = "learner_grade_facts"
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # graded | corrected
    course_id: Mapped[str] = mapped_column(String(200))
    assessment_id: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    action: Mapped[str | None] = mapped_column(String(20))
    new_score: Mapped[float | None] = mapped_column(Float)


class CourseDailyEnrolments(Base):
    """enrollment.created events per course and UTC day of event time (course popularity)."""

    __tablename__ = "course_daily_enrolments"
    course_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # One row per input partition: members applying different partitions never increment the
    # same row (they waited for each other's commits); readers sum them (migration 0010).
    source_partition: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, server_default="-1"
    )
    enrolments: Mapped[int] = mapped_column(Integer)
    # popularity reads one window for all courses: by day, not by course
    __table_args__ = (Index("ix_course_daily_enrolments_day", "day"),)


# for `Base.metadata.create_all(engine, tables=FEATURE_TABLES)` until the migration has them
FEATURE_TABLES: list[Table] = [
    Base.metadata.tables[model.__tablename__]
    for model in (LearnerDailyActivity, LearnerActivity, LearnerGradeFact, CourseDailyEnrolments)
]
