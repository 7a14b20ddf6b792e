"""Redrive a DLQ: send each dead letter back to its topic once, up to where the DLQ ended.

The end offsets are taken when the run starts, so letters a running worker adds while the run
feeds the topic (copies that fail again) are left for a later run: a run always ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from learnstream.errors import LearnstreamError
from learnstream.kafka_clients import producer_config
from learnstream.log import get_logger
from learnstream.redrive.ledger import Coords, RedriveLedger, Redriven
from learnstream.redrive.letters import Letter, check_value, mirrored_inputs, resolve_dlq
from learnstream.redrive.report import Report, Snapshot
from learnstream.serde import AvroSerde, build_serde
from learnstream.settings import Settings
from learnstream.topology import Topology, load_topology

log = get_logger(__name__)
BATCH = 500
FLUSH_TIMEOUT_S = 30.0
_LEADERSHIP_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


class RedriveFailed(LearnstreamError, RuntimeError):
    """Not every copy was acknowledged, or the DLQ stopped answering; `report` says what was
    done (and recorded) before."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class _Outgoing:
    letter: Letter
    source: Coords
    origin: Coords
    event_name: str | None
    forced: bool


class Redriver:
    """`snapshot()` then `run(snapshot)`; `run()` alone takes the snapshot itself."""

    def __init__(
        self,
        settings: Settings,
        dlq: str,
        *,
        force: bool = False,
        dry_run: bool = False,
        limit: int | None = None,
        serde: AvroSerde | None = None,
        topology: Topology | None = None,
        idle_timeout_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.topology = topology or load_topology(settings.topology_file)
        self.topic = resolve_dlq(settings, self.topology, dlq)
        self.inputs = mirrored_inputs(settings, self.topology, self.topic)
        self.force, self.dry_run, self.limit = force, dry_run, limit
        self.serde = serde or build_serde(settings)
        self.idle_timeout_s = idle_timeout_s
        self._origins_run: set[Coords] = set()  # original records sent in the current run

    def _consumer(self) -> Consumer:
        # The group is the one redrive committed in before the ledger: read here, never written.
        return Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"learnstream.redrive.{self.topic}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )

    def snapshot(self) -> Snapshot:
        """Each partition's (low, high) watermark now: the run reads that range and no more."""
        consumer = self._consumer()
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            ranges = {p: _watermarks(consumer, TopicPartition(self.topic, p)) for p in partitions}
        finally:
            consumer.close()
        return Snapshot(self.topic, ranges)

    def run(
        self, snapshot: Snapshot | None = None, progress: Callable[[int], None] | None = None
    ) -> Report:
        """Read the DLQ up to the snapshot's end offsets, send what may be sent, record it.
        `progress(n)` is called after every batch with the letters it covered."""
        snap = snapshot or self.snapshot()
        report = Report(snap, self.dry_run)
        self._origins_run = set()
        log.info(
            "dlq.redrive.start",
            dlq=self.topic,
            letters=snap.total,
            force=self.force,
            dry_run=self.dry_run,
            limit=self.limit,
        )
        ledger = RedriveLedger(self.settings.postgres_url)
        try:
            if not self.dry_run:
                ledger.lock()
            consumer = self._consumer()
            producer = None if self.dry_run else Producer(producer_config(self.settings))
            try:
                self._read(snap, consumer, ledger, producer, report, progress or (lambda _: None))
            finally:
                consumer.close()
        finally:
            ledger.close()
        log.info(
            "dlq.redrive.done",
            dlq=self.topic,
            redriven=report.redriven,
            forced=report.forced,
            skipped=report.skipped + report.skipped_legacy,
            refused=report.refused,
            dry_run=self.dry_run,
        )
        return report

    def _read(
        self,
        snap: Snapshot,
        consumer: Consumer,
        ledger: RedriveLedger,
        producer: Producer | None,
        report: Report,
        progress: Callable[[int], None],
    ) -> None:
        ends = {p: end for p, (start, end) in snap.ranges.items() if start < end}
        if not ends:
            return
        committed = consumer.committed([TopicPartition(self.topic, p) for p in ends], timeout=10)
        legacy = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
        consumer.assign([TopicPartition(self.topic, p, snap.ranges[p][0]) for p in ends])
        last_seen = time.monotonic()
        while ends and not report.limited:
            batch: list[Message] = []
            for msg in consumer.consume(BATCH, timeout=1.0):
                p, err = msg.partition(), msg.error()
                if p is None or p not in ends:
                    continue  # a partition already at its end, or an error of no partition
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(err)
                offset = msg.offset() or 0
                if err is None and offset < ends[p]:
                    batch.append(msg)
                if err is not None or offset + 1 >= ends[p]:  # at the end taken at the start
                    del ends[p]
                    consumer.pause([TopicPartition(self.topic, p)])
            if batch:
                last_seen = time.monotonic()
            elif time.monotonic() - last_seen > self.idle_timeout_s:
                raise RedriveFailed(
                    f"{self.topic} returned nothing for {self.idle_timeout_s:.0f} s before the "
                    f"end offsets taken at the start (partitions {sorted(ends)})",
                    report,
                )
            letters = [Letter.from_message(m) for m in batch]
            progress(self._process(letters, ledger, producer, legacy, report))

    def _process(
        self,
        letters: list[Letter],
        ledger: RedriveLedger,
        producer: Producer | None,
        legacy: dict[int, int],
        report: Report,
    ) -> int:
        """Decide and send one batch; return how many letters it covered (--limit stops it)."""
        sources = [x.source for x in letters if x.source is not None]
        sent_before = ledger.redriven_letters(x.dlq for x in letters)
        origin_of = ledger.origins(sources)  # sources that are copies an earlier redrive wrote
        origins_sent = ledger.redriven_origins(origin_of.get(s, s) for s in sources)
        outgoing: list[_Outgoing] = []
        looked = 0
        for letter in letters:
            if self.limit is not None and report.redriven + len(outgoing) >= self.limit:
                report.limited = True
                break
            looked += 1
            report.read += 1
            source = letter.source
            if source is None:
                report.refuse(letter, "not a learnstream dead letter (no __dlq.* coordinates)")
                continue
            if source[0] not in self.inputs:
                report.refuse(letter, f"__dlq.topic {source[0]} is not an input of this DLQ")
                continue
            origin = origin_of.get(source, source)
            if letter.dlq in sent_before or origin in self._origins_run:
                report.skipped += 1
                continue
            if letter.dlq[2] < legacy.get(letter.dlq[1], -1):
                report.skipped_legacy += 1
                continue
            if origin in origins_sent and not self.force:
                report.skipped += 1
                continue
            name, problem = check_value(
                self.serde, self.topology, self.inputs[source[0]], letter.value
            )
            if problem is not None and not self.force:
                report.refuse(letter, problem)
                continue
            forced = problem is not None or origin in origins_sent
            outgoing.append(_Outgoing(letter, source, origin, name, forced))
            self._origins_run.add(origin)  # once per original record in a run
        self._send(outgoing, ledger, producer, report)
        return looked

    def _send(
        self,
        outgoing: list[_Outgoing],
        ledger: RedriveLedger,
        producer: Producer | None,
        report: Report,
    ) -> None:
        if producer is None:  # dry run: count what would go
            for item in outgoing:
                report.sent(item.source[0], item.forced)
            return
        acked: list[Redriven] = []
        failures: list[KafkaError] = []
        for item in outgoing:
            producer.produce(
                item.source[0],
                key=item.letter.key,
                value=item.letter.value,
                headers=item.letter.kept_headers,
                on_delivery=_on_delivery(item, acked, failures),
            )
            producer.poll(0)
        unsent = producer.flush(FLUSH_TIMEOUT_S)
        ledger.record(acked)  # only what the broker acknowledged
        for row in acked:
            report.sent(row.target[0], row.forced)
        if failures or unsent:
            why = failures[0].str() if failures else f"{unsent} still queued after the flush"
            lost = len(outgoing) - len(acked)
            raise RedriveFailed(f"{lost} letter(s) not acknowledged: {why}", report)


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float = 30.0) -> tuple[int, int]:
    """(low, high) from the partition leader; retried while leadership moves (a new topic, a
    broker restart)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            return int(low), int(high)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            moving = error.retriable() or error.code() in _LEADERSHIP_MOVING
            if not moving or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _on_delivery(
    item: _Outgoing, acked: list[Redriven], failures: list[KafkaError]
) -> Callable[[KafkaError | None, Message], None]:
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append(err)
            return
        target = (str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
        acked.append(
            Redriven(
                item.letter.dlq, item.source, item.origin, target, item.event_name, item.forced
            )
        )

    return on_delivery
