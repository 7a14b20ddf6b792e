"""The components under learnstream are the real thing: group offsets, transactions, AOF."""

from __future__ import annotations

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from learnstream.settings import Settings
from learnstream_cli.smoke import run_round_trip

pytestmark = pytest.mark.integration


def _consume(settings: Settings, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            value = msg.value()
            assert value is not None
            values.append(value)
            if len(values) == count:
                consumer.commit(message=msg, asynchronous=False)
                break
    finally:
        consumer.close()
    return values


def test_consumer_group_resumes_from_committed_offset(kafka_settings: Settings) -> None:
    topic = kafka_settings.topic("resume")
    group = kafka_settings.topic("group")
    admin = AdminClient(kafka_settings.kafka_client_config())
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()
    producer = Producer({**kafka_settings.kafka_client_config(), "enable.idempotence": True})
    for i in range(10):
        producer.produce(topic, key=b"learner-1", value=f"event-{i}".encode())
    assert producer.flush(30) == 0

    first = _consume(kafka_settings, topic, group, 4)
    assert first == [f"event-{i}".encode() for i in range(4)]

    probe = Consumer({**kafka_settings.kafka_client_config(), "group.id": group})
    committed = probe.committed([TopicPartition(topic, 0)], timeout=10)
    probe.close()
    assert committed[0].offset == 4  # the next offset to read, as Kafka stores it

    # A restarted member of the same group resumes after the commit, not from the start.
    rest = _consume(kafka_settings, topic, group, 6)
    assert rest == [f"event-{i}".encode() for i in range(4, 10)]


def test_postgres_rolls_back_a_failed_transaction(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute("INSERT INTO ledger VALUES (1, 'kept only if all succeed')")
            conn.execute("INSERT INTO ledger VALUES (1, 'duplicate key fails the batch')")
        assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (0,)
        with conn.transaction():
            conn.execute("INSERT INTO ledger VALUES (2, 'committed')")
    with psycopg.connect(pg_url) as other:  # visible from another session once committed
        assert other.execute("SELECT id, note FROM ledger").fetchall() == [(2, "committed")]


def test_round_trip_reaches_postgres_and_redis(kafka_settings: Settings) -> None:
    trip = run_round_trip(kafka_settings)
    assert trip.topic == kafka_settings.topic("learning.activity")
    assert str(trip.postgres_row[0]) == trip.event_id
    assert trip.postgres_row[3:] == (trip.partition, trip.offset)
    assert trip.redis_value["event_id"] == trip.event_id

    again = run_round_trip(kafka_settings)  # same group: resumes, sinks only the new event
    assert again.event_id != trip.event_id
    with psycopg.connect(kafka_settings.postgres_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM smoke_module_completions WHERE event_id IN (%s, %s)",
            (trip.event_id, again.event_id),
        ).fetchone()
    assert rows == (2,)
