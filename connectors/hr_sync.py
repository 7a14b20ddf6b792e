"""HR sync agent: certificates issued → one HR record per owed system (Workday, SAP);
certificates revoked → the Workday enrolment updated in place (ADR 0011), and
hr.correction.required where only an administrator can fix the record (SAP, and a Workday
tenant that cannot be updated). See connectors/revocation.py.

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
import redis

from connectors import audit, revocation
from connectors.audit import AuditKey, Journal
from connectors.http import PermanentHrError, TransientHrError, no_empty_strings, retrying
from connectors.revocation import CORRECTED
from connectors.sap import RecordOutcome, batches
from connectors.targets import TARGETS, WORKDAY, Target, build_targets, hr_user_id
from learnstream import ids
from learnstream.errors import TransientError
from learnstream.names import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, HR_SYNC_RESULT
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.records import DeadLetter, Event, Outbound
from learnstream.sections import HrSettings
from learnstream.settings import Settings
from streams.derive import derived
from streams.orgchart import Snapshot, load_org, snapshot_at
from streams.validation import validate_event

COMPLETION, REVOCATION = "COMPLETION", "REVOCATION"  # hr.sync.result `change`
__all__ = ["HrSyncHandler", "build_handler"]
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
    change: str = COMPLETION
    remote_ref: str | None = None  # known record, for a correction if an update is refused


class HrSyncHandler(BaseHandler):
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
        shared_limits: redis.Redis[bytes] | None = None,
    ) -> None:
        # The org chart is applied by its owner (topology.yaml); a learner without any snapshot
        # yet may simply not have been applied: the runtime says (TablesReady). Wait, not skip.
        self.org_ready = org_ready or (lambda _conn: True)
        self.settings = settings
        self.targets = build_targets(settings, shared_limits) if targets is None else targets
        self.dead_letters = dead_letters
        self.journal = journal or Journal()
        self.after_remote_write = after_remote_write  # tests: crash between remote and commit

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        out: list[Outbound] = []
        letters: dict[str, DeadLetter] = {}
        items: dict[AuditKey, Item] = {}
        # A certificate issued again in one batch was corrected (a late fact, docs/contract):
        # only its last issue is owed.
        issued = {e.record["certificate_id"]: e for e in events if e.name == CERTIFICATE_ISSUED}
        org = load_org(conn, {e.record["learner_id"] for e in issued.values()})  # one query
        for event in issued.values():
            out += self._collect(conn, event, items, org.get(event.record["learner_id"], []))
        out += self._send(conn, items, letters)
        # revocations second: a certificate issued and revoked in one batch is first recorded,
        # then updated, exactly as if the two had come in two batches
        items = {}
        for event in events:
            if event.name == CERTIFICATE_REVOKED:
                out += self._revoke(conn, event, items)
        out += self._send(conn, items, letters)
        if letters and self.dead_letters is not None:
            self.dead_letters(list(letters.values()))
        return out

    def _send(
        self, conn: psycopg.Connection, items: dict[AuditKey, Item], letters: dict[str, DeadLetter]
    ) -> list[Outbound]:
        out: list[Outbound] = []
        for name, target in self.targets.items():
            self._sync(conn, target, [i for i in items.values() if i.target == name])
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
            out.append(_result(item.event, item.key, outcome, attempts, item.digest, item.change))
            if outcome.status == audit.FAILED:
                error = PermanentHrError(item.target, outcome.error or "")
                letters.setdefault(item.event.event_id, DeadLetter(item.event.source, error))
                if item.change == REVOCATION:  # Workday refused the update: a human must
                    out.append(revocation.correction(item.event, item.target, item.remote_ref))
        return out

    # --- issued: what is owed -------------------------------------------------------------
    def _collect(
        self,
        conn: psycopg.Connection,
        event: Event,
        items: dict[AuditKey, Item],
        org: list[Snapshot],
    ) -> list[Outbound]:
        r = event.record
        learner, course, at = r["learner_id"], r["course_id"], r["issued_at"]
        completion_id = ids.completion_id(event.tenant_id, learner, course, r["attempt"])
        snapshot = snapshot_at(org, ids.epoch_ms(at))
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
            if revocation.superseded(name, row):
                continue  # a redelivered issue after its revocation: keep the revoked state
            if row.status in audit.RECORDED and not self._updatable(name, event.tenant_id):
                # a corrected certificate where the record cannot be updated (SAP): re-sending
                # would record the completion twice, so an administrator corrects it
                skipped.append(revocation.correction(event, name, row.remote_ref, CORRECTED))
                continue
            item = Item(event, name, key, user, payload, digest, uncertain=False)
            if row.status not in audit.RECORDED:
                item.uncertain = self.journal.maybe_applied(conn, key, digest)
            try:
                no_empty_strings(payload)
            except PermanentHrError as exc:
                item.outcome = RecordOutcome(audit.FAILED, None, str(exc))
            items[key] = item
        return skipped

    def _updatable(self, target: str, tenant_id: str) -> bool:
        return target == WORKDAY and self.settings.workday_can_update(tenant_id)

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

    # --- revoked: update Workday in place; SAP cannot update, an administrator must ------
    def _revoke(
        self, conn: psycopg.Connection, event: Event, items: dict[AuditKey, Item]
    ) -> list[Outbound]:
        owed = revocation.workday_revocation(conn, str(event.record["certificate_id"]))
        updatable = WORKDAY in self.targets and self.settings.workday_can_update(event.tenant_id)
        out = revocation.corrections(conn, event, owed, updatable)
        if owed is None or owed.done or not updatable or owed.key in items:
            return out
        item = Item(event, WORKDAY, owed.key, owed.hr_user_id, owed.payload, owed.digest, False)
        item.change, item.remote_ref = REVOCATION, owed.remote_ref
        # the audit row says Completed; an earlier revocation attempt may have landed anyway
        item.uncertain = self.journal.maybe_applied(conn, owed.key, owed.digest)
        items[owed.key] = item
        return out


def _result(
    event: Event,
    key: AuditKey,
    outcome: RecordOutcome,
    attempts: int = 0,
    digest: str = "",
    change: str = COMPLETION,
) -> Outbound:
    # the outcome is part of the cause: a FAILED result later retried to SENT is a new fact
    cause = f"{event.event_id}:{key.target}:{outcome.status}:{digest}"
    return derived(
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
            "change": change,
        },
    )


def build_handler(settings: Settings, hr: HrSettings | None = None) -> HrSyncHandler:
    from learnstream.runtime.dead_letters import DeadLetterPublisher
    from learnstream.runtime.table_barrier import TablesReady
    from learnstream.topology import load_topology

    topology = load_topology(settings.topology_file)
    dlq = topology.agents["hr_sync"].dlq
    publisher: list[DeadLetterPublisher] = []

    def dead_letters(letters: list[DeadLetter]) -> None:
        if not publisher:  # a Kafka producer only once something must be dead-lettered
            publisher.append(DeadLetterPublisher(settings, dlq))
        publisher[0].publish(letters)

    # every worker process shares one call window per HR tenant (connectors.shared_limit)
    shared = redis.Redis.from_url(settings.redis_address, socket_timeout=5)
    return HrSyncHandler(
        hr or settings.hr,
        dead_letters=dead_letters,
        org_ready=TablesReady(settings, topology, "hr_sync"),  # the org chart, by its owner
        shared_limits=shared,
    )
