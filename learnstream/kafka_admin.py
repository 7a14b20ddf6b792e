"""The Kafka admin side: topology.yaml applied to a real cluster (create what is missing, fix
drift, idempotently), and end offsets (high watermarks) of topic partitions."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from learnstream.settings import Settings
from learnstream.topology import TopicSpec, Topology, managed_topics

MANAGED_CONFIGS = ("cleanup.policy", "retention.ms")
PARTITIONS_TTL_S = 60.0


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


class EndOffsets:
    """High watermarks per partition, for callers that ask often (the due sweep's timer, the
    lane before each batch). One ListOffsets request per broker answers every partition at
    once, where a consumer's get_watermark_offsets asks twice per partition, one at a time.
    The client is kept: a new one per call costs the broker a connection and a metadata round
    trip. It has its own connection, too: a broker answers one request per connection at a
    time, so over a consumer's connection the question would wait behind a long-polling fetch.
    """

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin: AdminClient | None = None
        self._counts: dict[str, tuple[int, float]] = {}  # topic -> (partitions, when asked)

    def of(
        self, topics: list[str], partitions: dict[str, int] | None = None
    ) -> dict[tuple[str, int], int]:
        """Per partition of `topics`; `partitions` (topic -> count) skips the metadata call."""
        if self._admin is None:
            self._admin = AdminClient(self.settings.kafka_client_config())
        try:
            counts = partitions or {topic: self._partitions(topic) for topic in topics}
            wanted = {
                TopicPartition(topic, p): OffsetSpec.latest()
                for topic in topics
                for p in range(counts[topic])
            }
            if not wanted:
                return {}
            futures = self._admin.list_offsets(wanted, request_timeout=self.timeout_s)
            return {
                (tp.topic, tp.partition): future.result(timeout=self.timeout_s).offset
                for tp, future in futures.items()
            }
        except BaseException:
            # A client that failed is replaced at the next call: after a broker was killed and
            # restarted, a kept client failed every call for 12 minutes (the reliability suite)
            # where a new one answered at once, and the lanes waiting on it stood still.
            self.close()
            raise

    def _partitions(self, topic: str) -> int:
        """The topic's partition count, asked about that topic alone (metadata of every topic
        on a shared cluster can be megabytes per answer) and kept for a minute."""
        now = time.monotonic()
        known = self._counts.get(topic)
        if known is None or now - known[1] > PARTITIONS_TTL_S:
            assert self._admin is not None
            metadata = self._admin.list_topics(topic=topic, timeout=self.timeout_s)
            known = self._counts[topic] = (len(metadata.topics[topic].partitions), now)
        return known[0]

    def close(self) -> None:
        self._admin = None  # the admin client has no close(); dropping it ends its threads


@retry(
    retry=retry_if_exception_type(KafkaException),
    wait=wait_random_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(30),
    reraise=True,
)
def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """High watermarks per partition, from a short-lived client (tools and tests)."""
    offsets = EndOffsets(settings)
    try:
        return offsets.of(topics)
    finally:
        offsets.close()
