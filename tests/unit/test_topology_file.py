"""topology.yaml is consistent with itself and with schemas/avro (full checks: `topology check`)."""

from __future__ import annotations

from learnstream.serde import SchemaStore
from learnstream.settings import Settings
from learnstream.topology import load_topology

settings = Settings()
topology = load_topology(settings.topology_file)


def test_every_value_schema_exists() -> None:
    known = set(SchemaStore(settings.schema_dir).names())
    missing = {
        (topic, schema)
        for topic, spec in topology.topics.items()
        for schema in spec.value_schemas
        if schema not in known
    }
    assert not missing


def test_agents_and_sinks_reference_declared_topics() -> None:
    declared = set(topology.topics)
    for name, agent in topology.agents.items():
        assert set(agent.inputs + agent.outputs + agent.tables) <= declared, name
    for name, sink in topology.sinks.items():
        assert set(sink.reads) <= declared, name


def test_learner_keyed_topics_are_co_partitioned() -> None:
    counts = {topology.partitions(t) for t, s in topology.topics.items() if s.key == "learner_id"}
    assert len(counts) == 1, counts


def test_profile_catalog_and_org_topics_are_compacted() -> None:
    for topic in ("learner.profile", "catalog.course", "org.employment"):
        assert topology.topics[topic].cleanup_policy == "compact", topic
