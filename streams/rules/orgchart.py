"""The org chart as plain data: who is a learner's manager at a given event time."""

from __future__ import annotations

from dataclasses import dataclass


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
