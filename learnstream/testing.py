"""Run a handler in memory: a list of events in, derived events and dead letters out.

After bytewax's `TestingSource`/`TestingSink`: the handler runs inside the real runtime (the
same decode, de-duplication, apply, outbox and offsets in one Postgres transaction a worker
uses), fed from a list instead of Kafka, against a real Postgres (a test's own database,
migrated). Nothing is published: derived events are read back from the outbox rows the batch
wrote, dead letters are kept in memory.

    harness = HandlerHarness(build_handler(settings), settings)
    run = harness.run([(names.LESSON_COMPLETED, record), ...])
    assert [e.event_name for e in run.derived] == [...]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.processor import BatchProcessor, BatchStats
from learnstream.runtime.records import DeadLetter, InboundRecord
from learnstream.serde import AvroSerde, build_serde
from learnstream.settings import Settings
from learnstream.topology import load_topology


@dataclass(frozen=True)
class Derived:
    """A derived event as a consumer of its topic would decode it."""

    topic: str
    event_name: str
    key: str
    record: dict[str, Any]


@dataclass
class HarnessRun:
    stats: BatchStats
    derived: list[Derived] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def named(self, event_name: str) -> list[Derived]:
        return [d for d in self.derived if d.event_name == event_name]


class HandlerHarness:
    """Feeds `handler` batches of events; each `run` is one batch, one transaction. Offsets
    continue from one run to the next, so a handler sees one partition's history; `replay`
    sends records again as a redelivery would (same offsets, same bytes)."""

    def __init__(
        self,
        handler: BaseHandler,
        settings: Settings,
        *,
        partition: int = 0,
        serde: AvroSerde | None = None,
    ) -> None:
        self.settings = settings
        self.topology = load_topology(settings.topology_file)
        self.serde = serde or build_serde(settings)
        self.partition = partition
        self._letters: list[DeadLetter] = []
        self.processor = BatchProcessor(
            settings,
            self.serde,
            handler,
            "in-memory.dlq",
            self._connect,
            dead_letters=self._letters.extend,
        )
        self._next_offset: dict[str, int] = {}
        self._outbox_seen = self._outbox_end()

    def records(self, events: Iterable[tuple[str, dict[str, Any]]]) -> list[InboundRecord]:
        """Events as the records a consumer would receive: each on the topic topology.yaml
        gives it, keyed by that topic's key field, at the next offset of the partition."""
        out = []
        for name, record in events:
            topic = self.topology.topic_for_event(name)
            key = str(record[self.topology.topics[topic].key])
            offset = self._next_offset.get(topic, 0)
            self._next_offset[topic] = offset + 1
            value = self.serde.encode(name, record)
            out.append(
                InboundRecord(
                    self.settings.topic(topic), self.partition, offset, key.encode(), value
                )
            )
        return out

    def run(self, events: Iterable[tuple[str, dict[str, Any]]]) -> HarnessRun:
        return self.replay(self.records(events))

    def replay(self, records: list[InboundRecord]) -> HarnessRun:
        """Process `records` as one batch (again, for a redelivery)."""
        self._letters.clear()
        stats = self.processor.process(records)
        return HarnessRun(stats, self._derived_since(), list(self._letters))

    def punctuate(self) -> HarnessRun:
        """The handler's time-driven work (the due sweep), as a lane runs it between batches,
        until nothing more is owed; the end offsets are those of the records fed so far."""
        mine = {(self.settings.topic(t), self.partition) for t in self._next_offset}
        more = True
        while more:
            more = self.processor.punctuate(mine, self._end_offsets)
        return HarnessRun(BatchStats(), self._derived_since(), [])

    def _end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        ends = {}
        for topic in topics:
            name = topic.removeprefix(self.settings.topic_prefix)
            for partition in range(self.topology.partitions(name)):
                fed = self._next_offset.get(name, 0) if partition == self.partition else 0
                ends[(topic, partition)] = fed
        return ends

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.postgres_url)

    def _outbox_end(self) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()
        return int(row[0]) if row else 0

    def _derived_since(self) -> list[Derived]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT seq, topic, key, value FROM outbox WHERE seq > %s ORDER BY seq",
                (self._outbox_seen,),
            ).fetchall()
        derived = []
        for seq, topic, key, value in rows:
            name, record = self.serde.decode(bytes(value))
            derived.append(Derived(topic, name, bytes(key).decode(), record))
            self._outbox_seen = max(self._outbox_seen, int(seq))
        return derived
