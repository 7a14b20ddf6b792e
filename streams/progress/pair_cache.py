"""The learner lane's pair state in memory: loaded on first touch, kept across batches, written
back once per batch, validated before every use (ADR 0010, "State in memory").

Postgres stays the truth. A cached learner carries the row version (xmin) of each of its pair
rows as the last write left them; before a batch uses it, one index scan compares those
versions, and a learner whose rows someone else wrote since (the catalog agent re-folding a
course, another member after a rebalance, a rebuild) is read again. So the cache can only
save reads, never serve stale state, whoever else writes.

In-memory state is changed in place while a batch runs, so every learner handed out is "dirty"
until its transaction commits: a rollback (or a failed savepoint) evicts the dirty learners,
and the retry reads what Postgres kept.
"""

from __future__ import annotations

from typing import Any

import psycopg

from learnstream.runtime.learner_cache import LearnerCache
from learnstream.runtime.metrics import STATE_CACHE_LEARNERS, STATE_CACHE_READS
from streams.progress.store import Pair, load_learners, row_versions

State = dict[str, Any]


class PairCache(LearnerCache[tuple[dict[str, State], dict[str, str]]]):
    """Per learner: its pairs' states by course, and their rows' versions by course."""

    def states(self, conn: psycopg.Connection, pairs: set[Pair]) -> dict[Pair, State]:
        """The current state of `pairs` that exist (new pairs are absent), for changing in
        place and handing back through `written`."""
        learners = sorted({learner for learner, _ in pairs})
        cached = [learner for learner in learners if learner in self._learners]
        current = row_versions(conn, cached)
        stale = [learner for learner in cached if current[learner] != self._learners[learner][1]]
        missing = [learner for learner in learners if learner not in self._learners] + stale
        STATE_CACHE_READS.labels("pairs", "hit").inc(len(cached) - len(stale))
        STATE_CACHE_READS.labels("pairs", "miss").inc(len(missing))
        for learner, entry in load_learners(conn, missing).items():
            self._learners[learner] = entry
        self._touch(learners)
        STATE_CACHE_LEARNERS.labels("pairs").set(len(self._learners))
        return {
            (learner, course): self._learners[learner][0][course]
            for learner, course in pairs
            if course in self._learners[learner][0]
        }

    def written(self, states: dict[Pair, State], versions: dict[Pair, str]) -> None:
        """The batch wrote these states; `versions` are the rows' new xmin."""
        for (learner, course), state in states.items():
            entry = self._learners.setdefault(learner, ({}, {}))
            entry[0][course] = state
            entry[1][course] = versions[(learner, course)]
            self._dirty.add(learner)
