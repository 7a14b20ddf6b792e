"""The worker's Postgres sessions look learners up by key, even in tables whose statistics lag
behind their writes (streams/app.py SESSION_OPTIONS)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from learnstream.settings import Settings
from streams.app import worker_connection

LEARNERS = 2000
LOOKUP = (
    "EXPLAIN (FORMAT JSON) SELECT learner_id, status, best_scores FROM learner_course_progress "
    "WHERE learner_id = ANY(%s)"
)


def _node_types(plan: dict[str, Any]) -> set[str]:
    found = {plan["Node Type"]}
    for child in plan.get("Plans", []):
        found |= _node_types(child)
    return found


def _churned_progress_rows(conn: psycopg.Connection) -> list[str]:
    """Two courses per learner, rewritten twice as live batches do, never analyzed."""
    learners = [f"learner-{i:05d}" for i in range(LEARNERS)]
    scores = json.dumps({f"assessment-{i}": 0.5 for i in range(20)})
    for _ in range(3):
        conn.execute(
            "INSERT INTO learner_course_progress (learner_id, course_id, tenant_id, status, "
            "required_done, required_total, percent, time_spent_seconds, best_scores, active) "
            "SELECT l, c, 't', 'in_progress', 1, 10, 10, 30, %s::jsonb, true "
            "FROM unnest(%s::text[]) l, unnest(ARRAY['course-a', 'course-b']) c "
            "ON CONFLICT (learner_id, course_id) DO UPDATE SET "
            "required_done = learner_course_progress.required_done + 1, updated_at = now()",
            (scores, learners),
        )
    conn.commit()
    return learners


def test_a_batch_of_learners_is_read_by_index_in_a_table_not_yet_analyzed(
    world: Settings,
) -> None:
    with worker_connection(world) as conn:
        learners = _churned_progress_rows(conn)
        setting = conn.execute("SHOW random_page_cost").fetchone()
        row = conn.execute(LOOKUP, (learners[100:130],)).fetchone()
    assert setting is not None and float(setting[0]) == 1.1
    assert row is not None
    nodes = _node_types(row[0][0]["Plan"])
    assert "Seq Scan" not in nodes, nodes
    assert nodes & {"Index Scan", "Bitmap Index Scan", "Index Only Scan"}, nodes
