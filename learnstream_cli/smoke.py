"""The foundation's main job: one Avro event through Kafka into one Postgres row and one Redis key.

It is deliberately a real sink, at least once: consume, write idempotently, then commit.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from confluent_kafka import Consumer, KafkaError, Message, Producer

from learnstream import names
from learnstream.events import ce_headers, make_envelope
from learnstream.kafka_admin import ensure_topics
from learnstream.kafka_clients import producer_config
from learnstream.log import bound_event, get_logger
from learnstream.serde import AvroSerde, build_serde
from learnstream.settings import Settings
from learnstream.topology import load_topology

EVENT = names.MODULE_COMPLETED
SMOKE_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS smoke_module_completions (
    event_id uuid PRIMARY KEY,
    learner_id text NOT NULL,
    course_id text NOT NULL,
    module_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset bigint NOT NULL
)"""
log = get_logger(__name__)


@dataclass(frozen=True)
class RoundTrip:
    event_id: str
    topic: str
    partition: int
    offset: int
    postgres_row: tuple[Any, ...]
    redis_value: dict[str, str]
    seconds: float


def produce_one(settings: Settings, topic: str, serde: AvroSerde) -> tuple[str, str, Message]:
    learner_id = f"learner-{uuid.uuid4().hex[:8]}"
    envelope = make_envelope(EVENT, tenant_id="demo", source="/learnstream/smoke")
    record = {
        "envelope": envelope,
        "learner_id": learner_id,
        "course_id": "course-101",
        "module_id": "module-1",
    }
    delivered: list[Message] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            raise RuntimeError(f"delivery failed: {err}")
        delivered.append(msg)

    producer = Producer(producer_config(settings))
    producer.produce(
        topic,
        key=learner_id.encode(),
        value=serde.encode(EVENT, record),
        headers=ce_headers(envelope),
        on_delivery=on_delivery,
    )
    if producer.flush(30) or not delivered:
        raise RuntimeError(f"the event was not acknowledged by {settings.bootstrap_servers}")
    return envelope["event_id"], learner_id, delivered[0]


def sink_until(settings: Settings, topic: str, serde: AvroSerde, event_id: str) -> None:
    """Consume with a consumer group; write each record idempotently; commit after the write."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": settings.topic("learnstream_cli.smoke"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    try:
        with psycopg.connect(settings.postgres_url) as pg:
            pg.execute(SMOKE_TABLE_DDL)
            cache = redis.Redis.from_url(settings.redis_address, decode_responses=True)
            while time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                _, record = serde.decode(msg.value())
                with bound_event(event_id=str(record["envelope"]["event_id"])):
                    _write(pg, cache, record, msg)
                    consumer.commit(message=msg, asynchronous=False)
                    log.info("smoke.sunk", partition=msg.partition(), offset=msg.offset())
                if str(record["envelope"]["event_id"]) == event_id:
                    return
    finally:
        consumer.close()
    raise TimeoutError(f"event {event_id} did not come back from {topic} within 60s")


def _write(
    pg: psycopg.Connection, cache: redis.Redis[str], record: dict[str, Any], msg: Message
) -> None:
    envelope = record["envelope"]
    with pg.transaction():
        pg.execute(
            "INSERT INTO smoke_module_completions VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            (
                envelope["event_id"],
                record["learner_id"],
                record["course_id"],
                record["module_id"],
                envelope["occurred_at"],
                msg.partition(),
                msg.offset(),
            ),
        )
    cache.hset(
        f"learnstream:smoke:{record['learner_id']}",
        mapping={
            "event_id": str(envelope["event_id"]),
            "course_id": record["course_id"],
            "module_id": record["module_id"],
        },
    )


def run_round_trip(settings: Settings) -> RoundTrip:
    began = time.monotonic()
    topology = load_topology(settings.topology_file)
    topic_name = topology.sinks["smoke"].reads[0]
    ensure_topics(settings, topology, [topic_name])
    topic = settings.topic(topic_name)
    serde = build_serde(settings)
    event_id, learner_id, delivered = produce_one(settings, topic, serde)
    sink_until(settings, topic, serde, event_id)
    with psycopg.connect(settings.postgres_url) as pg:
        row = pg.execute(
            "SELECT event_id, learner_id, module_id, kafka_partition, kafka_offset "
            "FROM smoke_module_completions WHERE event_id = %s",
            (event_id,),
        ).fetchone()
    cache = redis.Redis.from_url(settings.redis_address, decode_responses=True)
    value = cache.hgetall(f"learnstream:smoke:{learner_id}")
    if row is None or value.get("event_id") != event_id:
        raise RuntimeError(f"round trip incomplete: postgres={row} redis={json.dumps(value)}")
    return RoundTrip(
        event_id,
        topic,
        delivered.partition() or 0,
        delivered.offset() or 0,
        tuple(row),
        value,
        time.monotonic() - began,
    )
