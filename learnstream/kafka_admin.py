"""Create topics from topology.yaml on a real cluster, idempotently."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from learnstream.settings import Settings
from learnstream.topology import Topology


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_client_config())


def topic_configs(topology: Topology, name: str) -> dict[str, str]:
    spec = topology.topics[name]
    return {"cleanup.policy": spec.cleanup_policy, "retention.ms": str(spec.retention_ms)}


def ensure_topics(settings: Settings, topology: Topology, names: list[str]) -> list[str]:
    """Create the named topology topics that do not exist yet; return the ones created."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(
            settings.topic(name),
            num_partitions=topology.partitions(name),
            replication_factor=settings.kafka_replication_factor,
            config=topic_configs(topology, name),
        )
        for name in names
        if settings.topic(name) not in existing
    ]
    if not wanted:
        return []
    created = []
    for topic, future in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won
                raise
    return created
