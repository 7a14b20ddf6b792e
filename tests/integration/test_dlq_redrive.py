"""`learnstream dlq redrive` from the operator's side: a run stops at the DLQ's end
taken when it starts, never sends a letter twice, refuses what would fail again unless
--force, and sends back the original key, value and headers. Real Kafka and Postgres."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from typer.testing import CliRunner, Result

from learnstream.redrive import Redriver
from learnstream.runtime.dead_letters import DeadLetterPublisher
from learnstream.runtime.records import DeadLetter, InboundRecord
from learnstream.serde import build_serde
from learnstream.settings import Settings, get_settings
from learnstream_cli.commands.dlq import app as dlq_app
from tests.support.events import LESSON, lesson_completed
from tests.support.messages import header_pairs

pytestmark = pytest.mark.integration
DLQ = "learning.activity.dlq"
SOURCE = "learning.activity"


def lesson(settings: Settings, learner: str) -> bytes:
    return build_serde(settings).encode(LESSON, lesson_completed(learner))


def dead_letter(
    settings: Settings,
    values: list[bytes],
    *,
    dlq: str = DLQ,
    first_offset: int = 1000,
    headers: tuple[tuple[str, bytes], ...] = (),
    key: bytes | None = None,
) -> None:
    """Letters as the worker writes them: source coordinates first_offset, first_offset+1, …"""
    source = settings.topic(SOURCE)
    letters = [
        DeadLetter(
            InboundRecord(
                source, 0, first_offset + i, key or f"learner-{i}".encode(), value, headers
            ),
            ValueError("a rule bug"),
        )
        for i, value in enumerate(values)
    ]
    DeadLetterPublisher(settings, dlq).publish(letters)


def watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """(low, high); a partition of a topic created a moment ago may not have its leader yet."""
    for _ in range(60):
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION:
                raise
            time.sleep(0.5)
    raise TimeoutError(f"{topic}[{partition}] has no leader")


def size(settings: Settings, name: str) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"size-{uuid.uuid4()}"})
    try:
        topic = settings.topic(name)
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = watermarks(consumer, topic, p)
            total += high - low
        return total
    finally:
        consumer.close()


def value_of(msg: Message) -> bytes:
    value = msg.value()
    assert value is not None, msg
    return value


def read_all(settings: Settings, name: str) -> list[Message]:
    """Every record up to the end offsets of now, whatever the partition."""
    topic = settings.topic(name)
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"read-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = watermarks(consumer, topic, p)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        found: list[Message] = []
        deadline = time.monotonic() + 30
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            found.append(msg)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        assert not ends, f"{topic}: partitions {sorted(ends)} not read to the end"
        return found
    finally:
        consumer.close()


@pytest.fixture
def redrive(world: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """`learnstream dlq redrive …` as a user runs it, against the test's topics and database."""
    monkeypatch.setenv("LEARNSTREAM_TOPIC_PREFIX", world.topic_prefix)
    monkeypatch.setenv("LEARNSTREAM_POSTGRES_DSN", world.postgres_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(dlq_app, ["redrive", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result
        return result

    yield run
    get_settings.cache_clear()


def test_a_run_stops_at_the_end_of_the_dlq_taken_when_it_started(world: Settings) -> None:
    valid = [lesson(world, f"before-{i}") for i in range(3)]
    dead_letter(world, valid)
    redriver = Redriver(world, DLQ)
    snapshot = redriver.snapshot()
    later = [lesson(world, f"after-{i}") for i in range(4)]
    dead_letter(world, later, first_offset=2000)  # a worker still dead-lettering meanwhile

    report = redriver.run(snapshot)

    assert (report.redriven, report.skipped, report.refused) == (3, 0, 0)
    assert size(world, SOURCE) == 3
    assert sorted(value_of(m) for m in read_all(world, SOURCE)) == sorted(valid)
    assert Redriver(world, DLQ).run().redriven == 4  # the next run takes the later ones


def test_a_worker_re_dead_lettering_what_redrive_sends_cannot_make_it_loop(
    world: Settings, redrive: Callable[..., Result]
) -> None:
    """The issue's flood: the agent still fails on what redrive sends back and dead-letters it
    again, into the DLQ redrive is reading. With --force even an undecodable letter goes."""
    letters = [lesson(world, f"flood-{i}") for i in range(5)] + [b"{}"]
    dead_letter(world, letters)
    stop, assigned = threading.Event(), threading.Event()
    re_dead_lettered: list[int] = []

    def failing_worker() -> None:  # reads the source topic, dead-letters every record
        consumer = Consumer(
            {
                **world.kafka_client_config(),
                "group.id": f"failing-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([world.topic(SOURCE)], on_assign=lambda *_: assigned.set())
        publisher = DeadLetterPublisher(world, DLQ)
        try:
            while not stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                record = InboundRecord(
                    str(msg.topic()),
                    int(msg.partition() or 0),
                    int(msg.offset() or 0),
                    msg.key(),
                    msg.value(),
                    tuple(header_pairs(msg)),
                )
                publisher.publish([DeadLetter(record, ValueError("still broken"))])
                re_dead_lettered.append(record.offset)
        finally:
            consumer.close()

    worker = threading.Thread(target=failing_worker, daemon=True)
    worker.start()
    try:
        assert assigned.wait(30), "the failing worker never joined its group"
        began = time.monotonic()
        first = redrive(DLQ, "--force")
        assert first.exit_code == 0, first.output
        assert time.monotonic() - began < 60
        assert "redriven 6, skipped 0, refused 0" in first.output, first.output
        assert size(world, SOURCE) == 6  # exactly the letters there when the run started
        deadline = time.monotonic() + 30
        while len(re_dead_lettered) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(re_dead_lettered) == 6 and size(world, DLQ) == 12

        again = redrive(DLQ)  # nor the six copies that failed again, without --force
        assert again.exit_code == 0, again.output
        assert "redriven 0, skipped 12, refused 0" in again.output, again.output
        assert size(world, SOURCE) == 6
    finally:
        stop.set()
        worker.join(10)


def test_a_second_run_redrives_nothing(world: Settings, redrive: Callable[..., Result]) -> None:
    dead_letter(world, [lesson(world, f"twice-{i}") for i in range(4)])

    first = redrive(DLQ)
    assert first.exit_code == 0 and "redriven 4, skipped 0, refused 0" in first.output
    assert f"to {world.topic(SOURCE)}" in first.output
    second = redrive(DLQ)
    assert second.exit_code == 0 and "redriven 0, skipped 4, refused 0" in second.output
    assert size(world, SOURCE) == 4


def test_a_copy_of_the_same_record_in_the_other_dlq_is_not_sent_again(
    world: Settings, redrive: Callable[..., Result]
) -> None:
    """Two agents read learning.activity: one bad record lands in both DLQs. One redrive of
    either puts it back for both agents."""
    value = lesson(world, "both")
    dead_letter(world, [value], first_offset=7)
    dead_letter(world, [value], first_offset=7, dlq="learning.activity.features.dlq")

    assert "redriven 1, skipped 0" in redrive(DLQ).output
    other = redrive("learning.activity.features.dlq")
    assert "redriven 0, skipped 1" in other.output, other.output
    assert size(world, SOURCE) == 1


def test_an_undecodable_letter_is_refused_unless_forced(
    world: Settings, redrive: Callable[..., Result]
) -> None:
    dead_letter(world, [b"{}", lesson(world, "fine")])

    refused = redrive(DLQ)
    assert refused.exit_code == 0, refused.output
    assert "redriven 1, skipped 0, refused 1" in refused.output, refused.output
    assert "unknown magic byte 0x7b" in refused.output
    assert b"{}" not in [m.value() for m in read_all(world, SOURCE)]
    assert size(world, SOURCE) == 1

    assert "redriven 0, skipped 1, refused 1" in redrive(DLQ).output  # still refused
    forced = redrive(DLQ, "--force")
    assert "redriven 1, skipped 1, refused 0" in forced.output, forced.output
    assert b"{}" in [m.value() for m in read_all(world, SOURCE)]
    assert size(world, SOURCE) == 2


def test_the_copy_has_the_original_key_value_and_headers(
    world: Settings, redrive: Callable[..., Result]
) -> None:
    value = lesson(world, "headers")
    original = (("traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01"), ("ce-type", b"x"))
    dead_letter(world, [value], headers=original)

    assert redrive(DLQ).exit_code == 0
    [copy] = read_all(world, SOURCE)
    assert copy.key() == b"learner-0"
    assert copy.value() == value
    assert list(copy.headers() or []) == list(original)


def test_dry_run_and_limit(world: Settings, redrive: Callable[..., Result]) -> None:
    dead_letter(world, [lesson(world, f"limit-{i}") for i in range(5)])

    dry = redrive(DLQ, "--dry-run")
    assert "would redrive 5, skipped 0, refused 0" in dry.output, dry.output
    assert size(world, SOURCE) == 0
    limited = redrive(DLQ, "--limit", "2")
    assert "redriven 2," in limited.output and "--limit" in limited.output, limited.output
    assert size(world, SOURCE) == 2
    rest = redrive(DLQ)
    assert "redriven 3, skipped 2, refused 0" in rest.output, rest.output
    assert size(world, SOURCE) == 5


def test_letters_the_consumer_group_of_the_old_redrive_committed_are_skipped(
    world: Settings,
) -> None:
    """Before the ledger, redrive remembered its position in a consumer group; upgrading must
    not send those letters again."""
    dead_letter(world, [lesson(world, f"old-{i}") for i in range(3)], key=b"one-partition")
    [letter, *_] = read_all(world, DLQ)
    dlq = world.topic(DLQ)
    old = Consumer({**world.kafka_client_config(), "group.id": f"learnstream.redrive.{dlq}"})
    partition = letter.partition()
    assert partition is not None
    old.commit(offsets=[TopicPartition(dlq, partition, 2)], asynchronous=False)
    old.close()

    report = Redriver(world, DLQ).run()
    assert (report.redriven, report.skipped_legacy) == (1, 2)
