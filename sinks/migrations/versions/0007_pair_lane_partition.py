"""pair_state.lane_partition: the input partition a pair's events arrive on

Revision ID: 0007
Revises: 0006

The due sweep runs in each learner lane and decides only the pairs of the partitions that lane
owns, from the state it keeps in memory (ADR 0010, "Due decisions in the lane"). A row written
before this column existed has none; every lane sweeps it until its owner writes it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pair_state", sa.Column("lane_partition", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("pair_state", "lane_partition")
