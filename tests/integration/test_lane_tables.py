"""A lane applies a batch only once the tables it waits for are applied up to their end, each by
the agent that owns it (topology.yaml `waits_for`): the org chart by notifications, so a cause
is never routed to the manager of before an org change published ahead of it. Real Kafka and
Postgres."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from learnstream.settings import Settings
from learnstream.topology import load_topology
from streams.app import worker_connection
from streams.lane import FastLane

pytestmark = pytest.mark.integration
ORG = "org.employment"


def _publish_one(settings: Settings, topic: str) -> tuple[int, int]:
    """(partition, end offset after it) of one record; the barrier reads offsets only."""
    delivered: list[Any] = []
    producer = Producer(settings.kafka_client_config())
    producer.produce(topic, key=b"learner-1", value=b"org change", on_delivery=lambda e, m:
                     delivered.append((e, m)))  # fmt: skip
    assert producer.flush(30) == 0
    error, message = delivered[0]
    assert error is None
    return message.partition(), message.offset() + 1


def _applied(settings: Settings, consumer: str, topic: str, partition: int, offset: int) -> None:
    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO stream_offsets (consumer, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer, topic, partition) "
            "DO UPDATE SET next_offset = EXCLUDED.next_offset",
            (consumer, topic, partition, offset),
        )


def test_the_lane_waits_for_the_org_chart_applied_by_its_owner(world: Settings) -> None:
    topology = load_topology(world.topology_file)
    lane_spec = topology.lanes["learner"]
    assert ORG in lane_spec.waits_for
    org = world.topic(ORG)
    partition, end = _publish_one(world, org)
    entry = SimpleNamespace(handler=SimpleNamespace(consumer="progress"))  # only its name
    lane = FastLane(
        world,
        "learner",
        [world.topic("learning.activity")],
        [entry],  # type: ignore[list-item]
        lambda: worker_connection(world),
        {org: topology.partitions(ORG)},
        table_owners={org: "notifications"},
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            lane.tables.wait(stop)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    try:
        waiter.join(1.5)
        assert not errors, errors
        assert waiter.is_alive(), "a batch went ahead of an org change nobody had applied"
        _applied(world, "progress", org, partition, end)  # not the org chart's owner
        waiter.join(1.5)
        assert waiter.is_alive(), "the entry agent's offsets stood in for the owner's"
        _applied(world, "notifications", org, partition, end)
        waiter.join(15)
        assert not waiter.is_alive(), "applied by its owner, the table still held the lane"
        assert not errors, errors
    finally:
        stop.set()
        waiter.join(5)
