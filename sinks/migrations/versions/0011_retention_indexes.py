"""BRIN indexes on the insert times of processed_events and outbox, for their retention

Revision ID: 0011
Revises: 0010

Both tables grew with every event for ever. The worker now deletes markers older than the
de-duplication window and relayed outbox rows older than a day (learnstream/runtime/retention.py).
Rows arrive in time order, so a BRIN index (a few pages for millions of rows, next to nothing
per insert) finds the old ones without reading the whole table; a B-tree would cost every
insert another index entry.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        postgresql_using="brin",
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
