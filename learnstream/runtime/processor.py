"""One batch, effectively once: decode → de-duplicate → apply → outbox → offsets, in one
Postgres transaction. Agents call `process` and never see an exception: permanent failures
become dead letters, transient ones are retried here until they pass (learnstream.errors)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

import psycopg
from tenacity import retry_if_exception

from learnstream.errors import retrying
from learnstream.log import get_logger
from learnstream.runtime import ledger
from learnstream.runtime.connections import KeptConnection
from learnstream.runtime.dead_letters import DeadLetterPublisher
from learnstream.runtime.errors import is_transient
from learnstream.runtime.handler import BaseHandler, overrides
from learnstream.runtime.intake import Intake
from learnstream.runtime.isolation import apply_in_savepoints
from learnstream.runtime.outbox import add_to_outbox
from learnstream.runtime.records import DeadLetter, Event, InboundRecord, Outbound
from learnstream.runtime.stages import postgres_stage, stage
from learnstream.serde import AvroSerde
from learnstream.settings import Settings

log = get_logger(__name__)
RECENT_IDS = 50_000  # per processor: about 7 MB


class _IsolateBatch(Exception):
    """A handler failed in a batch applied without savepoints: redo it with them."""


class _ClaimConflict(Exception):
    """A pipelined marker insert met an id seen before: redo the batch with checked claims."""


class InjectedHandlerBug(RuntimeError):
    """Raised only when `chaos_handler_bug_key_prefix` is set: the reliability suite's stand-in
    for a rule with a bug, so the dead-letter path is exercised in a real worker."""


@dataclass
class BatchStats:
    received: int = 0
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    derived: int = 0
    attempts: int = 0
    seconds: float = 0.0


class BatchProcessor:
    def __init__(
        self,
        settings: Settings,
        serde: AvroSerde,
        handler: BaseHandler,
        dlq_topic: str,
        connect: Callable[[], psycopg.Connection],
        on_committed: Callable[[BatchStats], None] | None = None,
        dead_letters: Callable[[list[DeadLetter]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.serde = serde
        self.handler = handler
        # Where a batch's dead letters go before it commits: the DLQ topic (a test harness
        # keeps them in memory instead).
        self.publish_dead_letters = dead_letters or DeadLetterPublisher(settings, dlq_topic).publish
        self.connect = connect
        self.on_committed = on_committed
        self._kept = KeptConnection(connect)  # one connection, replaced after it breaks
        self._intake = Intake(
            serde, handler.consumer, handler.validate, handler.relevant, handler.logical_types
        )
        # The hooks (learnstream/runtime/handler.py); no views stage for a handler without views.
        self._materializes = overrides(handler, "materialize")
        self._committed = handler.committed
        self._rolled_back = handler.rolled_back
        self.next_offsets: dict[tuple[str, int], int] = {}  # for lag; Postgres has the truth
        # Ids this processor committed markers for, newest last: a client's re-send usually
        # follows its original within minutes, and skipping it here keeps the marker insert on
        # its fast path (learnstream/runtime/ledger.claim_new). Postgres stays the authority: an id
        # not remembered (older, or claimed by another member) is still caught there.
        self._recent: dict[str, None] = {}
        self._claimed: list[str] = []  # this attempt's kept markers, remembered on commit
        self._isolating = False  # apply in savepoints (a handler failed in this batch)
        self._claims_checked = False  # claim with ON CONFLICT (this batch met a seen id)

    def process(self, records: list[InboundRecord]) -> BatchStats:
        began = time.perf_counter()
        stats = BatchStats(received=len(records))
        for attempt in retrying(
            attempts=None,  # a transient fault is waited out, never skipped
            initial_s=0.2,
            max_s=10.0,
            retry_after_max_s=10.0,
            retry=retry_if_exception(is_transient),
            before_sleep=lambda state: log.warning(
                "batch.retry",
                consumer=self.handler.consumer,
                attempt=state.attempt_number,
                error=repr(state.outcome.exception() if state.outcome else None),
            ),
        ):
            with attempt:
                stats.attempts += 1
                self._process_once(records, stats)
        for r in records:
            key = (r.topic, r.partition)
            self.next_offsets[key] = max(self.next_offsets.get(key, 0), r.offset + 1)
        stats.seconds = time.perf_counter() - began
        if self.on_committed is not None:
            self.on_committed(stats)
        return stats

    def _process_once(self, records: list[InboundRecord], stats: BatchStats) -> None:
        try:
            with stage("postgres"), self._kept.transaction() as conn, stage("runtime"):
                self._apply_batch(conn, records, stats)  # BEGIN and COMMIT count as postgres
        except _IsolateBatch:
            self._claimed = []
            self._rolled_back()
            self._isolating = True  # at once, no backoff: nothing is wrong but the handler
            try:
                self._process_once(records, stats)
            finally:
                self._isolating = False
            return
        except _ClaimConflict:
            self._claimed = []
            self._rolled_back()
            self._claims_checked = True  # at once: the batch is fine, one of its ids is not new
            try:
                self._process_once(records, stats)
            finally:
                self._claims_checked = False
            return
        except BaseException:
            self._claimed = []
            self._rolled_back()
            raise
        self._remember(self._claimed)
        self._claimed = []
        self._committed()

    def punctuate(
        self,
        partitions: set[tuple[str, int]],
        end_offsets: Callable[[list[str]], dict[tuple[str, int], int]],
    ) -> bool:
        """The handler's time-driven work (the learner lane's due sweep), in a transaction of
        its own between two batches, on the thread that runs them. A failure is logged and
        tried again at the next punctuation, like a timer's tick; what it changed in memory is
        dropped with the rollback. Returns whether more is owed than one call took."""
        if not overrides(self.handler, "punctuate"):
            return False
        try:
            with stage("postgres"), self._kept.transaction() as conn, stage("due_sweep"):
                derived, more = self.handler.punctuate(conn, partitions, end_offsets)
                with stage("outbox"):
                    add_to_outbox(conn, self.settings, self.serde, derived)
        except Exception as exc:
            self._rolled_back()
            log.warning("punctuate.failed", consumer=self.handler.consumer, error=repr(exc))
            return False
        self._committed()
        return bool(more)

    def _remember(self, event_ids: list[str]) -> None:
        self._recent.update(dict.fromkeys(event_ids))
        for old in list(islice(self._recent, max(0, len(self._recent) - RECENT_IDS))):
            del self._recent[old]  # the oldest first (dicts keep insertion order)

    def _apply_batch(
        self, conn: psycopg.Connection, records: list[InboundRecord], stats: BatchStats
    ) -> None:
        consumer = self.handler.consumer
        offsets = ledger.lock_offsets(conn, consumer, {(r.topic, r.partition) for r in records})
        todo = ledger.unapplied(records, offsets)
        pipelined = not self._claims_checked and len(todo) >= ledger.PIPELINED_CLAIMS_FROM
        if pipelined:
            try:
                with conn.pipeline() as pipeline:
                    sorted_ = self._intake.sort(todo, self._recent, pipelined_to=conn)
                    with stage(postgres_stage()):  # the last chunk's markers
                        pipeline.sync()
            except psycopg.errors.UniqueViolation as exc:
                raise _ClaimConflict from exc  # an id seen before: redo with checked claims
            fresh = ledger.first_copies(sorted_.events, sorted_.sent)
        else:
            sorted_ = self._intake.sort(todo, self._recent)
            fresh = ledger.claim_new(conn, consumer, sorted_.events)
        events, letters = sorted_.events, sorted_.letters
        derived, failed = self._apply_isolated(conn, fresh)
        letters += [DeadLetter(event.source, error) for event, error in failed]
        ledger.release(conn, consumer, [event for event, _ in failed])
        released = {event.event_id for event, _ in failed}  # a redrive must apply them
        self._claimed = [e.event_id for e in fresh if e.event_id not in released]
        self.publish_dead_letters(letters)
        ledger.advance_offsets(conn, consumer, records)
        if self._materializes:  # Redis views, last before COMMIT (streams/views/dashboards.py)
            failed_ids = {event.event_id for event, _ in failed}
            with stage("views"):
                self.handler.materialize(conn, [e for e in fresh if e.event_id not in failed_ids])
        stats.applied = len(fresh) - len(failed)
        stats.skipped = len(records) - len(todo) + len(events) - len(fresh)
        stats.skipped += sorted_.irrelevant + sorted_.remembered
        stats.dead_lettered = len(letters)
        stats.derived = len(derived)

    def _apply_and_stage(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        """Apply and encode the derived events in one savepoint: a derived event that does not
        match its schema is the handler's bug, charged to the events that produced it."""
        prefix = self.settings.chaos_handler_bug_key_prefix
        if prefix and any(event.key.startswith(prefix) for event in events):
            raise InjectedHandlerBug(f"fault injected for keys starting with {prefix!r}")
        derived = self.handler.apply(conn, events)
        with stage("outbox"):
            add_to_outbox(conn, self.settings, self.serde, derived)
        return derived

    def _apply_isolated(
        self, conn: psycopg.Connection, events: list[Event]
    ) -> tuple[list[Outbound], list[tuple[Event, Exception]]]:
        """Apply; after a handler failure, inside savepoints (learnstream/runtime/isolation.py), so
        a bug costs only the events that hit it."""
        by_key: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_key[event.key].append(event)
        if not self._isolating:
            # Handler bugs are rare, and a savepoint is two round trips (a tenth of a small
            # live batch's time): apply without one, and on a handler failure roll the whole
            # transaction back and apply the batch again in savepoints.
            try:
                grouped = [event for group in by_key.values() for event in group]
                return self._apply_and_stage(conn, grouped), []
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _IsolateBatch from exc
        return apply_in_savepoints(
            conn,
            list(by_key.values()),
            self._apply_and_stage,
            self._rolled_back,
            self.handler.consumer,
        )
