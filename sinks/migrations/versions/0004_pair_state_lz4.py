"""pair_state.state compressed with lz4 where the server has it

Every progress batch rewrites the state of each pair it touches, and most states are above
the TOAST threshold. lz4 writes them about a third faster than the default pglz (measured
with 500-state batches). A server built without lz4 keeps pglz.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            ALTER TABLE pair_state ALTER COLUMN state SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'lz4 is not available: pair_state keeps pglz';
        END $$
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE pair_state ALTER COLUMN state SET COMPRESSION default")
