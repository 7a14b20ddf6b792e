"""certificates by (course, learner): the leaderboards' lookups

Revision ID: 0008
Revises: 0007

A batch rewrites the leaderboard members it certified by looking up each (course, learner)'s
best live certificate, and the read API refills a course's leaderboard from Postgres. With an
index on learner_id alone, the members lookup joined every certificate against every member
(36 ms per call at 2,000 certificates and 100 members, growing with both).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_certificates_course_learner", "certificates", ["course_id", "learner_id"])


def downgrade() -> None:
    op.drop_index("ix_certificates_course_learner", table_name="certificates")
