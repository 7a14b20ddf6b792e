"""Rebuild the views by replaying Kafka (Kappa): truncate derived state, forget the consumer
group's position, let the workers reprocess every topic from the start.

External effects are kept, not replayed: the notifications, their causes (with the manager each
was routed to) and the HR audit stay, and the agents de-duplicate against them, so a rebuild
never re-notifies or re-posts to HR. Keeping the causes matters: routing depends on how org
data interleaved with the causes the first time, and a replay must not route a cause again to
someone else.
"""

from __future__ import annotations

import hashlib

import psycopg
from confluent_kafka.admin import AdminClient

from learnstream.infra.errors import InfraError
from learnstream.settings import Settings

DERIVED_TABLES = (
    "stream_offsets",
    "processed_events",
    "outbox",
    "partition_watermarks",
    "watermarks",
    "course_versions",
    "pair_state",
    "pair_facts",
    "learner_course_progress",
    "completions",
    "certificates",
    "org_chart",
    "due_alerts",
    "learner_daily_activity",
    "learner_activity",
    "learner_grade_facts",
    "course_daily_enrolments",
)
CHECKSUM_QUERIES = {
    "progress": "SELECT learner_id, course_id, status, required_done, required_total, percent, "
    "round(time_spent_seconds::numeric, 3), best_scores::text, last_activity_at, enrolled_at, "
    "due_at, completed_at, active FROM learner_course_progress ORDER BY 1, 2",
    "certificates": "SELECT certificate_id, learner_id, course_id, attempt, score, issued_at, "
    "expires_at, revoked_at, revoke_reason FROM certificates ORDER BY 1",
    "completions": "SELECT completion_id, learner_id, course_id, attempt, completed_at, score "
    "FROM completions ORDER BY 1",
    "org_chart": "SELECT learner_id, effective_at, event_id, manager_id, employment_status "
    "FROM org_chart ORDER BY 1, 2, 3",
    "notifications": "SELECT notification_id, kind, recipient_id, subject_learner_id, course_id "
    "FROM notifications ORDER BY 1",
    "due_alerts": "SELECT learner_id, course_id, kind, due_at, raised FROM due_alerts "
    "ORDER BY 1, 2, 3, 4",
}


def views_checksum(conn: psycopg.Connection) -> dict[str, str]:
    """A digest per view over every row, volatile columns (timestamps of writes) left out."""
    digests = {}
    for name, query in CHECKSUM_QUERIES.items():
        digest = hashlib.sha256()
        for row in conn.execute(query):
            digest.update(repr(row).encode())
        digests[name] = digest.hexdigest()[:16]
    return digests


def group_id(settings: Settings) -> str:
    return settings.topic("learnstream")  # the Faust app id, which is its consumer group


def reset(settings: Settings) -> None:
    """Truncate derived state and delete the consumer group (workers must be stopped)."""
    admin = AdminClient(settings.kafka_client_config())
    group = group_id(settings)
    described = admin.describe_consumer_groups([group])[group].result()
    if described.members:
        raise InfraError(
            f"consumer group {group} still has {len(described.members)} member(s)",
            "stop every `learnstream worker` before rebuilding",
        )
    with psycopg.connect(settings.postgres_url) as conn:
        existing = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        tables = [t for t in DERIVED_TABLES if t in existing]
        conn.execute(f"TRUNCATE {', '.join(tables)}")
    try:
        admin.delete_consumer_groups([group])[group].result()
    except Exception as exc:  # a group that never committed has nothing to delete
        if "GROUP_ID_NOT_FOUND" not in str(exc):
            raise
