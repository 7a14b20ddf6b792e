"""Certification agent: completions → certificates issued exactly once; un-completions →
revocations. Certificate ids are UUIDv5 of (tenant, learner, course, attempt)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import redis

from learnstream import ids
from learnstream.clock import DAY_MS
from learnstream.names import (
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    COURSE_COMPLETED,
    PROGRESS_CHANGED,
    RECERTIFICATION_REQUIRED,
)
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.records import Event, Outbound
from learnstream.settings import Settings
from streams.derive import derived
from streams.validation import validate_event
from streams.views.leaderboard import refresh_members

NO_ASSESSMENT_SCORE = 1.0  # a course without assessments certifies completion, not a score


class CertificationHandler(BaseHandler):
    consumer = "certification"

    def __init__(
        self, client: redis.Redis[str] | None = None, prefix: str = "learnstream:"
    ) -> None:
        self.client = client  # course leaderboards (sorted sets); None in pure-Postgres tests
        self.prefix = prefix

    def validate(self, event: Event) -> None:
        validate_event(event.name, event.record)

    @staticmethod
    def relevant(event: Event) -> bool:
        """Completions, un-completions and recertifications; snapshots change no certificate."""
        return event.name in (COURSE_COMPLETED, RECERTIFICATION_REQUIRED) or (
            event.name == PROGRESS_CHANGED and event.record.get("transition") == "uncompleted"
        )

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        out: list[Outbound] = []
        completions: list[Event] = []  # a run of completions is issued in one statement
        for event in events:
            if event.name == COURSE_COMPLETED:
                completions.append(event)
                continue
            out += self._issue(conn, completions)  # in order: issue before a later revocation
            completions = []
            if event.name == RECERTIFICATION_REQUIRED:
                self._bring_expiry_forward(conn, event)
            elif self.relevant(event):
                out += self._revoke(conn, event)
        return out + self._issue(conn, completions)

    def materialize(self, conn: psycopg.Connection, events: list[Event]) -> None:
        """Rewrite the leaderboard members the batch changed, before COMMIT
        (streams/views/dashboards.py): a read after the commit never sees the old score."""
        if self.client is None:
            return
        touched = {(e.record["course_id"], e.record["learner_id"]) for e in events}
        refresh_members(conn, self.client, self.prefix, touched)

    def _issue(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        """Issue a certificate per completion, one statement for a run of completions."""
        if not events:
            return []
        issued = []
        for event in events:
            r = event.record
            learner, course, attempt = r["learner_id"], r["course_id"], r["attempt"]
            issued_ms = ids.epoch_ms(r["completed_at"])
            if r["envelope"].get("minor_version", 0) >= 1:
                # the progress stage folded it with the catalog of that time (null: no expiry)
                expires_ms = None if r["expires_at"] is None else ids.epoch_ms(r["expires_at"])
            else:  # written before course.completed said (minor version 0)
                validity = self._validity_days(conn, course, r.get("course_version"))
                expires_ms = None if validity is None else issued_ms + validity * DAY_MS
            score = r["score"] if r["score"] is not None else NO_ASSESSMENT_SCORE
            certificate_id = ids.certificate_id(event.tenant_id, learner, course, attempt)
            issued.append((event, certificate_id, issued_ms, expires_ms, score))
        # One row per certificate (an upsert may touch a row once per statement): the last
        # completion of a run wins, as a correction comes after what it corrects.
        issued = list({row[1]: row for row in issued}.values())
        rows = conn.execute(
            "INSERT INTO certificates (certificate_id, learner_id, course_id, tenant_id, attempt, "
            "score, issued_at, expires_at) SELECT i, l, c, t, a, s, to_timestamp(at / 1000.0), "
            "to_timestamp(x / 1000.0) FROM jsonb_to_recordset(%s::jsonb) AS u(i uuid, l text, "
            "c text, t text, a int, s double precision, at bigint, x bigint) "
            # A corrected completion (a late fact completed the pair earlier, or with a better
            # score) corrects its certificate unless revoked. Never later in time: a replayed
            # first completion must not undo its correction.
            "ON CONFLICT (certificate_id) DO UPDATE SET issued_at = EXCLUDED.issued_at, "
            "expires_at = EXCLUDED.expires_at, score = EXCLUDED.score "
            "WHERE certificates.revoked_at IS NULL "
            "AND EXCLUDED.issued_at <= certificates.issued_at "
            "AND (certificates.issued_at, certificates.expires_at, certificates.score) "
            "IS DISTINCT FROM (EXCLUDED.issued_at, EXCLUDED.expires_at, EXCLUDED.score) "
            "RETURNING certificate_id::text",
            (
                json.dumps(
                    [
                        {
                            "i": certificate_id,
                            "l": event.record["learner_id"],
                            "c": event.record["course_id"],
                            "t": event.tenant_id,
                            "a": event.record["attempt"],
                            "s": score,
                            "at": issued_ms,
                            "x": expires_ms,
                        }
                        for event, certificate_id, issued_ms, expires_ms, score in issued
                    ]
                ),
            ),
        ).fetchall()
        # issued before with the same values: a replay or a redelivery must not issue twice
        new = {row[0] for row in rows}
        out = []
        for event, certificate_id, issued_ms, expires_ms, score in issued:
            if certificate_id not in new:
                continue
            new.discard(certificate_id)  # one event per certificate, the first that issued it
            r = event.record
            out.append(
                derived(
                    CERTIFICATE_ISSUED,
                    r["learner_id"],
                    tenant_id=event.tenant_id,
                    cause=event.event_id,
                    at_ms=issued_ms,
                    correlation_id=str(r["completion_id"]),
                    fields={
                        "certificate_id": certificate_id,
                        "learner_id": r["learner_id"],
                        "course_id": r["course_id"],
                        "attempt": r["attempt"],
                        "score": score,
                        "issued_at": ids.from_epoch_ms(issued_ms),
                        "expires_at": _ts(expires_ms),
                    },
                )
            )
        return out

    @staticmethod
    def _bring_expiry_forward(conn: psycopg.Connection, event: Event) -> None:
        """The course owner asked holders to re-certify: the certificate stays valid until the
        deadline and is then expired (never revoked). Idempotent: the earlier expiry wins."""
        r = event.record
        conn.execute(
            "UPDATE certificates SET expires_at = LEAST(COALESCE(expires_at, %(at)s), %(at)s) "
            "WHERE certificate_id = %(id)s",
            {"at": r["expires_at"], "id": str(r["certificate_id"])},
        )

    def _revoke(self, conn: psycopg.Connection, event: Event) -> list[Outbound]:
        r = event.record
        learner, course = r["learner_id"], r["course_id"]
        attempt = int(r["uncompleted_attempt"] or 0)
        certificate_id = ids.certificate_id(event.tenant_id, learner, course, attempt)
        reason = r["uncompleted_reason"] or "grade_corrected"
        revoked_ms = ids.epoch_ms(event.occurred_at)
        updated = conn.execute(
            "UPDATE certificates SET revoked_at = %s, revoke_reason = %s "
            "WHERE certificate_id = %s AND revoked_at IS NULL RETURNING certificate_id",
            (ids.from_epoch_ms(revoked_ms), reason, certificate_id),
        ).fetchone()
        if updated is None:
            return []
        return [
            derived(
                CERTIFICATE_REVOKED,
                learner,
                tenant_id=event.tenant_id,
                cause=event.event_id,
                at_ms=revoked_ms,
                fields={
                    "certificate_id": certificate_id,
                    "learner_id": learner,
                    "course_id": course,
                    "reason": reason,
                    "revoked_at": ids.from_epoch_ms(revoked_ms),
                },
            )
        ]

    @staticmethod
    def _validity_days(conn: psycopg.Connection, course: str, version: int | None) -> int | None:
        row = conn.execute(
            "SELECT rules FROM course_versions WHERE course_id = %s AND version = %s",
            (course, version),
        ).fetchone()
        rules: dict[str, Any] = row[0] if row else {}
        value = rules.get("validity_days")
        return None if value is None else int(value)


def _ts(ms: int | None) -> Any:
    return None if ms is None else ids.from_epoch_ms(ms)


def build_handler(settings: Settings) -> CertificationHandler:
    from streams.views.layout import redis_prefix

    client = redis.Redis.from_url(settings.redis_address, decode_responses=True)
    return CertificationHandler(client, redis_prefix(settings))
