"""learner_course_progress.next_due_check_at: the due sweep's timer, and an index for each sweep

Revision ID: 0009
Revises: 0008

Each lane's due sweep asked, every two seconds, for the pairs with a due decision owed: every
pair whose threshold had passed and that had no decision recorded yet. Without a column saying
which pairs were still owed, Postgres read every pair with a due date and both of its
decisions (9 ms at 4,000 pairs, growing with every enrolment ever made). Now each row carries
the time of its next undecided threshold (at-risk, then overdue; NULL once both are decided),
kept by the progress stage when the due date changes and by the sweep when it decides, and a
partial index serves each sweep with the owed rows only. Rows from before are armed from the
decisions already recorded. A second partial index serves the status refresh (pairs still
learning whose due date passed) the same way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "learner_course_progress",
        sa.Column("next_due_check_at", sa.DateTime(timezone=True), nullable=True),
    )
    # The at-risk window was 7 days when this migration was written (learnstream.clock).
    op.execute(
        """
        UPDATE learner_course_progress p SET next_due_check_at = CASE
            WHEN NOT EXISTS (SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
                AND a.course_id = p.course_id AND a.kind = 'at_risk' AND a.due_at = p.due_at)
                THEN p.due_at - interval '7 days'
            WHEN NOT EXISTS (SELECT 1 FROM due_alerts a WHERE a.learner_id = p.learner_id
                AND a.course_id = p.course_id AND a.kind = 'overdue' AND a.due_at = p.due_at)
                THEN p.due_at
            END
        WHERE p.due_at IS NOT NULL
        """
    )
    op.create_index(
        "ix_learner_course_progress_next_due_check",
        "learner_course_progress",
        ["next_due_check_at"],
        postgresql_where=sa.text("next_due_check_at IS NOT NULL"),
    )
    op.create_index(
        "ix_learner_course_progress_due_open",
        "learner_course_progress",
        ["due_at"],
        postgresql_where=sa.text("status IN ('in_progress', 'not_started') AND active"),
    )


def downgrade() -> None:
    op.drop_index("ix_learner_course_progress_due_open", table_name="learner_course_progress")
    op.drop_index("ix_learner_course_progress_next_due_check", table_name="learner_course_progress")
    op.drop_column("learner_course_progress", "next_due_check_at")
