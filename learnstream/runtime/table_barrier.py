"""Tables before streams: a lane's batch waits until the tables its rules read are applied up to
their end (ADR 0010, "Tables before streams").

A table (the catalog, the org chart) is a topic a Faust agent applies to Postgres. Before each
batch the lane asks Kafka for the tables' end offsets and waits until each table's owner has
applied them, so whatever a client published to a table before the batch's records is known
when they are applied: a stream-table join that never runs ahead of its table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from learnstream.kafka_admin import EndOffsets
from learnstream.log import get_logger
from learnstream.runtime import ledger
from learnstream.runtime.connections import KeptConnection
from learnstream.runtime.errors import is_transient
from learnstream.settings import Settings
from learnstream.topology import Topology

log = get_logger(__name__)
TABLE_ENDS_PATIENCE_S = 300.0  # Kafka unreachable this long: restart the member
Ends = dict[tuple[str, int], int]


class TableBarrier:
    def __init__(
        self,
        settings: Settings,
        lane: str,
        tables: dict[str, int],
        owners: dict[str, str],
        entry_consumer: str,
        connect: Callable[[], psycopg.Connection],
    ) -> None:
        self.lane = lane
        self.tables = tables  # topic -> partitions
        # The consumer that applies each table (the catalog: progress; the org chart:
        # notifications, which routes what the lane's batches cause); default the lane's own.
        self.owners = owners
        self.entry_consumer = entry_consumer
        self._offsets = EndOffsets(settings)  # its own connection (see EndOffsets)
        self._applied: Ends | None = None  # the ends last verified as applied
        self._kept = KeptConnection(connect)

    def end_offsets(self, topics: list[str]) -> Ends:
        """Any topics' end offsets, over the barrier's admin connection (the due sweep's clock)."""
        return self._offsets.of(topics)

    def wait(self, stop: threading.Event | None) -> None:
        if not self.tables:
            return
        ends = self._table_ends()
        if ends == self._applied:
            return  # nothing published to the tables since they were last seen applied
        next_log = time.monotonic()
        while stop is None or not stop.is_set():
            if self._applied_up_to(ends):
                self._applied = ends
                return
            if time.monotonic() >= next_log:  # visible when a table's owner is stuck
                log.info("lane.waits_for_tables", lane=self.lane, tables=list(self.tables))
                next_log += 10.0
            time.sleep(0.02)

    def _table_ends(self) -> Ends:
        """The tables' end offsets now; retried through broker bounces and leader elections,
        each retry logged. Past TABLE_ENDS_PATIENCE_S the member stops (the lane's fail-stop)
        and its restart begins with new clients: a wait nothing ends must not hold a lane."""
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(TABLE_ENDS_PATIENCE_S),
            before_sleep=lambda state: log.warning(
                "lane.table_ends_retry",
                lane=self.lane,
                attempt=state.attempt_number,
                error=repr(state.outcome.exception() if state.outcome else None),
            ),
            reraise=True,
        ):
            with attempt:
                return self._offsets.of(list(self.tables), self.tables)
        raise AssertionError("unreachable: Retrying re-raises")

    def _applied_up_to(self, ends: Ends) -> bool:
        """False while Postgres is away: a transient fault waits, it never stops the lane."""
        try:
            with self._kept.transaction() as conn:
                return applied_by_owners(conn, ends, self.owners, self.entry_consumer)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("lane.table_check_retry", lane=self.lane, error=repr(exc))
            time.sleep(0.5)
            return False


def applied_by_owners(
    conn: psycopg.Connection, ends: Ends, owners: dict[str, str], default: str
) -> bool:
    """Whether each table's owner (by topic; `default` for the rest) has applied it up to `ends`."""
    by_owner: dict[str, Ends] = {}
    for (topic, partition), end in ends.items():
        by_owner.setdefault(owners.get(topic, default), {})[(topic, partition)] = end
    return all(ledger.applied_up_to(conn, o, e) for o, e in by_owner.items())


class TablesReady:
    """The same question asked inside a batch, without waiting: has each table `agent` reads
    (its `tables` in topology.yaml) been applied by its owner up to the table's end now? For a
    handler that finds a key missing from a table: if the table is not ready, the key may
    simply not be applied yet, and the handler raises a transient error so that the runtime
    retries the batch; if it is ready, the key is really absent."""

    def __init__(self, settings: Settings, topology: Topology, agent: str) -> None:
        tables = topology.agents[agent].tables
        self.owners = {
            settings.topic(t): owner
            for t in tables
            if (owner := topology.table_owner(t)) not in (None, agent)
        }
        self.agent = agent
        self._offsets = EndOffsets(settings)  # one client for every batch

    def __call__(self, conn: psycopg.Connection) -> bool:
        if not self.owners:
            return True
        # A Kafka failure here is the batch's transient error; EndOffsets renews its client.
        ends = self._offsets.of(sorted(self.owners))
        return applied_by_owners(conn, ends, self.owners, self.agent)
