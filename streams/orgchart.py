"""The org chart, the domain state two agents share: the notifications agent applies
org.employment here (save_snapshots) and routes causes to the manager in charge; the HR sync
reads the HR ids of the same snapshots. The rules (snapshot_at, manager_at) are pure; the
Postgres reads and writes take one round trip per batch."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from learnstream import ids
from learnstream.runtime.records import Event


@dataclass(frozen=True)
class Snapshot:
    effective_at: int  # ms
    occurred_at: int  # ms, breaks ties between snapshots effective at the same time
    event_id: str
    manager_id: str | None
    employment_status: str
    hr_worker_id: str | None = None
    sap_user_id: str | None = None


def snapshot_at(snapshots: list[Snapshot], at: int) -> Snapshot | None:
    """The snapshot with the greatest effective_at <= at (ties: later event time, then id)."""
    eligible = [s for s in snapshots if s.effective_at <= at]
    if not eligible:
        return None
    return max(eligible, key=lambda s: (s.effective_at, s.occurred_at, s.event_id))


def manager_at(snapshots: list[Snapshot], at: int) -> str | None:
    """A terminated learner has no manager to notify."""
    snapshot = snapshot_at(snapshots, at)
    if snapshot is None or snapshot.employment_status != "ACTIVE":
        return None
    return snapshot.manager_id


def load_snapshots(conn: psycopg.Connection, learner_id: str) -> list[Snapshot]:
    return load_org(conn, {learner_id}).get(learner_id, [])


def load_org(conn: psycopg.Connection, learner_ids: set[str]) -> dict[str, list[Snapshot]]:
    """Every snapshot of the given learners, in one round trip."""
    rows = conn.execute(
        "SELECT learner_id, effective_at, occurred_at, event_id::text, manager_id, "
        "employment_status, hr_worker_id, sap_user_id FROM org_chart WHERE learner_id = ANY(%s)",
        (sorted(learner_ids),),
    ).fetchall()
    org: dict[str, list[Snapshot]] = {}
    for r in rows:
        org.setdefault(r[0], []).append(
            Snapshot(ids.epoch_ms(r[1]), ids.epoch_ms(r[2]), r[3], r[4], r[5], r[6], r[7])
        )
    return org


def save_snapshots(conn: psycopg.Connection, events: list[Event]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO org_chart (learner_id, effective_at, event_id, occurred_at, tenant_id, "
            "manager_id, department, hr_worker_id, sap_user_id, employment_status) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (
                    e.record["learner_id"],
                    e.record["effective_at"],
                    e.event_id,
                    e.occurred_at,
                    e.tenant_id,
                    e.record.get("manager_id"),
                    e.record.get("department"),
                    e.record.get("hr_worker_id"),
                    e.record.get("sap_user_id"),
                    e.record["employment_status"],
                )
                for e in events
            ],
        )
