"""The fast lane: a lane's topics consumed in batches straight from the Kafka client.

Faust's per-message stream costs ~75 µs per record per agent (ADR 0010), more than all of the
rules' work on the learner flow. A lane (topology.yaml `lanes:`) takes its high-volume,
learner-keyed inputs away from the Faust agents and feeds each `consume(num_messages)` batch
to the lane's processors in order, in a thread of the worker process (ADR 0010). The Faust app
keeps everything else: its lifecycle, web server, /metrics, timers and the low-volume agents.

Consumer-group semantics are the Faust agents' (ADR 0005):
* on assignment, every partition seeks to the lowest next offset Postgres holds over the
  lane's consumers (Kafka's committed offset is only for lag tooling; it never runs ahead of
  Postgres because it is committed after the batch's transactions);
* the consumer thread polls and processes in turn, so a revocation (delivered inside poll)
  never finds a batch in flight: revoked partitions stop before another member starts them;
* a zombie that kept a batch past its session is fenced by the offset rows it must lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import mode
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from tenacity import Retrying, retry_if_exception, wait_random_exponential

from learnstream.log import get_logger
from learnstream.runtime import ledger, metrics
from learnstream.runtime.errors import is_transient
from learnstream.runtime.processor import BatchProcessor
from learnstream.runtime.records import InboundRecord
from learnstream.runtime.stages import charge, profile_this_thread, stage
from learnstream.runtime.table_barrier import TableBarrier
from learnstream.settings import Settings

log = get_logger(__name__)
PUNCTUATE_EVERY_S = 2.0
# A member learns that its group rebalances from a heartbeat answer: a member joining waits up
# to one interval for the others to rejoin (at a third of the session timeout, 3.3 s). Faust's
# agents keep the longer interval: a rebalance that reaches them mid-batch can wait on their
# unacked messages (faust-streaming #133), and noticed sooner it more often does.
HEARTBEAT_MS = 1000


class FastLane:
    def __init__(
        self,
        settings: Settings,
        name: str,
        topics: list[str],
        processors: list[BatchProcessor],
        connect: Callable[[], psycopg.Connection],
        waits_for: dict[str, int] | None = None,
        *,
        table_owners: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.topics = topics
        self.processors = processors  # applied in this order to every batch
        self.connect = connect
        # Tables (topic -> partitions) the batch's rules read, e.g. the catalog, and the
        # consumer that applies each (learnstream/runtime/table_barrier.py).
        self.tables = TableBarrier(
            settings,
            name,
            waits_for or {},
            table_owners or {},
            processors[0].handler.consumer,
            connect,
        )
        self._stop: threading.Event | None = None
        self.assigned: set[tuple[str, int]] = set()
        self.next_offsets: dict[tuple[str, int], int] = {}
        self._next_punctuation = 0.0  # time.monotonic() of the next due sweep
        self._owed = False  # the last sweep left decisions owed: sweep after the next batch

    def consumer_config(self) -> dict[str, Any]:
        timeout_ms = int(self.settings.worker.session_timeout_s * 1000)
        return {
            **self.settings.kafka_client_config(),
            "group.id": self.settings.topic(f"learnstream.lane.{self.name}"),
            "enable.auto.commit": False,  # Postgres holds the applied offsets
            "auto.offset.reset": "earliest",
            "session.timeout.ms": timeout_ms,
            "heartbeat.interval.ms": HEARTBEAT_MS,
            # A batch is processed between two polls; allow a slow Postgres plenty of time.
            "max.poll.interval.ms": 600_000,
            # The broker gathers records for up to fetch.wait.max.ms (fetch.min.bytes is out of
            # reach but for a backlog, which fills a fetch at once). Answering at the first
            # record made a fetch per produce request under load; a live lane at 1,000 events/s
            # took ~500 fetches/s and the broker most of a core. Idle, 1000/wait empty fetches
            # per second per lane are the price.
            "fetch.min.bytes": 1_048_576,
            "fetch.wait.max.ms": self.settings.worker.fetch_wait_ms,
            "queued.min.messages": 20_000,
        }

    def run(self, stop: threading.Event) -> None:
        """Consume and process until `stop` is set. A bug outside the handlers (the runtime
        itself) stops the process, so the restart resumes from Postgres and skips nothing."""
        self._stop = stop
        profile_this_thread()
        consumer = Consumer(self.consumer_config())
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("lane.start", lane=self.name, topics=self.topics)
        try:
            while not stop.is_set():
                began = time.perf_counter()
                messages = self._next_batch(consumer)
                records = [r for r in map(self._record, messages) if r is not None]
                # An empty poll is the lane waiting for records, not a cost of processing them.
                charge("fetch" if records else "idle", time.perf_counter() - began)
                if records:
                    with stage("wait_for_tables"):
                        self.tables.wait(self._stop)
                for chunk in by_keys(records, self.settings.worker.state_cache_learners):
                    self._process(chunk)
                    with stage("fetch"):
                        self._commit(consumer, chunk)
                self._punctuate()
        except BaseException as exc:
            log.critical("lane.fail_stop", lane=self.name, error=repr(exc))
            os._exit(70)
        finally:
            if stop.is_set():
                consumer.close()

    def _punctuate(self) -> None:
        """Time-driven work (the due sweep) between two batches, every PUNCTUATE_EVERY_S, or
        after every batch while a backlog is owed (a catch-up owes many decisions at once).
        On this thread it never races the lane's own batches, and a revocation, which arrives
        inside consume(), never finds it running."""
        now = time.monotonic()
        if not self._owed and now < self._next_punctuation:
            return
        self._next_punctuation = now + PUNCTUATE_EVERY_S
        owed = [p.punctuate(self.assigned, self.tables.end_offsets) for p in self.processors]
        self._owed = any(owed)

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        """Natural batching: whatever is queued, up to the batch size, without waiting; when
        nothing is, the first record to arrive (or the linger timeout) and what came with it.
        A lone event is never held back to fill a batch, and a backlog is taken in full."""
        size = self.settings.worker.batch_size
        messages: list[Message] = consumer.consume(num_messages=size, timeout=0)
        if messages:
            return messages
        messages = consumer.consume(num_messages=1, timeout=self.settings.worker.batch_linger_s)
        if messages:
            messages += consumer.consume(num_messages=size - 1, timeout=0)
        return messages

    def _process(self, records: list[InboundRecord]) -> None:
        for processor in self.processors:
            processor.process(records)
        for r in records:
            key = (r.topic, r.partition)
            self.next_offsets[key] = max(self.next_offsets.get(key, 0), r.offset + 1)

    def _commit(self, consumer: Consumer, records: list[InboundRecord]) -> None:
        """For lag tooling only (kafka-consumer-groups, /metrics); Postgres has the truth."""
        touched = {(r.topic, r.partition) for r in records}
        offsets = [TopicPartition(t, p, self.next_offsets[(t, p)]) for t, p in sorted(touched)]
        consumer.commit(offsets=offsets, asynchronous=True)
        for topic, partition in touched:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high >= 0:
                lag = high - self.next_offsets[(topic, partition)]
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(0, lag))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumers = [p.handler.consumer for p in self.processors]
        stored = self._stored_offsets(consumers)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self.assigned.add((tp.topic, tp.partition))
            log.info("lane.resume", lane=self.name, topic=tp.topic, partition=tp.partition,
                     offset=tp.offset)  # fmt: skip
        consumer.assign(partitions)

    def _stored_offsets(self, consumers: list[str]) -> dict[tuple[str, int], int]:
        """Retried while Postgres is away: without them the lane cannot know where to resume.
        This blocks inside consume(); librdkafka keeps heartbeating meanwhile."""
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=0.2, max=10),
            reraise=True,
        ):
            with attempt, self.connect() as conn:
                return ledger.stored_offsets(conn, consumers)
        raise AssertionError("unreachable: Retrying re-raises")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Nothing is in flight: this runs inside consume(), between two batches. State kept in
        # memory goes with the partitions (another member owns their learners now).
        for processor in self.processors:
            processor.handler.revoked()
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            self.next_offsets.pop((tp.topic, tp.partition), None)
        log.info("lane.revoked", lane=self.name, partitions=len(partitions))

    def _record(self, message: Message) -> InboundRecord | None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("lane.consume_error", lane=self.name, error=str(error))
            return None
        return InboundRecord(  # positional: keywords cost ~0.4 µs more per record
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
            message.key(),
            message.value(),
            # Read on demand (dead letters): converting every record's headers was a seventh
            # of the lane's time. The client hands (str, bytes | None) pairs; kept as they are.
            message.headers,
        )


def by_keys(records: list[InboundRecord], most: int) -> list[list[InboundRecord]]:
    """Consecutive slices of `records` with at most `most` distinct keys each (0: one slice).
    A batch's learners stay in memory until it commits, whatever the state caches' bound; so a
    batch of many learners (a large world's backlog) is applied in slices of no more learners
    than the caches keep, and memory stays flat. Slices keep the records' order."""
    if most <= 0 or not records:
        return [records] if records else []
    chunks: list[list[InboundRecord]] = []
    keys: set[bytes | None] = set()
    start = 0
    for i, record in enumerate(records):
        if record.key not in keys and len(keys) >= most:
            chunks.append(records[start:i])
            keys, start = set(), i
        keys.add(record.key)
    chunks.append(records[start:])
    return chunks


class LaneService(mode.Service):
    """Runs a fast lane's consumer thread for as long as the Faust app runs."""

    def __init__(self, lane: FastLane, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lane = lane
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def on_start(self) -> None:
        self._thread = threading.Thread(
            target=self.lane.run, args=(self._stop,), name=f"lane-{self.lane.name}", daemon=True
        )
        self._thread.start()

    async def on_stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30.0)
