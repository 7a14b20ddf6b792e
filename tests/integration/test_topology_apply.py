"""`topology apply` and `diff` against the real cluster: create, stay idempotent, repair drift."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
)

from learnstream.kafka_admin import admin_client, apply_topology, diff_topology
from learnstream.settings import Settings
from learnstream.topology import load_topology, managed_topics

pytestmark = pytest.mark.integration
T = TypeVar("T")


def test_apply_creates_everything_then_is_idempotent(kafka_settings: Settings) -> None:
    topology = load_topology(kafka_settings.topology_file)
    expected = {kafka_settings.topic(name) for name in managed_topics(topology)}
    before = diff_topology(kafka_settings, topology)
    assert {d.topic for d in before if d.what == "missing"} == expected

    apply_topology(kafka_settings, topology)
    assert _eventually(lambda: diff_topology(kafka_settings, topology), lambda d: not d) == []
    assert apply_topology(kafka_settings, topology) == []  # second run: nothing to do

    admin = admin_client(kafka_settings)
    metadata = admin.list_topics(timeout=10).topics
    activity = kafka_settings.topic("learning.activity")
    assert len(metadata[activity].partitions) == topology.partitions("learning.activity")
    resource = ConfigResource(ConfigResource.Type.TOPIC, kafka_settings.topic("catalog.course"))
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"


def test_diff_reports_drift_and_apply_repairs_it(kafka_settings: Settings) -> None:
    topology = load_topology(kafka_settings.topology_file)
    apply_topology(kafka_settings, topology)
    admin = admin_client(kafka_settings)
    profile = kafka_settings.topic("learner.profile")
    resource = ConfigResource(ConfigResource.Type.TOPIC, profile, incremental_configs=[])
    resource.add_incremental_config(
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET)
    )
    admin.incremental_alter_configs([resource])[resource].result()
    hr = kafka_settings.topic("hr.sync.result")
    admin.create_partitions([NewPartitions(hr, 8)])[hr].result()  # more than declared

    # Brokers learn of admin changes from the KRaft metadata log a moment after the call.
    drifts = _eventually(
        lambda: {(d.topic, d.what): d for d in diff_topology(kafka_settings, topology)},
        lambda found: {(profile, "cleanup.policy"), (hr, "partitions")} <= set(found),
    )
    assert drifts[(profile, "cleanup.policy")].actual == "delete"
    assert drifts[(hr, "partitions")].actual == "8"
    assert not drifts[(hr, "partitions")].fixable  # Kafka cannot shrink a topic

    apply_topology(kafka_settings, topology)
    remaining = _eventually(
        lambda: [(d.topic, d.what) for d in diff_topology(kafka_settings, topology)],
        lambda found: (profile, "cleanup.policy") not in found,
    )
    assert remaining == [(hr, "partitions")]


def _eventually(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 15) -> T:
    deadline = time.monotonic() + timeout_s
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.2)
        result = probe()
    return result
