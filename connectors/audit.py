"""The audit row per (target, learner, course, completion) and the write-ahead journal.

The audit row is locked inside the batch transaction, so two workers never sync the same
completion at once. The journal lives on its own autocommit connection: a row is committed
before every remote write and survives a crash that rolls the batch back, which is how a
redelivery learns that the HR system may already hold the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SENT, ALREADY_RECORDED, FAILED, SKIPPED, PENDING = (
    "SENT",
    "ALREADY_RECORDED",
    "FAILED",
    "SKIPPED",
    "PENDING",
)
RECORDED = (SENT, ALREADY_RECORDED)
# journal outcomes after which the HR system may hold the record
MAYBE_APPLIED = ("PENDING", "UNCERTAIN", "OK")


def payload_hash(payload: dict[str, Any]) -> str:
    """SHA-256 of canonical JSON: key order and whitespace never change the hash."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class AuditKey:
    target: str
    learner_id: str
    course_id: str
    completion_id: str

    def params(self) -> tuple[str, str, str, str]:
        return (self.target, self.learner_id, self.course_id, self.completion_id)


WHERE_KEY = "target = %s AND learner_id = %s AND course_id = %s AND completion_id = %s"


@dataclass(frozen=True)
class AuditRow:
    status: str
    payload_hash: str
    remote_ref: str | None
    payload: dict[str, Any]  # what the HR system holds when status is recorded


def lock(
    conn: psycopg.Connection,
    key: AuditKey,
    certificate_id: str | None,
    hr_user_id: str,
    payload: dict[str, Any],
    digest: str,
) -> AuditRow:
    conn.execute(
        "INSERT INTO hr_sync_audit (target, learner_id, course_id, completion_id, "
        "certificate_id, hr_user_id, status, attempts, payload_hash, payload) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s, %s) ON CONFLICT DO NOTHING",
        (*key.params(), certificate_id, hr_user_id, PENDING, digest, Jsonb(payload)),
    )
    row = conn.execute(
        "SELECT status, payload_hash, remote_ref, payload FROM hr_sync_audit "
        f"WHERE {WHERE_KEY} FOR UPDATE",
        key.params(),
    ).fetchone()
    assert row is not None  # inserted above or already there, and locked by us
    return AuditRow(row[0], row[1], row[2], row[3])


def record(
    conn: psycopg.Connection,
    key: AuditKey,
    *,
    status: str,
    hr_user_id: str,
    payload: dict[str, Any],
    digest: str,
    error: str | None,
    remote_ref: str | None,
) -> int:
    """Store the outcome; attempts come from the journal, so crashed attempts count too."""
    row = conn.execute(
        "UPDATE hr_sync_audit SET status = %s, hr_user_id = %s, payload = %s, "
        "payload_hash = %s, last_error = %s, remote_ref = COALESCE(%s, remote_ref), "
        "attempts = (SELECT count(*) FROM hr_sync_attempts WHERE "
        f"{WHERE_KEY}), last_attempt_at = (SELECT max(started_at) FROM hr_sync_attempts WHERE "
        f"{WHERE_KEY}), updated_at = now() WHERE {WHERE_KEY} RETURNING attempts",
        (
            status,
            hr_user_id,
            Jsonb(payload),
            digest,
            error,
            remote_ref,
            *key.params(),
            *key.params(),
            *key.params(),
        ),
    ).fetchone()
    return int(row[0]) if row else 0


class Journal:
    """Write-ahead log of remote writes, on a connection of its own (autocommit)."""

    def __init__(self, connect: Callable[[], psycopg.Connection] | None = None) -> None:
        self._connect = connect
        self._conn: psycopg.Connection | None = None

    def _side(self, batch: psycopg.Connection) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._connect is not None:
                self._conn = self._connect()
            else:  # same database as the batch, but outside its transaction
                info = batch.info
                self._conn = psycopg.connect(info.dsn, password=info.password, autocommit=True)
        return self._conn

    def begin(
        self, batch: psycopg.Connection, entries: Sequence[tuple[AuditKey, str]]
    ) -> list[int]:
        side = self._side(batch)
        ids: list[int] = []
        for key, digest in entries:
            row = side.execute(
                "INSERT INTO hr_sync_attempts (target, learner_id, course_id, completion_id, "
                "payload_hash, outcome) VALUES (%s, %s, %s, %s, %s, 'PENDING') "
                "RETURNING attempt_id",
                (*key.params(), digest),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
        return ids

    def finish(
        self, batch: psycopg.Connection, attempt_ids: list[int], outcome: str, error: str | None
    ) -> None:
        self._side(batch).execute(
            "UPDATE hr_sync_attempts SET outcome = %s, error = %s, finished_at = now() "
            "WHERE attempt_id = ANY(%s)",
            (outcome, error, attempt_ids),
        )

    @staticmethod
    def maybe_applied(conn: psycopg.Connection, key: AuditKey, digest: str) -> bool:
        """Did an earlier write of this payload perhaps reach the HR system?"""
        row = conn.execute(
            f"SELECT 1 FROM hr_sync_attempts WHERE {WHERE_KEY} AND payload_hash = %s "
            "AND outcome = ANY(%s) LIMIT 1",
            (*key.params(), digest, list(MAYBE_APPLIED)),
        ).fetchone()
        return row is not None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
