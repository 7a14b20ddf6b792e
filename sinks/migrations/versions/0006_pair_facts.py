"""pair_facts: a pair's facts as rows appended once, instead of a JSON list rewritten whole

Revision ID: 0006
Revises: 0005

Each batch used to rewrite the whole fact list of every pair it touched (pair_state.state), so
a pair's writes grew with its history. A fact is written once now; pair_state keeps only the
small per-pair bookkeeping (what was emitted, the pinned version). Existing lists are moved.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_facts",
        sa.Column("learner_id", sa.String(length=200), nullable=False),
        sa.Column("course_id", sa.String(length=200), nullable=False),
        sa.Column("fact_id", sa.String(length=64), nullable=False),
        sa.Column("fact", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("learner_id", "course_id", "fact_id", name=op.f("pk_pair_facts")),
    )
    op.execute(
        "INSERT INTO pair_facts (learner_id, course_id, fact_id, fact) "
        "SELECT s.learner_id, s.course_id, f->>'id', f FROM pair_state s, "
        "jsonb_array_elements(coalesce(s.state->'facts', '[]'::jsonb)) AS f "
        "ON CONFLICT DO NOTHING"
    )
    op.execute("UPDATE pair_state SET state = state - 'facts' WHERE state ? 'facts'")


def downgrade() -> None:
    op.execute(
        "UPDATE pair_state s SET state = s.state || jsonb_build_object('facts', coalesce(("
        "SELECT jsonb_agg(f.fact ORDER BY f.fact->>'t', f.fact_id) FROM pair_facts f "
        "WHERE f.learner_id = s.learner_id AND f.course_id = s.course_id), '[]'::jsonb))"
    )
    op.drop_table("pair_facts")
