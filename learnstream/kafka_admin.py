"""topology.yaml applied to a real cluster: create what is missing, fix drift, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from learnstream.settings import Settings
from learnstream.topology import TopicSpec, Topology, managed_topics

MANAGED_CONFIGS = ("cleanup.policy", "retention.ms")


@dataclass(frozen=True)
class Drift:
    topic: str
    what: str  # "missing", "partitions", a config name, "replication"
    expected: str
    actual: str
    fixable: bool = True


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_client_config())


def _configs(spec: TopicSpec) -> dict[str, str]:
    return {"cleanup.policy": spec.cleanup_policy, "retention.ms": str(spec.retention_ms)}


def _partitions(spec: TopicSpec, topology: Topology) -> int:
    return spec.partitions or topology.defaults.partitions


def diff_topology(settings: Settings, topology: Topology) -> list[Drift]:
    """What differs between topology.yaml and the cluster, per managed topic."""
    admin = admin_client(settings)
    metadata = admin.list_topics(timeout=10).topics
    specs = {settings.topic(name): spec for name, spec in managed_topics(topology).items()}
    drifts: list[Drift] = []
    present = []
    for topic, spec in specs.items():
        if topic not in metadata:
            drifts.append(Drift(topic, "missing", f"{_partitions(spec, topology)} partitions", "-"))
            continue
        present.append(topic)
        partitions = metadata[topic].partitions
        actual, expected = len(partitions), _partitions(spec, topology)
        if actual != expected:
            drifts.append(Drift(topic, "partitions", str(expected), str(actual), actual < expected))
        replicas = min((len(p.replicas) for p in partitions.values()), default=0)
        if replicas != settings.kafka_replication_factor:
            drifts.append(
                Drift(
                    topic,
                    "replication",
                    str(settings.kafka_replication_factor),
                    str(replicas),
                    fixable=False,
                )
            )
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in present]
        for resource, future in admin.describe_configs(resources).items():
            actual_configs = future.result()
            for key, expected_value in _configs(specs[resource.name]).items():
                value = actual_configs[key].value if key in actual_configs else None
                if value != expected_value:
                    drifts.append(Drift(resource.name, key, expected_value, str(value)))
    return drifts


def apply_topology(settings: Settings, topology: Topology) -> list[Drift]:
    """Fix every fixable drift; return what was changed plus what cannot be fixed in place."""
    drifts = diff_topology(settings, topology)
    specs = {settings.topic(name): spec for name, spec in managed_topics(topology).items()}
    admin = admin_client(settings)
    missing = [d.topic for d in drifts if d.what == "missing"]
    if missing:
        _create(settings, admin, [(t, specs[t], _partitions(specs[t], topology)) for t in missing])
    grow = {
        d.topic: NewPartitions(d.topic, int(d.expected))
        for d in drifts
        if d.what == "partitions" and d.fixable
    }
    if grow:
        for future in admin.create_partitions(list(grow.values())).values():
            future.result()
    config_drifts = [d for d in drifts if d.what in MANAGED_CONFIGS]
    if config_drifts:
        resources: dict[str, ConfigResource] = {}
        for d in config_drifts:
            resource = resources.setdefault(
                d.topic, ConfigResource(ConfigResource.Type.TOPIC, d.topic, incremental_configs=[])
            )
            resource.add_incremental_config(
                ConfigEntry(d.what, d.expected, incremental_operation=AlterConfigOpType.SET)
            )
        for future in admin.incremental_alter_configs(list(resources.values())).values():
            future.result()
    return drifts


def _create(
    settings: Settings, admin: AdminClient, wanted: list[tuple[str, TopicSpec, int]]
) -> list[str]:
    new_topics = [
        NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=settings.kafka_replication_factor,
            config=_configs(spec),
        )
        for topic, spec, partitions in wanted
    ]
    created = []
    for topic, future in admin.create_topics(new_topics, operation_timeout=30).items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won
                raise
    return created


def ensure_topics(settings: Settings, topology: Topology, names: list[str]) -> list[str]:
    """Create the named topology topics that do not exist yet; return the ones created."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    specs = managed_topics(topology)
    wanted = [
        (settings.topic(name), specs[name], _partitions(specs[name], topology))
        for name in names
        if settings.topic(name) not in existing
    ]
    return _create(settings, admin, wanted) if wanted else []
