"""The oracle: docs/domain-rules.md as a plain fold over the events, in event time.

    oracle = compute_oracle(events)            # as_of = the last event time
    oracle.to_json()                           # layout: see learnstream/simulate/oracle_model.py

How the fold reads the rules (where the page leaves room, this is the reading, and the
simulator never generates data whose outcome depends on another reading):

* De-duplication keeps the first occurrence of each envelope.event_id; events after `as_of`
  are left out. The rest are applied in (occurred_at, event_id) order, so delivery order
  (late events, re-sends) cannot change the result.
* A pair follows the newest catalog version until its first event, which pins the version in
  force; an enrollment.created re-pins the newest version unless the pair is completed. A later
  version changes nothing for a pinned pair, unless it has `recertify_on_publish`: then a pair
  in progress moves to it, and a completed pair keeps its completion while its certificate's
  expiry is brought forward to the deadline (and the learner and the manager are told). After
  every learning event the pair is re-evaluated against its version. A pair becoming completed
  starts a completion (and its certificate) at that event's time; a completed pair that stops
  being completed has its certificate revoked at that event's time.
* A correction applies to its grade whenever the grade is known, in event-time order among the
  corrections of the same (assessment, attempt); `VOIDED` is final. `CORRECTED` without
  new_passed recomputes against the grade's own pass_mark and max_score.
* Video coverage: union of the segments clipped to [0, duration], done when
  `covered >= 0.9 * duration` (latest duration by event time).
* Sums are math.fsum, so they do not depend on the order of the terms.
* Status, due dates (the pinned catalog's due_days) and certificate expiry are what holds
  *at `as_of`*. A pair without an active enrolment (cancelled, or never enrolled) is never
  overdue.
* OVERDUE and AT_RISK are decided in event time at their threshold (due_at, and due_at - 7
  days), once as_of is ALLOWED_LATENESS_MS (6 h) past it: the pair's own events and its
  course's catalogs up to the threshold are folded again, and the alert is owed when the pair
  was then active, not completed, and (AT_RISK) below 50 %. A pair completed after its due
  date was overdue.
* Org snapshots are looked up over every snapshot known at `as_of` (greatest effective_at <= T,
  ties by event time, then event_id). HR records need an ACTIVE snapshot at completed_at.
  A revoked completion's Workday record is expected updated in place (state REVOKED); SAP's
  stays COMPLETED and owes a correction instead (SAP records cannot be updated).

This module must stay independent of streams/: the stream processors are tested against it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from learnstream import ids
from learnstream.clock import ALLOWED_LATENESS_MS, AT_RISK_PERCENT, AT_RISK_WINDOW_MS
from learnstream.ids import epoch_ms, from_epoch_ms
from learnstream.simulate.model import SimEvent
from learnstream.simulate.oracle_fold import Fold, event_time
from learnstream.simulate.oracle_model import (
    CertificateRow,
    CompletionRow,
    HrCorrectionRow,
    HrRecordRow,
    NotificationRow,
    Oracle,
    ProgressRow,
)
from learnstream.simulate.oracle_state import Completion, Pair


def _dedupe(events: Iterable[SimEvent]) -> tuple[list[SimEvent], int]:
    seen: set[str] = set()
    unique: list[SimEvent] = []
    total = 0
    for event in events:
        total += 1
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique, total


def compute_oracle(
    events: Iterable[SimEvent], as_of: datetime | None = None, seed: int | None = None
) -> Oracle:
    """Fold the events into what docs/domain-rules.md says must exist as of `as_of`
    (default: the last event time)."""
    unique, total = _dedupe(events)
    as_of_ms = (
        epoch_ms(as_of) if as_of is not None else max((event_time(e) for e in unique), default=0)
    )
    kept = sorted(
        (e for e in unique if event_time(e) <= as_of_ms), key=lambda e: (event_time(e), e.event_id)
    )
    fold = Fold()
    for event in kept:
        fold.apply(event)
    oracle = _results(fold, as_of_ms, seed, kept)
    oracle.counts = {
        "events": total,
        "unique_events": len(unique),
        "duplicates": total - len(unique),
        "after_as_of": len(unique) - len(kept),
        "by_type": dict(sorted(Counter(e.event_name for e in kept).items())),
        "learners": len(fold.learners),
        "courses": len(fold.catalogs),
        **_summary(oracle),
    }
    return oracle


class _History:
    """Each pair's events and each course's catalog events, in event-time order."""

    def __init__(self, kept: list[SimEvent]) -> None:
        self.by_pair: dict[tuple[str, str], list[SimEvent]] = {}
        self.catalogs: dict[str, list[SimEvent]] = {}
        for event in kept:
            record = event.record
            if "course_id" not in record:
                continue
            if "learner_id" in record:
                key = (record["learner_id"], record["course_id"])
                self.by_pair.setdefault(key, []).append(event)
            elif "modules" in record:
                self.catalogs.setdefault(record["course_id"], []).append(event)

    def state_at(self, pair: Pair, at: int) -> tuple[Pair, Any]:
        """The pair (and its course's catalog) as they were at event time `at`."""
        events = self.by_pair.get((pair.learner_id, pair.course_id), [])
        events = events + self.catalogs.get(pair.course_id, [])
        fold = Fold()
        for event in sorted(events, key=lambda e: (event_time(e), e.event_id)):
            if event_time(event) > at:
                break
            fold.apply(event)
        then = fold.pairs.get((pair.learner_id, pair.course_id))
        empty = Pair(pair.tenant_id, pair.learner_id, pair.course_id)
        return (then or empty), (then.catalog if then is not None else None)


def _results(fold: Fold, as_of: int, seed: int | None, kept: list[SimEvent]) -> Oracle:
    history = _History(kept)
    oracle = Oracle(as_of=from_epoch_ms(as_of), seed=seed, counts={})
    notes: list[NotificationRow] = []

    def notify(kind: str, cause: str, recipient: str | None, pair: Pair) -> None:
        if recipient is not None:
            notes.append(
                NotificationRow(
                    ids.notification_id(kind, cause, recipient),
                    kind,
                    recipient,
                    pair.learner_id,
                    pair.course_id,
                )
            )

    for key in sorted(fold.pairs):
        pair = fold.pairs[key]
        catalog = pair.catalog
        done, total = pair.required_done(catalog)
        percent = round(100 * done / total, 1) if total else 0.0
        due = pair.due_at(catalog)
        if pair.completed:
            status = "completed"
        elif pair.active() and due is not None and due < as_of:
            status = "overdue"
        else:
            status = "in_progress" if pair.last_activity is not None else "not_started"
        oracle.progress.append(
            ProgressRow(
                pair.learner_id,
                pair.course_id,
                status,
                done,
                total,
                percent,
                pair.best_scores(),
                pair.time_spent(),
                _dt(pair.last_activity),
                _dt(due),
            )
        )
        if due is not None:
            cause = ids.due_cause_id(pair.learner_id, pair.course_id, due)
            if due + ALLOWED_LATENESS_MS <= as_of:
                then, _ = history.state_at(pair, due)
                if then.active() and not then.completed:
                    notify("OVERDUE", cause, fold.manager_at(pair.learner_id, due), pair)
            at_risk_from = due - AT_RISK_WINDOW_MS
            if at_risk_from + ALLOWED_LATENESS_MS <= as_of:
                then, catalog_then = history.state_at(pair, at_risk_from)
                done_then, total_then = then.required_done(catalog_then)
                percent_then = round(100 * done_then / total_then, 1) if total_then else 0.0
                if then.active() and not then.completed and percent_then < AT_RISK_PERCENT:
                    notify("AT_RISK", cause, fold.manager_at(pair.learner_id, at_risk_from), pair)
        for c in pair.completions:
            _completion_rows(fold, oracle, pair, c, as_of)
            manager = fold.manager_at(pair.learner_id, c.completed_at)
            notify("COURSE_COMPLETED", c.completion_id, manager, pair)
            notify("CERTIFICATE_ISSUED", c.certificate_id, manager, pair)
            for version, published_at in c.recertified:
                cause = ids.recertification_cause_id(c.certificate_id, version)
                for recipient in (pair.learner_id, fold.manager_at(pair.learner_id, published_at)):
                    notify("RECERTIFICATION_REQUIRED", cause, recipient, pair)
    oracle.notifications = sorted(
        notes, key=lambda n: (n.subject_learner_id, n.course_id, n.kind, n.recipient_id)
    )
    oracle.hr_records.sort(key=lambda r: (r.learner_id, r.course_id, r.completion_id, r.target))
    oracle.hr_corrections.sort(
        key=lambda r: (r.learner_id, r.course_id, r.certificate_id, r.target)
    )
    return oracle


def _completion_rows(fold: Fold, oracle: Oracle, pair: Pair, c: Completion, as_of: int) -> None:
    oracle.completions.append(
        CompletionRow(
            c.completion_id,
            pair.learner_id,
            pair.course_id,
            c.attempt,
            from_epoch_ms(c.completed_at),
            c.score,
            c.course_version,
            c.time_spent,
        )
    )
    oracle.certificates.append(
        CertificateRow(
            c.certificate_id,
            pair.learner_id,
            pair.course_id,
            c.attempt,
            from_epoch_ms(c.completed_at),
            _dt(c.expires_at),
            c.revoked_at is not None,
            _dt(c.revoked_at),
            c.expires_at is not None and c.expires_at < as_of,
        )
    )
    timeline = fold.org.get(pair.learner_id)
    snap = timeline.at(c.completed_at) if timeline is not None else None
    if snap is None or snap.status != "ACTIVE":
        return  # no employment (or terminated) at completion: no HR system is owed anything
    for target, hr_user_id in (("WORKDAY", snap.hr_worker_id), ("SAP", snap.sap_user_id)):
        if hr_user_id:
            # Workday updates the enrolment on revocation; SAP's record cannot change
            revoked = c.revoked_at is not None and target == "WORKDAY"
            oracle.hr_records.append(
                HrRecordRow(
                    target,
                    hr_user_id,
                    pair.learner_id,
                    pair.course_id,
                    c.completion_id,
                    "REVOKED" if revoked else "COMPLETED",
                )
            )
    if c.revoked_at is not None and snap.sap_user_id:  # SAP records cannot be updated
        oracle.hr_corrections.append(
            HrCorrectionRow(
                "SAP",
                snap.sap_user_id,
                pair.learner_id,
                pair.course_id,
                c.certificate_id,
                c.completion_id,
            )
        )


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else from_epoch_ms(ms)


def _summary(oracle: Oracle) -> dict[str, Any]:
    return {
        "pairs": len(oracle.progress),
        "status": dict(sorted(Counter(p.status for p in oracle.progress).items())),
        "completions": len(oracle.completions),
        "certificates": len(oracle.certificates),
        "revoked": sum(c.revoked for c in oracle.certificates),
        "expired": sum(c.expired for c in oracle.certificates),
        "notifications": dict(sorted(Counter(n.kind for n in oracle.notifications).items())),
        "hr_records": dict(sorted(Counter(r.target for r in oracle.hr_records).items())),
        "hr_corrections": len(oracle.hr_corrections),
    }
