"""course_daily_enrolments kept per input partition: no row shared between members

Revision ID: 0010
Revises: 0009

Every batch that enrols adds to its courses' counter of the day. With one row per (course,
day), the members of the group, each applying its own partitions, incremented the same rows:
one member's batch waited for the other's commit (34 ms per statement in a drain, most of it
lock waits). Each input partition now has its own row, and the popularity ranking sums them.
Rows from before belong to partition -1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "course_daily_enrolments",
        sa.Column("source_partition", sa.SmallInteger(), nullable=False, server_default="-1"),
    )
    op.drop_constraint("pk_course_daily_enrolments", "course_daily_enrolments", type_="primary")
    op.create_primary_key(
        "pk_course_daily_enrolments",
        "course_daily_enrolments",
        ["course_id", "day", "source_partition"],
    )


def downgrade() -> None:
    # One row per (course, day) again, holding the sum of its partitions' rows.
    kept = (
        "(SELECT course_id, day, sum(enrolments) AS n, min(source_partition) AS keep "
        "FROM course_daily_enrolments GROUP BY course_id, day) s"
    )
    same = "c.course_id = s.course_id AND c.day = s.day"
    op.execute(
        f"UPDATE course_daily_enrolments c SET enrolments = s.n FROM {kept} "
        f"WHERE {same} AND c.source_partition = s.keep"
    )
    op.execute(
        f"DELETE FROM course_daily_enrolments c USING {kept} "
        f"WHERE {same} AND c.source_partition <> s.keep"
    )
    op.drop_constraint("pk_course_daily_enrolments", "course_daily_enrolments", type_="primary")
    op.drop_column("course_daily_enrolments", "source_partition")
    op.create_primary_key(
        "pk_course_daily_enrolments", "course_daily_enrolments", ["course_id", "day"]
    )
