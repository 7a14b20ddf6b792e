"""A journey's state and the bookkeeping every activity shares: emitting events (admin
corrections due earlier always go first, in event time) and counting completions and revocations
the way the simulator understands them.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from learnstream.clock import SECOND_MS
from learnstream.simulate.catalog import Course, Item
from learnstream.simulate.model import Draft, Emitter
from learnstream.simulate.world import Person


@dataclass
class PairIntent:
    """What the simulator made happen for one learner × course (its own ground truth).

    outcome: completed | recertified (completed again after a revocation) | cancelled |
    revoked | failed (gave up after failing) | dropped | terminated | unfinished (time ran out)
    | stuck (all done but a skimmed video)."""

    learner_id: str
    course_id: str
    outcome: str
    completed: bool  # every required item done at the end, by the simulator's own bookkeeping
    completions: int  # times the pair became completed
    revocations: int  # times it stopped being completed (a grade correction)
    max_attempt: int  # highest assessment attempt number used
    corrections: int
    cancelled: bool
    due_at: int | None  # ms


class Stop(Exception):
    """The learner's time is up (simulation end or termination)."""


@dataclass
class Attempt:
    score: float
    max_score: int
    passed: bool
    voided: bool = False
    graded: Draft | None = None


@dataclass
class JourneyState:
    rng: random.Random
    em: Emitter
    person: Person
    course: Course
    enrolled_at: int
    end: int
    assigned: bool
    source: str = "/lms/web"
    t: int = 0
    limit: int = 0
    enrollment_id: str = ""
    due_at: int | None = None
    done: set[str] = field(default_factory=set)
    client_done: set[str] = field(default_factory=set)
    coverage: dict[str, bytearray] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    tasks: deque[tuple[str, Any]] = field(default_factory=deque)
    pending: list[tuple[int, int, tuple[Item, int, float]]] = field(default_factory=list)
    completed: bool = False
    completions: int = 0
    revocations: int = 0
    corrections: int = 0
    dropped: bool = False
    failed: bool = False
    gone: bool = False  # no more learner actions (stopped by time or termination)
    session_break: bool = False
    stopped: bool = False
    cancelled: bool = False
    enrolment: Draft | None = None
    last_t: int = 0

    def _emit(
        self,
        name: str,
        t: int,
        body: dict[str, Any],
        *,
        admin: bool = False,
        cause: Draft | None = None,
    ) -> Draft:
        if t >= (self.end if admin else self.limit):
            raise Stop
        self._flush_pending(before=t)  # corrections due earlier happen first (event time)
        t = t + 1 if t % SECOND_MS == 0 else t  # whole seconds are for org-chart times
        body = {"learner_id": self.person.learner_id, "course_id": self.course.course_id, **body}
        draft = self.em.emit(
            name,
            self.person.learner_id,
            t,
            body,
            source=self.source,
            correlation_id=self.enrollment_id,
            cause=cause,
        )
        self.last_t = max(self.last_t, t)
        return draft

    def _check(self) -> None:
        complete = all(i.item_id in self.done for i in self.course.required_items)
        if complete and not self.completed:
            self.completions += 1
        elif self.completed and not complete:
            self.revocations += 1
        self.completed = complete

    def _mark(self, item: Item, watched: bool) -> None:
        self.client_done.add(item.item_id)
        if watched:
            self.done.add(item.item_id)
            self._check()

    def _flush_pending(self, before: int) -> None:
        while self.pending and self.pending[0][0] < before:
            t, _, (item, attempt, roll) = self.pending.pop(0)
            self._correct(t, item, attempt, roll)

    def _correct(self, t: int, item: Item, attempt: int, roll: float) -> None:
        raise NotImplementedError  # activities.Activities
