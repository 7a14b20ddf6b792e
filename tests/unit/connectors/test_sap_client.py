"""SAP pure parts and client rules, with the network replaced by httpx.MockTransport."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors.audit import payload_hash
from connectors.http import PermanentHrError, Throttled, UncertainOutcome
from connectors.sap import EVENTS_PATH, TOKEN_PATH, SapClient, batches, build_payload, grade
from learnstream.sections import HrSettings

AT = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
SETTINGS = HrSettings(
    sap_base_url="http://sap.test",
    sap_client_id="cid",
    sap_client_secret=SecretStr("sec"),
    sap_company_id="ACME",
    sap_user_id="sfadmin",
    sap_provider_id="LS",
    sap_total_hours=2.5,
    sap_credit_hours=1.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(handler: httpx.MockTransport, clock: Clock | None = None) -> SapClient:
    http = httpx.Client(base_url="http://sap.test", transport=handler)
    return SapClient(SETTINGS, http=http, clock=clock or Clock())


def test_payload_has_exactly_the_ocn_fields_with_their_types() -> None:
    payload = build_payload(SETTINGS, "u1", "c1", AT, 0.876)
    assert payload == {
        "userID": "u1",
        "courseID": "c1",
        "providerID": "LS",
        "courseCompleted": True,
        "completedTimestamp": 1741609800000,
        "grade": "87.6",
        "totalHours": 2.5,
        "creditHours": 1.0,
    }
    assert grade(1.0) == "100.0"


def test_batches_never_exceed_ten_records() -> None:
    chunks = batches(list(range(23)))
    assert [len(c) for c in chunks] == [10, 10, 3]
    assert [x for c in chunks for x in c] == list(range(23))
    assert batches([], 10) == []
    with pytest.raises(ValueError):
        batches([1], 11)


def test_payload_hash_is_canonical_and_stable() -> None:
    payload = build_payload(SETTINGS, "u1", "c1", AT, 0.5)
    reordered = dict(reversed(list(payload.items())))
    assert payload_hash(payload) == payload_hash(reordered)
    # pinned: if the canonical form ever changed, every completion would be re-sent
    assert (
        payload_hash(payload)
        == hashlib.sha256(
            b'{"completedTimestamp":1741609800000,"courseCompleted":true,"courseID":"c1",'
            b'"creditHours":1.0,"grade":"50.0","providerID":"LS","totalHours":2.5,"userID":"u1"}'
        ).hexdigest()
    )
    assert (
        payload_hash(payload) == "98bc118eb53afb57b8ea32bf940dd8d3bc344bce893202031d68f9478312f8ba"
    )
    assert payload_hash(payload) != payload_hash({**payload, "grade": "51.0"})


def test_empty_strings_are_rejected_before_any_request() -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    sap = client(httpx.MockTransport(no_network))
    with pytest.raises(PermanentHrError) as caught:
        sap.post_events([build_payload(SETTINGS, " ", "c1", AT, 0.5)])
    assert caught.value.code == "EMPTY_FIELD"
    assert "userID" in str(caught.value)
    with pytest.raises(ValueError):
        sap.post_events([build_payload(SETTINGS, "u", "c", AT, 0.5)] * 11)


def test_token_request_carries_scope_and_is_cached_until_expiry() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == TOKEN_PATH:
            n = sum(r.url.path == TOKEN_PATH for r in seen)
            return httpx.Response(200, json={"access_token": f"t{n}", "expires_in": 600})
        return httpx.Response(200, json={"value": [{"success": True, "eventID": "e"}]})

    clock = Clock()
    sap = client(httpx.MockTransport(handler), clock)
    payload = build_payload(SETTINGS, "u1", "c1", AT, 0.5)
    sap.post_events([payload])
    sap.post_events([payload])
    token_calls = [r for r in seen if r.url.path == TOKEN_PATH]
    assert len(token_calls) == 1
    body = json.loads(token_calls[0].content)
    assert body == {
        "grant_type": "client_credentials",
        "scope": {
            "userId": "sfadmin",
            "companyId": "ACME",
            "userType": "admin",
            "resourceType": "learning_public_api",
        },
    }
    assert (
        token_calls[0].headers["authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    )
    posts = [r for r in seen if r.url.path == EVENTS_PATH]
    assert {r.headers["authorization"] for r in posts} == {"Bearer t1"}
    clock.now += 600  # past expiry (minus the refresh skew)
    sap.post_events([payload])
    assert [r.headers["authorization"] for r in seen if r.url.path == EVENTS_PATH][-1] == (
        "Bearer t2"
    )


def test_401_refreshes_the_token_once() -> None:
    tokens = iter(["old", "new"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 1800})
        if request.headers["authorization"] == "Bearer old":
            return httpx.Response(401, json={"error": {"code": "UNAUTHORIZED"}})
        return httpx.Response(
            200, json={"value": [{"success": False, "errorCode": "ALREADY_RECORDED"}]}
        )

    outcome = client(httpx.MockTransport(handler)).post_events(
        [build_payload(SETTINGS, "u1", "c1", AT, 0.5)]
    )
    assert [o.status for o in outcome] == ["ALREADY_RECORDED"]  # a duplicate is a success


def test_throttling_and_server_errors_are_typed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "t", "expires_in": 1800})
        if request.method == "POST":
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(502)

    sap = client(httpx.MockTransport(handler))
    with pytest.raises(Throttled) as throttled:
        sap.post_events([build_payload(SETTINGS, "u1", "c1", AT, 0.5)])
    assert throttled.value.retry_after == 7.0
    assert not throttled.value.uncertain
    with pytest.raises(UncertainOutcome):
        sap.find_events(userID="u1")


def test_whole_call_rejection_is_permanent_with_the_odata_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "t", "expires_in": 1800})
        return httpx.Response(400, json={"error": {"code": "EMPTY_STRING", "message": "grade"}})

    with pytest.raises(PermanentHrError) as caught:
        client(httpx.MockTransport(handler)).post_events(
            [build_payload(SETTINGS, "u1", "c1", AT, 0.5)]
        )
    assert caught.value.code == "EMPTY_STRING"
