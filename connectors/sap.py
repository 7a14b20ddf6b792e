"""SAP SuccessFactors Learning client: OAuth2 client credentials and OCN learning events.

One method is one HTTP exchange (plus a single token refresh on 401); retries and the
reconcile-before-resend rule live in the handler, which knows what was already attempted.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import httpx

from connectors.http import PermanentHrError, RateLimiter, call, no_empty_strings
from connectors.shared_limit import Limiter
from learnstream import ids
from learnstream.sections import HrSettings

TOKEN_PATH = "/learning/oauth-api/rest/v1/token"
EVENTS_PATH = "/learning/odatav4/public/admin/learningevent-service/v1/OCNLearningEvents"
MAX_RECORDS_PER_CALL = 10
TOKEN_SKEW_S = 30.0  # refresh a little early: a token expiring in flight is a wasted call
T = TypeVar("T")


@dataclass(frozen=True)
class RecordOutcome:
    status: str  # SENT | ALREADY_RECORDED | FAILED
    remote_ref: str | None = None
    error: str | None = None


def grade(score: float) -> str:
    """SAP grades are company-defined strings; ours is the percentage, one decimal."""
    return f"{score * 100:.1f}"


def build_payload(
    settings: HrSettings, user_id: str, course_id: str, completed_at: datetime, score: float
) -> dict[str, Any]:
    return {
        "userID": user_id,
        "courseID": course_id,
        "providerID": settings.sap_provider_id,
        "courseCompleted": True,
        "completedTimestamp": ids.epoch_ms(completed_at),  # Unix epoch, milliseconds
        "grade": grade(score),
        "totalHours": settings.sap_total_hours,
        "creditHours": settings.sap_credit_hours,
    }


def batches(items: Sequence[T], size: int = MAX_RECORDS_PER_CALL) -> list[list[T]]:
    if not 1 <= size <= MAX_RECORDS_PER_CALL:
        raise ValueError(f"SAP accepts 1..{MAX_RECORDS_PER_CALL} records per call, not {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def record_key(record: dict[str, Any]) -> tuple[str, str, str, int]:
    """What makes two OCN events the same completion (SAP has no external id field)."""
    return (
        str(record["providerID"]),
        str(record["userID"]),
        str(record["courseID"]),
        int(record["completedTimestamp"]),
    )


class SapClient:
    def __init__(
        self,
        settings: HrSettings,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        limiter: Limiter | None = None,
    ) -> None:
        if not settings.sap_base_url:
            raise ValueError("LEARNSTREAM_HR_SAP_BASE_URL is not set")
        self.settings = settings
        self.http = http or httpx.Client(
            base_url=settings.sap_base_url, timeout=settings.http_timeout_s
        )
        self.clock = clock
        # in-process by default; the worker passes the cluster-wide one (connectors.shared_limit)
        self.limiter = limiter or RateLimiter(settings.sap_calls_per_minute, 60.0, clock=clock)
        self._token: str | None = None
        self._token_expires = 0.0
        self.calls = 0  # API calls made (the token endpoint excluded), for tests and metrics

    # --- OAuth2 ---------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is not None and self.clock() < self._token_expires:
            return self._token
        s = self.settings
        basic = f"{s.sap_client_id}:{s.sap_client_secret.get_secret_value()}"
        body = {
            "grant_type": "client_credentials",
            "scope": {
                "userId": s.sap_user_id,
                "companyId": s.sap_company_id,
                "userType": s.sap_user_type,
                "resourceType": "learning_public_api",
            },
        }
        headers = {"Authorization": "Basic " + base64.b64encode(basic.encode()).decode()}
        response = call(lambda: self.http.post(TOKEN_PATH, json=body, headers=headers))
        if response.status_code != 200:
            raise PermanentHrError("AUTH_FAILED", f"token endpoint answered {response.status_code}")
        data = response.json()
        self._token = str(data["access_token"])
        lifetime = float(data.get("expires_in", 1800))
        self._token_expires = self.clock() + max(lifetime - TOKEN_SKEW_S, lifetime / 2)
        return self._token

    def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A 401 usually means the token was revoked or expired early: refresh once."""
        for fresh in (False, True):
            if fresh:
                self._token = None
            headers = {"Authorization": f"Bearer {self.token()}"}
            self.limiter.acquire()
            self.calls += 1
            response = call(partial(self.http.request, method, path, headers=headers, **kwargs))
            if response.status_code != 401:
                return response
        raise PermanentHrError("UNAUTHORIZED", "bearer token refused after a refresh")

    # --- OCN learning events --------------------------------------------------------------
    def post_events(self, records: list[dict[str, Any]]) -> list[RecordOutcome]:
        """One call with ≤10 records; per-record outcomes in input order."""
        if not 1 <= len(records) <= MAX_RECORDS_PER_CALL:
            raise ValueError(f"{len(records)} records: SAP takes 1..{MAX_RECORDS_PER_CALL}")
        for record in records:
            no_empty_strings(record)
        body = {"ocnLearningEvents": records}
        response = self._api("POST", EVENTS_PATH, json=body)
        if response.status_code >= 400:
            raise PermanentHrError(*_odata_error(response))
        results = response.json().get("value", [])
        if len(results) != len(records):
            raise PermanentHrError("BAD_RESPONSE", f"{len(results)} results for {len(records)}")
        return [_outcome(result) for result in results]

    def find_events(self, **equals: str) -> list[dict[str, Any]]:
        """OCN events of our provider matching `field eq 'value'` filters, all pages."""
        clauses = {"providerID": self.settings.sap_provider_id, **equals}
        query = " and ".join(f"{k} eq '{_quote(v)}'" for k, v in clauses.items())
        found: list[dict[str, Any]] = []
        page = 100
        while True:
            params = {"$filter": query, "$top": str(page), "$skip": str(len(found))}
            response = self._api("GET", EVENTS_PATH, params=params)
            if response.status_code >= 400:
                raise PermanentHrError(*_odata_error(response))
            values = list(response.json().get("value", []))
            found += values
            if len(values) < page:
                return found

    def find(self, record: dict[str, Any]) -> RecordOutcome | None:
        """The remote copy of `record`, if SAP already has it (reconcile before re-send)."""
        matches = self.find_events(userID=record["userID"], courseID=record["courseID"])
        for match in matches:
            if record_key(match) == record_key(record):
                return RecordOutcome("ALREADY_RECORDED", _ref(match))
        return None


def _quote(value: str) -> str:
    return value.replace("'", "''")  # OData string literal escaping


def _ref(result: dict[str, Any]) -> str | None:
    ref = result.get("eventID")
    return None if ref is None else str(ref)


def _outcome(result: dict[str, Any]) -> RecordOutcome:
    if result.get("success"):
        return RecordOutcome("SENT", _ref(result))
    code = str(result.get("errorCode") or "REJECTED")
    if code == "ALREADY_RECORDED":  # a duplicate is the success we wanted
        return RecordOutcome("ALREADY_RECORDED", _ref(result))
    return RecordOutcome("FAILED", None, f"{code}: {result.get('errorMessage') or ''}".strip())


def _odata_error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
        return str(error.get("code") or f"HTTP_{response.status_code}"), str(
            error.get("message") or ""
        )
    except ValueError:
        return f"HTTP_{response.status_code}", response.text[:200]
