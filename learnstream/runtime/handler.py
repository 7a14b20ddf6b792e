"""The base class of every handler: the rules side of an agent, which the runtime drives.

After quix-streams' `BaseSink`: subclass it, name the `consumer`, implement `apply`, and
override only the hooks the agent needs. Every hook has a default that does nothing, so the
runtime calls them all without asking which exist.

The order in one batch, all inside one Postgres transaction (learnstream/runtime/processor.py):
`relevant` and `validate` per event as it is decoded; `apply` on the batch's new events; then
`materialize` before COMMIT; after it, `committed` (or `rolled_back` when the transaction did
not commit, and the batch is applied again). Between batches, `punctuate` does time-driven
work in a transaction of its own; `revoked` runs when the partitions go to another member.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection

import psycopg

from learnstream.runtime.records import Event, Outbound

EndOffsets = dict[tuple[str, int], int]


class BaseHandler(ABC):
    # Names the handler's offsets and processed-event markers in Postgres: its identity, so
    # it never changes once events were applied under it.
    consumer: str
    # How the serde hands over Avro logical types: True decodes them all (datetimes, UUIDs),
    # False leaves epoch ms and strings (a faster decode), or the event names to decode fully.
    logical_types: bool | Collection[str] = True

    def relevant(self, event: Event) -> bool:
        """False for an event this handler has nothing to do with: it skips validation and the
        processed-event ledger (its redelivery changes nothing either)."""
        del event
        return True

    def validate(self, event: Event) -> None:
        """Content rules the schema cannot express; raise InvalidContent to dead-letter the
        event (the batch goes on without it)."""
        del event

    @abstractmethod
    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        """Read and write the agent's state in the batch's transaction; return the derived
        events for the outbox. Raise InvalidContent for an event that breaks a rule, a
        TransientError (learnstream.errors) for a dependency that will answer later."""

    def materialize(self, conn: psycopg.Connection, events: list[Event]) -> None:
        """Rewrite views outside Postgres (Redis) from this transaction's state, last before
        COMMIT; `events` are those applied. A failure rolls the batch back and retries it."""
        del conn, events

    def committed(self) -> None:
        """The batch's transaction committed: state kept in memory may be trusted now."""
        return None  # a hook: nothing kept, nothing to do

    def rolled_back(self) -> None:
        """The transaction did not commit: drop what the attempt changed in memory."""
        return None  # a hook: nothing kept, nothing to do

    def revoked(self) -> None:
        """The handler's partitions went to another member: drop their state in memory."""
        return None  # a hook: nothing kept, nothing to do

    def punctuate(
        self,
        conn: psycopg.Connection,
        partitions: set[tuple[str, int]],
        end_offsets: Callable[[list[str]], EndOffsets],
    ) -> tuple[list[Outbound], bool]:
        """Time-driven work for the assigned `partitions`, between two batches in a
        transaction of its own: the derived events, and whether more is owed than one call
        took. `end_offsets` asks Kafka for topics' end offsets over a kept connection."""
        del conn, partitions, end_offsets
        return [], False

    def backlog_topics(self) -> list[str]:
        """Topics beyond the inputs whose end offsets `backlog` needs (the drain check)."""
        return []

    def backlog(self, conn: psycopg.Connection, end_offsets: EndOffsets) -> dict[str, int]:
        """Work owed beyond unapplied records, by name (due decisions not yet taken,
        notifications not yet delivered): the drain check waits until all of it is zero."""
        del conn, end_offsets
        return {}


def overrides(handler: BaseHandler, hook: str) -> bool:
    """Whether `handler` implements `hook` itself: the runtime skips a transaction for a
    punctuation the handler does not have."""
    return getattr(type(handler), hook) is not getattr(BaseHandler, hook)
