"""Applying a batch in savepoints after a handler failed in it: a bug costs only the events
that hit it. A failing set of keys is halved until the failing keys stand alone, so k bad keys
among n cost about 2·k·log2(n) re-applies instead of n; a failing key is then narrowed down to
the event(s) that break the handler."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from learnstream.log import get_logger
from learnstream.runtime.errors import is_transient
from learnstream.runtime.records import Event, Outbound

log = get_logger(__name__)
Apply = Callable[[psycopg.Connection, list[Event]], list[Outbound]]
Failed = list[tuple[Event, Exception]]


def apply_in_savepoints(
    conn: psycopg.Connection,
    groups_by_key: list[list[Event]],
    apply: Apply,
    rolled_back: Callable[[], None],
    consumer: str,
) -> tuple[list[Outbound], Failed]:
    """Apply the key groups, each try in a savepoint; `rolled_back` tells the handler that a
    savepoint took back what its memory still holds. Transient errors propagate (retry)."""
    derived: list[Outbound] = []
    failed: Failed = []
    pending = [groups_by_key]
    while pending:
        groups = pending.pop()
        batch = [event for group in groups for event in group]
        try:
            with conn.transaction():
                derived += apply(conn, batch)
            continue
        except Exception as exc:
            rolled_back()
            if is_transient(exc):
                raise
        if len(groups) > 1:
            half = len(groups) // 2
            pending += [groups[half:], groups[:half]]
            continue
        derived += _one_by_one(conn, groups[0], apply, rolled_back, consumer, failed)
    return derived, failed


def _one_by_one(
    conn: psycopg.Connection,
    group: list[Event],
    apply: Apply,
    rolled_back: Callable[[], None],
    consumer: str,
    failed: Failed,
) -> list[Outbound]:
    derived: list[Outbound] = []
    for event in group:
        try:
            with conn.transaction():
                derived += apply(conn, [event])
        except Exception as exc:
            rolled_back()
            if is_transient(exc):
                raise
            log.error("handler.failed", consumer=consumer, event_id=event.event_id, error=repr(exc))
            failed.append((event, exc))
    return derived
