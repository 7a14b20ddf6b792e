"""What a learner does with a video or an assessment, and what graders do afterwards.

Video margins: a video meant as watched covers at least 90 % of its duration plus one second, a
skimmed one at most 90 % minus one second, so the 90 % rule is never decided by float rounding.
Coverage is tracked as a per-second bitmap, independently of the oracle's interval merging.
"""

from __future__ import annotations

import math
from typing import Any

from learnstream.clock import HOUR_MS, MINUTE_MS, SECOND_MS
from learnstream.names import (
    ASSESSMENT_GRADED,
    ASSESSMENT_SUBMITTED,
    GRADE_CORRECTED,
    VIDEO_PROGRESSED,
)
from learnstream.simulate.catalog import Item
from learnstream.simulate.journey_state import Attempt, JourneyState

MAX_ATTEMPTS = 3


class Activities(JourneyState):
    # --- video ----------------------------------------------------------------------------------
    def _watch(self, item: Item) -> None:
        rng, d = self.rng, item.duration_s
        roll = rng.random()
        if roll < 0.14:  # stops part-way, resumes in a later session
            stop = int(d * rng.uniform(0.3, 0.7))
            self._play(item, [(0, stop)], 0, stop)
            self.tasks.appendleft(("resume", (item, stop)))
            self.session_break = True
            return
        most_skip = (d - 10) // 10  # largest skip that still leaves >= 90 % + 1 s
        least_skim = d - (9 * d - 10) // 10  # smallest skip that leaves <= 90 % - 1 s
        if roll < 0.70:
            skip = 0 if rng.random() < 0.7 else rng.randint(1, most_skip)
        elif roll < 0.78:
            skip = most_skip  # 9x %, just above the line
        elif roll < 0.84:
            skip = least_skim  # 8x %, just below the line
        else:
            skip = rng.randint(least_skim, int(d * 0.4))
        if skip and rng.random() < 0.4:  # stops before the end
            self._play(item, [(0, d - skip)], 0, d - skip)
        elif skip:
            at = rng.randint(1, d - skip - 1)
            self._play(item, [(0, at), (at + skip, d)], 0, d)
        else:
            self._play(item, [(0, d)], 0, d)
        self.client_done.add(item.item_id)  # the player counts >= 60 % as watched

    def _play(self, item: Item, spans: list[tuple[int, int]], pos: int, stop: int) -> None:
        rng, d = self.rng, item.duration_s
        beats = min(rng.randint(2, 3), max(1, stop - pos))
        cuts = sorted(rng.sample(range(pos + 1, stop), beats - 1)) if beats > 1 else []
        cover = self.coverage.setdefault(item.item_id, bytearray(d))
        for a, b in zip([pos, *cuts], [*cuts, stop], strict=True):
            segments = [(max(a, s), min(b, e)) for s, e in spans if min(b, e) > max(a, s)]
            self.t += sum(e - s for s, e in segments) * SECOND_MS + rng.randint(200, 3000)
            self._emit(
                VIDEO_PROGRESSED,
                self.t,
                {
                    "module_id": item.module_id if rng.random() < 0.9 else None,
                    "video_id": item.item_id,
                    "position_seconds": float(b),
                    "duration_seconds": float(d),
                    "watched_segments": [
                        {"start_seconds": float(s), "end_seconds": float(e)} for s, e in segments
                    ],
                },
            )
            for s, e in segments:
                cover[s:e] = b"\x01" * (e - s)
        if cover.count(1) * 10 >= 9 * d:
            self._mark(item, watched=True)

    # --- assessments ----------------------------------------------------------------------------
    def _sit(self, item: Item) -> None:
        rng, person, course = self.rng, self.person, self.course
        history = self.attempts.setdefault(item.item_id, [])
        attempt = len(history) + 1
        ability = sum(w * person.ability[s] for s, w in course.skills)
        mean = 1.0 / (1.0 + math.exp(-(1.1 * (ability - item.difficulty) + 1.6 + 0.3 * attempt)))
        ratio = min(1.0, max(0.0, rng.gauss(mean, 0.12)))
        score = float(round(ratio * item.max_score))
        passed = score / item.max_score >= course.pass_mark
        spent = rng.randint(240, 2400)
        self.t += spent * SECOND_MS
        submitted = self._emit(
            ASSESSMENT_SUBMITTED,
            self.t,
            {
                "module_id": item.module_id,
                "assessment_id": item.item_id,
                "attempt": attempt,
                "answers_count": rng.randint(5, 30),
                "time_spent_seconds": None if rng.random() < 0.05 else float(spent),
            },
        )
        manual = rng.random() < 0.15
        graded_at = self.t + (
            rng.randint(2, 30) * HOUR_MS if manual else rng.randint(3, 90) * SECOND_MS
        )
        graded = self._emit(
            ASSESSMENT_GRADED,
            graded_at,
            {
                "module_id": item.module_id,
                "assessment_id": item.item_id,
                "attempt": attempt,
                "score": score,
                "max_score": float(item.max_score),
                "pass_mark": course.pass_mark,
                "passed": passed,
            },
            admin=True,
            cause=submitted,
        )
        history.append(Attempt(score, item.max_score, passed, graded=graded))
        self.t = max(self.t, graded.t)
        self.session_break = self.session_break or manual
        if passed:
            self._mark(item, watched=False)
            self.done.add(item.item_id)
            self._check()
        if rng.random() < 0.02:
            self._schedule_correction(item, attempt, graded.t)
        if not passed:
            willing = rng.random() < 0.5 + 0.45 * person.engagement
            if attempt < MAX_ATTEMPTS and willing:
                self.tasks.appendleft(("retake", item))
                self.session_break = True
            elif item.required:
                self.failed = True  # gives up on the course
                self.tasks.clear()

    def _schedule_correction(self, item: Item, attempt: int, graded_t: int) -> None:
        quick = self.rng.random() < 0.2  # an automatic re-grade minutes later
        delay = self.rng.randint(2, 10) * MINUTE_MS if quick else self.rng.randint(6, 140) * HOUR_MS
        self.pending.append((graded_t + delay, attempt, (item, attempt, self.rng.random())))
        self.pending.sort(key=lambda p: (p[0], p[1]))
        if quick:  # the grade itself is delivered late: its correction arrives before it
            grade = self.attempts[item.item_id][attempt - 1].graded
            assert grade is not None
            grade.late_by = delay + self.rng.randint(1, 30) * MINUTE_MS

    def _correct(self, t: int, item: Item, attempt: int, roll: float) -> None:
        rng, pass_mark = self.rng, self.course.pass_mark
        att = self.attempts[item.item_id][attempt - 1]
        if att.voided:
            return
        body: dict[str, Any] = {
            "assessment_id": item.item_id,
            "attempt": attempt,
            "new_score": None,
            "new_passed": None,
        }
        if (att.passed and roll < 0.55) or (not att.passed and roll < 0.3):
            body.update(action="VOIDED", reason=rng.choice(["CHEATING", "TECHNICAL_ISSUE"]))
        else:
            if att.passed and roll < 0.8:  # a passing grade corrected down below the mark
                ratio = rng.uniform(max(0.0, pass_mark - 0.3), pass_mark - 0.05)
            else:  # a grading error in the learner's favour, or a small fix that still passes
                ratio = rng.uniform(pass_mark + 0.05, 1.0)
            new_score = float(math.floor(ratio * att.max_score))
            new_passed = new_score / att.max_score >= pass_mark
            body.update(
                action="CORRECTED",
                reason="GRADING_ERROR",
                new_score=new_score,
                new_passed=new_passed if rng.random() < 0.5 else None,
            )
        body["corrected_by"] = rng.choice([self.person.manager_id, None])
        self._emit(GRADE_CORRECTED, t, body, admin=True, cause=att.graded)
        self.t = max(self.t, t)
        self.corrections += 1
        if body["action"] == "VOIDED":
            att.voided = True
        else:
            att.score = body["new_score"]
            att.passed = att.score / att.max_score >= pass_mark
        if any(a.passed and not a.voided for a in self.attempts[item.item_id]):
            self.done.add(item.item_id)
        else:
            self.done.discard(item.item_id)
        self._check()
        undone = item.required and item.item_id not in self.done
        if undone and not (self.gone or self.failed or self.dropped) and rng.random() < 0.7:
            self.tasks.appendleft(("retake", item))  # the learner is asked to sit it again
