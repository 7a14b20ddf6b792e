"""Per-learner advisory locks, held until the transaction ends.

Several transactions touch one learner's state: the learner lane, the org-chart agent (routing
notifications), the due sweep, a catalog re-fold. Each locks the learners it will touch in one
sorted acquisition, after its course locks (streams/progress_store.lock_courses), so the later
one waits for the earlier commit and then reads it (READ COMMITTED), and no two wait on each
other. Re-taking a lock the transaction holds returns at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import psycopg


def lock_learners(conn: psycopg.Connection, learners: Iterable[str]) -> None:
    keys = sorted({learner_lock_key(learner) for learner in learners})
    if keys:
        # unnest yields in array order, so every transaction locks in the same order.
        conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", (keys,))


def try_lock_learners(conn: psycopg.Connection, learners: Iterable[str]) -> set[str]:
    """The learners whose locks were free, now held; never waits. For background work (the due
    sweep) that must not hold some learners' locks while it waits for others: the lane would
    wait on the first while the sweep waits on the lane."""
    by_key = {learner_lock_key(learner): learner for learner in learners}
    if not by_key:
        return set()
    rows = conn.execute(
        "SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
        (sorted(by_key),),
    ).fetchall()
    return {by_key[key] for key, got in rows if got}


def learner_lock_key(learner: str) -> int:
    digest = hashlib.blake2b(f"learner:{learner}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
