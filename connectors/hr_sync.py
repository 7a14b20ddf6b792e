"""HR sync agent: certificates issued → one HR record per owed system (Workday, SAP);
certificates revoked → hr.correction.required for SAP, whose records cannot be updated.

The remote calls happen inside the batch transaction, so they must be idempotent on their own:
the audit row (locked) says whether this payload is already recorded, and the journal says
whether an earlier write may have landed — then we ask the HR system before writing again.
That covers timeouts after the remote committed and a worker killed before our commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from connectors import audit
from connectors.audit import AuditKey, Journal
from connectors.config import HrSettings
from connectors.http import PermanentHrError, TransientHrError, no_empty_strings, retrying
from connectors.sap import RecordOutcome, batches
from connectors.targets import SAP, TARGETS, Target, build_targets, hr_user_id
from learnstream import ids
from learnstream.settings import Settings
from streams.derive import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, derived
from streams.notifications_store import load_snapshots
from streams.rules.orgchart import snapshot_at
from streams.runtime.errors import TransientError
from streams.runtime.records import DeadLetter, Event, Outbound
from streams.validation import validate_event

HR_SYNC_RESULT = "org.learnstream.hr.sync.result.v1"
HR_CORRECTION_REQUIRED = "org.learnstream.hr.correction.required.v1"
RESULT_TOPIC = "hr.sync.result"
CORRECTION_TOPIC = "hr.correction.required"
DeadLetterSink = Callable[[list[DeadLetter]], None]
WriteHook = Callable[[str, list["Item"]], None]


@dataclass
class Item:
    """One owed HR record in this batch."""

    event: Event
    target: str
    key: AuditKey
    hr_user_id: str
    payload: dict[str, Any]
    digest: str
    uncertain: bool  # an earlier write may have landed: ask before writing
    outcome: RecordOutcome | None = None


class HrSyncHandler:
    consumer = "hr_sync"

    def __init__(
        self,
        settings: HrSettings,
        *,
        targets: dict[str, Target] | None = None,
        dead_letters: DeadLetterSink | None = None,
        journal: Journal | None = None,
        after_remote_write: WriteHook | None = None,
        org_ready: Callable[[psycopg.Connection], bool] | None = None,
    ) -> None:
        # The org chart is written by the notifications agent from org.employment; a learner
        # without any snapshot yet may simply not have been applied. Wait rather than skip.
        self.org_ready = org_ready or (lambda _conn: True)
        self.settings = settings
        self.targets = build_targets(settings) if targets is None else targets
        self.dead_letters = dead_letters
        self.journal = journal or Journal()
        self.after_remote_write = after_remote_write  # tests: crash between remote and commit

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        out: list[Outbound] = []
        items: dict[AuditKey, Item] = {}
        for event in events:
            if event.name == CERTIFICATE_ISSUED:
                out += self._collect(conn, event, items)
            elif event.name == CERTIFICATE_REVOKED:
                out += self._correction(conn, event)
        for name, target in self.targets.items():
            self._sync(conn, target, [i for i in items.values() if i.target == name])
        letters: dict[str, DeadLetter] = {}
        for item in items.values():
            outcome = item.outcome
            assert outcome is not None  # _sync resolves every item or raises
            attempts = audit.record(
                conn,
                item.key,
                status=outcome.status,
                hr_user_id=item.hr_user_id,
                payload=item.payload,
                digest=item.digest,
                error=outcome.error,
                remote_ref=outcome.remote_ref,
            )
            out.append(_result(item.event, item.key, outcome, attempts, item.digest))
            if outcome.status == audit.FAILED:
                error = PermanentHrError(item.target, outcome.error or "")
                letters.setdefault(item.event.event_id, DeadLetter(item.event.source, error))
        if letters and self.dead_letters is not None:
            self.dead_letters(list(letters.values()))
        return out

    # --- issued: what is owed -------------------------------------------------------------
    def _collect(
        self, conn: psycopg.Connection, event: Event, items: dict[AuditKey, Item]
    ) -> list[Outbound]:
        r = event.record
        learner, course, at = r["learner_id"], r["course_id"], r["issued_at"]
        completion_id = ids.completion_id(event.tenant_id, learner, course, r["attempt"])
        snapshot = snapshot_at(load_snapshots(conn, learner), ids.epoch_ms(at))
        if snapshot is None and not self.org_ready(conn):
            raise TransientError(f"org chart of {learner} not applied yet: retrying the batch")
        skipped: list[Outbound] = []
        for name in TARGETS:
            key = AuditKey(name, learner, course, completion_id)
            user = hr_user_id(name, snapshot)
            target = self.targets.get(name)
            if user is None or target is None:
                if user is not None or target is not None:  # owed-but-disabled, or unmapped
                    reason = "TARGET_DISABLED" if target is None else "NOT_MAPPED"
                    skipped.append(_result(event, key, RecordOutcome("SKIPPED", None, reason)))
                continue
            if key in items:
                continue  # the same completion twice in one batch: one record
            payload = target.payload(user, course, completion_id, at, float(r["score"]))
            digest = audit.payload_hash(payload)
            row = audit.lock(conn, key, str(r["certificate_id"]), user, payload, digest)
            if row.status in audit.RECORDED and row.payload_hash == digest:
                continue  # recorded before: a redelivery or a replay
            item = Item(event, name, key, user, payload, digest, uncertain=False)
            if row.status not in audit.RECORDED:
                item.uncertain = self.journal.maybe_applied(conn, key, digest)
            try:
                no_empty_strings(payload)
            except PermanentHrError as exc:
                item.outcome = RecordOutcome(audit.FAILED, None, str(exc))
            items[key] = item
        return skipped

    # --- sending --------------------------------------------------------------------------
    def _sync(self, conn: psycopg.Connection, target: Target, items: list[Item]) -> None:
        pending = [i for i in items if i.outcome is None]
        if not pending:
            return
        for attempt in retrying(self.settings):
            with attempt:
                self._reconcile(target, pending)
                todo = [i for i in pending if i.outcome is None]
                for chunk in batches(todo, target.batch_size):
                    self._write(conn, target, chunk)

    @staticmethod
    def _reconcile(target: Target, items: list[Item]) -> None:
        """Before re-sending anything that may have landed, ask the HR system."""
        for item in items:
            if item.outcome is None and item.uncertain:
                found = target.find(item.payload)
                if found is not None:
                    item.outcome = found
                item.uncertain = False  # absent now, so a write is safe

    def _write(self, conn: psycopg.Connection, target: Target, chunk: list[Item]) -> None:
        attempt_ids = self.journal.begin(conn, [(i.key, i.digest) for i in chunk])
        try:
            outcomes = target.send([i.payload for i in chunk])
        except TransientHrError as exc:
            journaled = "UNCERTAIN" if exc.uncertain else "NOT_APPLIED"
            self.journal.finish(conn, attempt_ids, journaled, str(exc))
            for item in chunk:
                item.uncertain = item.uncertain or exc.uncertain
            raise
        except PermanentHrError as exc:
            self.journal.finish(conn, attempt_ids, "REJECTED", str(exc))
            for item in chunk:
                item.outcome = RecordOutcome(audit.FAILED, None, str(exc))
            return
        for attempt_id, item, outcome in zip(attempt_ids, chunk, outcomes, strict=True):
            done = "REJECTED" if outcome.status == audit.FAILED else "OK"
            self.journal.finish(conn, [attempt_id], done, outcome.error)
            item.outcome = outcome
        if self.after_remote_write is not None:
            self.after_remote_write(target.name, chunk)

    # --- revoked: SAP cannot update, an administrator must --------------------------------
    def _correction(self, conn: psycopg.Connection, event: Event) -> list[Outbound]:
        r = event.record
        row = conn.execute(
            "SELECT remote_ref FROM hr_sync_audit WHERE target = %s AND certificate_id = %s",
            (SAP, r["certificate_id"]),
        ).fetchone()
        if row is None and not self._owed_to_sap(conn, r):
            return []
        return [
            derived(
                CORRECTION_TOPIC,
                HR_CORRECTION_REQUIRED,
                r["learner_id"],
                tenant_id=event.tenant_id,
                cause=f"{event.event_id}:{SAP}",
                at_ms=ids.epoch_ms(r["revoked_at"]),
                fields={
                    "target": SAP,
                    "learner_id": r["learner_id"],
                    "course_id": r["course_id"],
                    "certificate_id": str(r["certificate_id"]),
                    "reason": "CERTIFICATE_REVOKED",
                    "remote_ref": None if row is None else row[0],
                },
            )
        ]

    @staticmethod
    def _owed_to_sap(conn: psycopg.Connection, r: dict[str, Any]) -> bool:
        """Owed even if never synced (SAP disabled then): the rule is about employment."""
        issued = conn.execute(
            "SELECT issued_at FROM certificates WHERE certificate_id = %s", (r["certificate_id"],)
        ).fetchone()
        if issued is None:
            return False
        snapshot = snapshot_at(load_snapshots(conn, r["learner_id"]), ids.epoch_ms(issued[0]))
        return hr_user_id(SAP, snapshot) is not None


def _result(
    event: Event, key: AuditKey, outcome: RecordOutcome, attempts: int = 0, digest: str = ""
) -> Outbound:
    # the outcome is part of the cause: a FAILED result later retried to SENT is a new fact
    cause = f"{event.event_id}:{key.target}:{outcome.status}:{digest}"
    return derived(
        RESULT_TOPIC,
        HR_SYNC_RESULT,
        key.learner_id,
        tenant_id=event.tenant_id,
        cause=cause,
        at_ms=ids.epoch_ms(event.occurred_at),
        correlation_id=key.completion_id,
        fields={
            "target": key.target,
            "learner_id": key.learner_id,
            "course_id": key.course_id,
            "completion_id": key.completion_id,
            "status": outcome.status,
            "attempts": attempts,
            "error": outcome.error,
            "remote_ref": outcome.remote_ref,
            "payload_hash": digest,
        },
    )


def build_handler(settings: Settings, hr: HrSettings | None = None) -> HrSyncHandler:
    from learnstream.topology import load_topology
    from streams.runtime.dead_letters import DeadLetterPublisher

    dlq = load_topology(settings.topology_file).agents["hr_sync"].dlq
    publisher: list[DeadLetterPublisher] = []

    def dead_letters(letters: list[DeadLetter]) -> None:
        if not publisher:  # a Kafka producer only once something must be dead-lettered
            publisher.append(DeadLetterPublisher(settings, dlq))
        publisher[0].publish(letters)

    def org_ready(conn: psycopg.Connection) -> bool:
        from streams.progress_store import caught_up
        from streams.verify import end_offsets

        topic = settings.topic("org.employment")
        ends = {p: end for (_, p), end in end_offsets(settings, [topic]).items()}
        return caught_up(conn, "notifications", topic, ends)

    return HrSyncHandler(hr or HrSettings(), dead_letters=dead_letters, org_ready=org_ready)
