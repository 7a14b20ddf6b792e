"""The two HR systems behind one small interface the handler drives: map, build, send, find."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import redis

from connectors import sap, workday
from connectors.sap import RecordOutcome, SapClient
from connectors.shared_limit import SharedRateLimiter, limit_key
from connectors.workday import WorkdayClient
from learnstream.sections import HrSettings
from streams.orgchart import Snapshot

SAP, WORKDAY = "SAP", "WORKDAY"
TARGETS = (WORKDAY, SAP)


def hr_user_id(target: str, snapshot: Snapshot | None) -> str | None:
    """The learner's id in `target` per docs/domain-rules.md: only an ACTIVE employment
    snapshot at completion time owes an HR record."""
    if snapshot is None or snapshot.employment_status != "ACTIVE":
        return None
    return snapshot.sap_user_id if target == SAP else snapshot.hr_worker_id


class Target(Protocol):
    name: str
    batch_size: int

    def payload(
        self, user: str, course: str, completion_id: str, at: datetime, score: float
    ) -> dict[str, Any]: ...

    def send(self, payloads: list[dict[str, Any]]) -> list[RecordOutcome]: ...

    def find(self, payload: dict[str, Any]) -> RecordOutcome | None: ...


class SapTarget:
    name = SAP

    def __init__(self, settings: HrSettings, client: SapClient | None = None) -> None:
        self.settings = settings
        self.client = client or SapClient(settings)
        self.batch_size = settings.sap_batch_size

    def payload(
        self, user: str, course: str, completion_id: str, at: datetime, score: float
    ) -> dict[str, Any]:
        del completion_id  # OCN events have no field for it: SAP matches on user/course/time
        return sap.build_payload(self.settings, user, course, at, score)

    def send(self, payloads: list[dict[str, Any]]) -> list[RecordOutcome]:
        return self.client.post_events(payloads)

    def find(self, payload: dict[str, Any]) -> RecordOutcome | None:
        return self.client.find(payload)


class WorkdayTarget:
    name = WORKDAY
    batch_size = 1  # one Put_Learning_Enrollment per request

    def __init__(self, settings: HrSettings, client: WorkdayClient | None = None) -> None:
        self.client = client or WorkdayClient(settings)

    def payload(
        self, user: str, course: str, completion_id: str, at: datetime, score: float
    ) -> dict[str, Any]:
        return workday.build_payload(user, course, completion_id, at, score)

    def send(self, payloads: list[dict[str, Any]]) -> list[RecordOutcome]:
        return [self.client.put_enrollment(payload) for payload in payloads]

    def find(self, payload: dict[str, Any]) -> RecordOutcome | None:
        return self.client.find(payload)


def build_targets(
    settings: HrSettings, shared: redis.Redis[bytes] | None = None
) -> dict[str, Target]:
    """Only the configured systems; a target without a base URL is disabled. With `shared`,
    each target's rate limit is one window for every worker process (the HR system counts
    calls per tenant); without it, per process."""
    s = settings
    targets: dict[str, Target] = {}
    if s.workday_enabled:
        limiter = None
        if shared is not None:
            key = limit_key(WORKDAY, s.workday_base_url, s.workday_tenant, s.workday_username)
            limiter = SharedRateLimiter.per_second(shared, key, s.workday_requests_per_second)
        targets[WORKDAY] = WorkdayTarget(s, WorkdayClient(s, limiter=limiter))
    if s.sap_enabled:
        limiter = None
        if shared is not None:
            key = limit_key(SAP, s.sap_base_url, s.sap_company_id, s.sap_client_id)
            limiter = SharedRateLimiter(shared, key, s.sap_calls_per_minute, 60.0)
        targets[SAP] = SapTarget(s, SapClient(s, limiter=limiter))
    return targets
