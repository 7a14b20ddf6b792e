"""One learner in one course, session by session, and what the simulator *meant* to happen.

The journey is its own, independent model of the outcome: it tracks which required items it made
done (video coverage as a per-second bitmap, not interval merging), its assessment attempts and
corrections, and counts completions and revocations as they happen. `PairIntent` is that record;
the tests hold the oracle against it.

Behaviour: sessions on working hours with a learner-specific pace; optional items now and then;
drop-outs (more likely for less engaged learners); videos watched fully, with a skip, paused and
resumed (a rewatch), or skimmed below 90 %; retakes after a failed assessment (up to 3 attempts,
then giving up); module.completed sent by the client for some modules; grade corrections days
later (or minutes later, with the grade delivered late), answered by a retake; and, for some
abandoned pairs, an enrollment.cancelled after the due date.
"""

from __future__ import annotations

import contextlib

from learnstream.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from learnstream.ids import from_epoch_ms, v5
from learnstream.names import (
    ENROLLMENT_CANCELLED,
    ENROLLMENT_CREATED,
    LESSON_COMPLETED,
    MODULE_COMPLETED,
)
from learnstream.simulate.activities import Activities
from learnstream.simulate.catalog import Item, Module
from learnstream.simulate.journey_state import PairIntent, Stop

__all__ = ["Journey", "PairIntent"]


