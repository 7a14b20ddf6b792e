"""SAP SuccessFactors Learning simulator: the OAuth2 token endpoint and OCN learning events,
with the contract's rules (10 records per call, 100 calls per minute, no empty strings,
known users only, no duplicates) and fault switches. `records` is what SAP now holds.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from connectors.sap import EVENTS_PATH, MAX_RECORDS_PER_CALL, TOKEN_PATH, record_key
from connectors.simulators.common import Faults, Received, Window, delay, running

REQUIRED = ("userID", "courseID", "providerID", "courseCompleted", "completedTimestamp")
FILTER_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")


def odata_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class SapSimulator:
    def __init__(
        self,
        client_id: str = "learnstream",
        client_secret: str = "secret",
        company_id: str = "learnstream",
        known_users: set[str] | None = None,
        token_ttl_s: int = 1800,
        calls_per_minute: int = 100,
    ) -> None:
        self.client_id, self.client_secret, self.company_id = client_id, client_secret, company_id
        self.known_users = known_users  # None: any user exists
        self.token_ttl_s = token_ttl_s
        self.faults = Faults()
        self.window = Window(calls_per_minute, 60.0)
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.tokens_issued = 0
        self.records: list[dict[str, Any]] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.app = self._build()

    # --- state, for tests --------------------------------------------------------------
    def expire_tokens(self) -> None:
        self.tokens.clear()

    def posted(self) -> list[Received]:
        return [r for r in self.received if r.operation == "post_events"]

    def _bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        expiry = self.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def _gate(self, request: Request) -> Response | None:
        """Auth, then throttling, then injected 5xx — the order a gateway applies them."""
        if not self._bearer_ok(request):
            return odata_error(401, "UNAUTHORIZED", "missing, invalid or expired token")
        wait = self.window.admit()
        if self.faults.take("throttle_next_n") or wait is not None:
            retry = max(self.faults.retry_after_s, int(wait or 0) + (1 if wait else 0))
            headers = {"Retry-After": str(retry)}
            return JSONResponse({"error": {"code": "TOO_MANY_REQUESTS"}}, 429, headers=headers)
        if self.faults.take("fail_5xx_next_n"):
            return Response("upstream unavailable", status_code=self.faults.status_5xx)
        return None

    def _build(self) -> FastAPI:
        app = FastAPI(title="SAP SuccessFactors Learning simulator")

        @app.post(TOKEN_PATH)
        async def token(request: Request) -> Response:
            body = await request.json()
            basic = request.headers.get("authorization", "").removeprefix("Basic ")
            expected = f"{self.client_id}:{self.client_secret}".encode()
            scope = body.get("scope") or {}
            if base64.b64decode(basic or "") != expected:
                return JSONResponse({"error": "invalid_client"}, 401)
            if body.get("grant_type") != "client_credentials" or not isinstance(scope, dict):
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            if (
                scope.get("resourceType") != "learning_public_api"
                or scope.get("companyId") != self.company_id
                or not scope.get("userId")
                or not scope.get("userType")
            ):
                return JSONResponse({"error": "invalid_scope"}, 400)
            token = secrets.token_urlsafe(24)
            self.tokens[token] = time.monotonic() + self.token_ttl_s
            self.tokens_issued += 1
            return JSONResponse(
                {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl_s}
            )

        @app.post(EVENTS_PATH)
        async def post_events(request: Request) -> Response:
            await delay(self.faults)
            body = await request.json()
            seen = Received("POST", EVENTS_PATH, "post_events", body)
            self.received.append(seen)
            response = self._gate(request) or self._record(body)
            seen.status = response.status_code
            if response.status_code == 200 and self.faults.take("timeout_after_commit_next_n"):
                await asyncio.sleep(self.faults.timeout_sleep_s)  # committed; answer too late
            return response

        @app.get(EVENTS_PATH)
        async def get_events(request: Request) -> Response:
            await delay(self.faults)
            params = dict(request.query_params)
            seen = Received("GET", EVENTS_PATH, "find_events", params)
            self.received.append(seen)
            response = self._gate(request) or self._find(params)
            seen.status = response.status_code
            return response

        return app

    def _record(self, body: Any) -> Response:
        records = body.get("ocnLearningEvents") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return odata_error(400, "BAD_REQUEST", "ocnLearningEvents must be a non-empty array")
        if len(records) > MAX_RECORDS_PER_CALL:
            return odata_error(
                400, "TOO_MANY_RECORDS", f"at most {MAX_RECORDS_PER_CALL} records per call"
            )
        for record in records:
            missing = [f for f in REQUIRED if record.get(f) is None]
            if missing:
                return odata_error(400, "MISSING_FIELD", f"required: {', '.join(missing)}")
            empty = [k for k, v in record.items() if isinstance(v, str) and not v.strip()]
            if empty:
                return odata_error(400, "EMPTY_STRING", f"empty strings in {', '.join(empty)}")
        results = []
        with self._lock:
            for record in records:
                results.append(self._record_one(record))
        return JSONResponse({"value": results})

    def _record_one(self, record: dict[str, Any]) -> dict[str, Any]:
        base = {"userID": record["userID"], "courseID": record["courseID"]}
        if self.known_users is not None and record["userID"] not in self.known_users:
            message = f"user {record['userID']} does not exist"
            return {
                **base,
                "success": False,
                "errorCode": "USER_NOT_FOUND",
                "errorMessage": message,
            }
        for existing in self.records:
            if record_key(existing) == record_key(record):
                return {
                    **base,
                    "success": False,
                    "eventID": existing["eventID"],
                    "errorCode": "ALREADY_RECORDED",
                    "errorMessage": "learning event already recorded",
                }
        stored = {**record, "eventID": uuid.uuid4().hex}
        self.records.append(stored)
        return {**base, "success": True, "eventID": stored["eventID"]}

    def _find(self, params: dict[str, str]) -> Response:
        clauses: dict[str, str] = {}
        for part in (params.get("$filter") or "").split(" and ") if params.get("$filter") else []:
            match = FILTER_CLAUSE.match(part)
            if match is None:
                return odata_error(400, "BAD_FILTER", f"unsupported filter clause: {part}")
            clauses[match.group(1)] = match.group(2).replace("''", "'")
        hits = [r for r in self.records if all(str(r.get(k)) == v for k, v in clauses.items())]
        skip, top = int(params.get("$skip", 0)), int(params.get("$top", 100))
        return JSONResponse({"value": hits[skip : skip + top]})


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
    """Run a SAP simulator in the foreground until interrupted (CLI, `make run`)."""
    simulator = SapSimulator(**options)
    with running(simulator.app, host, port) as url:
        print(f"SAP SuccessFactors simulator on {url}", flush=True)
        while True:
            time.sleep(3600)
