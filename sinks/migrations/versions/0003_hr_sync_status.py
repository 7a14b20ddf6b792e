"""hr_sync_status view over the HR audit (the tables themselves are in 0001)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from sinks.hr_tables import DROP_HR_SYNC_STATUS_VIEW, HR_SYNC_STATUS_VIEW

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(HR_SYNC_STATUS_VIEW)


def downgrade() -> None:
    op.execute(DROP_HR_SYNC_STATUS_VIEW)