class Journey(Activities):
    """One learner × course: enrol, plan the items, then learn session by session."""

    def run(self) -> None:
        self.limit = min(self.end, self.person.active_until or self.end)
        self.enrollment_id = v5(
            f"sim-enrollment:{self.em.seed}:{self.person.learner_id}:{self.course.course_id}"
        )
        try:
            self._enrol()
            self._plan()
            self._loop()
        except Stop:
            self.stopped = True
        self.gone = True
        with contextlib.suppress(Stop):
            self._flush_pending(before=self.end)
        if not (self.stopped and self.limit == self.end):
            self.cancelled = self._maybe_cancel()

    def _due(self) -> int | None:
        if self.due_at is None and self.course.due_days is not None and self.enrolment:
            return self.enrolment.t + self.course.due_days * DAY_MS
        return self.due_at

    def intent(self) -> PairIntent:
        """The ground truth, read once the generator has fixed the final event times."""
        return PairIntent(
            learner_id=self.person.learner_id,
            course_id=self.course.course_id,
            outcome=self._outcome(self.stopped, self.cancelled),
            completed=self.completed,
            completions=self.completions,
            revocations=self.revocations,
            max_attempt=max((len(a) for a in self.attempts.values()), default=0),
            corrections=self.corrections,
            cancelled=self.cancelled,
            due_at=self._due(),
        )

    def _outcome(self, stopped: bool, cancelled: bool) -> str:
        if self.completed:
            return "recertified" if self.revocations else "completed"
        for flag, label in (
            (cancelled, "cancelled"),
            (self.revocations > 0, "revoked"),
            (self.failed, "failed"),
            (self.dropped, "dropped"),
        ):
            if flag:
                return label
        if stopped:
            return "terminated" if self.limit < self.end else "unfinished"
        return "stuck"

    def _enrol(self) -> None:
        rng, due_at = self.rng, None
        assigned_by = self.person.manager_id if self.assigned else None
        if assigned_by is not None and rng.random() < 0.7:
            day = self.enrolled_at // DAY_MS * DAY_MS
            due_at = day + rng.randint(5, 25) * DAY_MS + 17 * HOUR_MS
        body = {
            "enrollment_id": self.enrollment_id,
            "course_version": rng.choice([None, None, 1]),
            "assigned_by": assigned_by,
            "due_at": None if due_at is None else from_epoch_ms(due_at),
        }
        self.source = rng.choice(["/lms/web", "/lms/web", "/lms/mobile-ios", "/lms/mobile-android"])
        self.enrolment = self._emit(ENROLLMENT_CREATED, self.enrolled_at, body)
        self.t = self.enrolment.t
        self.due_at = due_at  # explicit; the catalog rule is applied in intent()

    def _plan(self) -> None:
        for module in self.course.modules:
            if not module.required and self.rng.random() > 0.3:
                continue
            for item in module.items:
                if item.required or self.rng.random() < 0.35:
                    self.tasks.append(("item", item))
            self.tasks.append(("module", module))

    def _next_session(self) -> int:
        gap = max(30 * MINUTE_MS, int(self.rng.expovariate(1.0 / self.person.pace_days) * DAY_MS))
        t = self.t + gap
        hour = (t % DAY_MS) // HOUR_MS
        if hour < 7 or hour >= 20:  # people learn during the day
            t = (t // DAY_MS + (1 if hour >= 20 else 0)) * DAY_MS + 7 * HOUR_MS
            t += self.rng.randint(0, 11 * HOUR_MS)
        return t + self.rng.randint(1, 999)

    def _loop(self) -> None:
        rescued = False
        while True:
            if not self.tasks:
                if self.pending:  # idle until the next correction lands
                    self._flush_pending(before=self.pending[0][0] + 1)
                    continue
                missing = [i for i in self.course.required_items if i.item_id not in self.done]
                if (
                    rescued
                    or self.dropped
                    or self.failed
                    or not missing
                    or any(i.kind != "VIDEO" for i in missing)
                    or self.rng.random() < 0.4
                ):
                    return
                rescued = True  # stuck at 9x %: go back and watch the skimmed videos properly
                self.tasks.extend(("rewatch", i) for i in missing)
            start = self._next_session()
            if start >= self.limit:
                raise Stop
            self._flush_pending(before=start)
            if self.rng.random() < 0.012 + 0.06 * (1.0 - self.person.engagement):
                self.dropped = True
                self.tasks.clear()
                continue
            self.t, self.session_break = start, False
            for _ in range(self.rng.randint(2, 6)):
                if not self.tasks or self.session_break:
                    break
                kind, what = self.tasks.popleft()
                getattr(self, f"_do_{kind}")(what)
                self.t += self.rng.randint(10, 120) * SECOND_MS

    # --- tasks --------------------------------------------------------------------------------
    def _do_item(self, item: Item) -> None:
        if item.kind == "LESSON":
            spent = self.rng.randint(120, 1500)
            self.t += spent * SECOND_MS
            null_time = self.rng.random() < 0.05
            self._emit(
                LESSON_COMPLETED,
                self.t,
                {
                    "module_id": item.module_id,
                    "lesson_id": item.item_id,
                    "time_spent_seconds": None if null_time else float(spent),
                },
            )
            self._mark(item, watched=True)
        elif item.kind == "VIDEO":
            self._watch(item)
        else:
            self._sit(item)

    def _do_retake(self, item: Item) -> None:
        self._sit(item)

    def _do_rewatch(self, item: Item) -> None:
        self._play(item, [(0, item.duration_s)], 0, item.duration_s)

    def _do_resume(self, resume: tuple[Item, int]) -> None:
        item, stopped_at = resume
        back = max(0, stopped_at - self.rng.randint(5, 60))  # rewinds a little: a rewatch
        self._play(item, [(back, item.duration_s)], back, item.duration_s)

    def _do_module(self, module: Module) -> None:
        required = [i for i in module.items if i.required]
        if all(i.item_id in self.client_done for i in required) and self.rng.random() < 0.5:
            self.t += self.rng.randint(1, 5) * SECOND_MS
            self._emit(MODULE_COMPLETED, self.t, {"module_id": module.module_id})
            for i in module.items:  # lessons and videos count as done, never assessments
                if i.kind in ("LESSON", "VIDEO"):
                    self.done.add(i.item_id)
            self._check()

    def _maybe_cancel(self) -> bool:
        if self.completed or self.pending:
            return False
        rng, due = self.rng, self._due()
        if due is not None:  # only after the due date: a cancelled pair is never at risk
            if rng.random() >= 0.35:
                return False
            at = max(due, self.last_t) + rng.randint(1, 4) * DAY_MS
            by, reason = self.person.manager_id, "UNASSIGNED"
        else:
            if rng.random() >= 0.1 or not (self.dropped or self.failed):
                return False
            at = self.last_t + rng.randint(1, 10) * DAY_MS
            by, reason = None, "SELF_UNENROLLED"
        try:
            self._emit(
                ENROLLMENT_CANCELLED,
                at + rng.randint(1, 999),
                {"enrollment_id": self.enrollment_id, "cancelled_by": by, "reason": reason},
                admin=True,
            )
        except Stop:
            return False
        return True
