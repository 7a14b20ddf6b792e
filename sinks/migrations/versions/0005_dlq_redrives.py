"""dlq_redrives: what `learnstream dlq redrive` re-published, so it is never sent twice

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dlq_redrives",
        sa.Column("dlq_topic", sa.String(length=255), nullable=False),
        sa.Column("dlq_partition", sa.Integer(), nullable=False),
        sa.Column("dlq_offset", sa.BigInteger(), nullable=False),
        sa.Column("source_topic", sa.String(length=255), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("origin_topic", sa.String(length=255), nullable=False),
        sa.Column("origin_partition", sa.Integer(), nullable=False),
        sa.Column("origin_offset", sa.BigInteger(), nullable=False),
        sa.Column("target_topic", sa.String(length=255), nullable=False),
        sa.Column("target_partition", sa.Integer(), nullable=False),
        sa.Column("target_offset", sa.BigInteger(), nullable=False),
        sa.Column("event_name", sa.String(length=300), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column(
            "redriven_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "dlq_topic", "dlq_partition", "dlq_offset", name=op.f("pk_dlq_redrives")
        ),
    )
    op.create_index(
        "ix_dlq_redrives_origin",
        "dlq_redrives",
        ["origin_topic", "origin_partition", "origin_offset"],
        unique=False,
    )
    op.create_index(
        "ix_dlq_redrives_target",
        "dlq_redrives",
        ["target_topic", "target_partition", "target_offset"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dlq_redrives_target", table_name="dlq_redrives")
    op.drop_index("ix_dlq_redrives_origin", table_name="dlq_redrives")
    op.drop_table("dlq_redrives")
