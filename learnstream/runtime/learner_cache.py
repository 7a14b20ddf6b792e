"""Learners' state kept in memory between batches, least recently used first out.

Postgres stays the truth: a cache built on this one validates what it holds before each use
(a row version) and reads again what someone else wrote. Everything handed out while a batch
runs is "dirty" until the batch's transaction commits; a rollback (or a failed savepoint)
drops the dirty learners, so the retry reads what Postgres kept. On a partition revocation the
cache is cleared: those learners belong to another member now.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

Kept = TypeVar("Kept")


class LearnerCache(Generic[Kept]):
    def __init__(self, max_learners: int) -> None:
        self.max_learners = max_learners  # bounds memory: the least recently used go first
        self._learners: OrderedDict[str, Kept] = OrderedDict()
        self._dirty: set[str] = set()  # touched by the open transaction: validated, maybe changed

    def __len__(self) -> int:
        return len(self._learners)

    def committed(self) -> None:
        self._dirty.clear()

    def rolled_back(self) -> None:
        for learner in self._dirty:
            self._learners.pop(learner, None)
        self._dirty.clear()

    def clear(self) -> None:
        self._learners.clear()
        self._dirty.clear()

    def _touch(self, learners: list[str]) -> None:
        """`learners` are in use by this batch: most recent, dirty, and kept past eviction."""
        for learner in learners:
            self._learners.move_to_end(learner)
        self._dirty.update(learners)
        self._evict(keep=set(learners))

    def _evict(self, keep: set[str]) -> None:
        while len(self._learners) > self.max_learners:
            learner = next(iter(self._learners))
            if learner in keep:
                break  # a batch larger than the cache: keep what it uses until it commits
            del self._learners[learner]
