"""Workday Learning simulator: a SOAP endpoint (urn:com.workday/bsvc) for
Put_Learning_Enrollment and Get_Learning_Enrollments that parses real envelopes, checks the
version, WS-Security or bearer auth and references, answers SOAP Faults, and upserts on the
external reference (Learning_Enrollment_ID). `enrollments` is what Workday now holds and
`history` every state each enrolment went through.

The update contract (ADR 0011): a Put of an existing enrolment may change its completion
status and score only; worker, course and completion date are its identity. Not_Completed
(a revoked completion) carries no score and can only update an enrolment Workday knows.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from connectors import soap
from connectors.simulators.common import Faults, Received, Window, delay, running
from connectors.soap import wd
from connectors.workday import COMPLETED, MUTABLE, NOT_COMPLETED, enrollment_data
from learnstream.errors import LearnstreamError

VERSION = re.compile(r"^v\d+(\.\d+)?$")
STATUSES = {COMPLETED, NOT_COMPLETED, "In_Progress", "Not_Started", "Withdrawn"}
IDENTITY = ("worker_id", "course_id", "completion_date")
XML = "text/xml; charset=utf-8"


def _text(parent: ET.Element, path: str) -> str | None:
    node = parent.find(path)
    return None if node is None or node.text is None else node.text.strip()


def _ref(parent: ET.Element, tag: str, id_type: str) -> str | None:
    return _text(parent, f"{wd(tag)}/{wd('ID')}[@{wd('type')}='{id_type}']")


def _operation(raw: bytes) -> str:
    """Best effort, for the request log only: throttled requests are logged under it too."""
    try:
        return soap.body_of(soap.parse(raw)).tag.removeprefix(f"{{{soap.WD_NS}}}")
    except (ET.ParseError, soap.UnsafeXml, ValueError):
        return "unparsed"


class Fault(LearnstreamError):
    def __init__(self, code: str, string: str, messages: list[str] | None = None) -> None:
        super().__init__(string)
        self.code, self.string, self.messages = code, string, messages or []


def invalid_id(value: str | None, id_type: str) -> Fault:
    message = f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'"
    return Fault(
        "SOAP-ENV:Client.validationError", "Validation error occurred. " + message, [message]
    )


class WorkdaySimulator:
    def __init__(
        self,
        tenant: str = "learnstream",
        username: str = "isu_learning@learnstream",
        password: str = "secret",
        bearer_tokens: set[str] | None = None,
        known_workers: set[str] | None = None,
        requests_per_second: int = 10,
    ) -> None:
        self.tenant, self.username, self.password = tenant, username, password
        self.bearer_tokens = bearer_tokens or set()
        self.known_workers = known_workers  # None: any worker exists
        self.faults = Faults()
        self.window = Window(requests_per_second, 1.0)
        self.enrollments: dict[str, dict[str, Any]] = {}  # Learning_Enrollment_ID → data
        self.history: dict[str, list[dict[str, Any]]] = {}  # every distinct state, in order
        self.updates = 0  # puts that hit an existing enrolment (de-duplicated)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.app = self._build()

    def puts(self) -> list[Received]:
        return [r for r in self.received if r.operation == "Put_Learning_Enrollment_Request"]

    def _build(self) -> FastAPI:
        app = FastAPI(title="Workday Learning simulator")

        @app.post("/ccx/service/{tenant}/Learning/{version}")
        async def learning(tenant: str, version: str, request: Request) -> Response:
            await delay(self.faults)
            raw = await request.body()
            seen = Received(
                "POST", request.url.path, _operation(raw), raw.decode("utf-8", "replace")
            )
            self.received.append(seen)
            response, committed = self._handle(tenant, version, request, raw, seen)
            seen.status = response.status_code
            if committed and self.faults.take("timeout_after_commit_next_n"):
                await asyncio.sleep(self.faults.timeout_sleep_s)
            return response

        return app

    def _handle(
        self, tenant: str, version: str, request: Request, raw: bytes, seen: Received
    ) -> tuple[Response, bool]:
        wait = self.window.admit()
        if self.faults.take("throttle_next_n") or wait is not None:
            headers = {"Retry-After": str(max(self.faults.retry_after_s, 1))}
            return Response("Too Many Requests", 429, headers=headers), False
        if self.faults.take("fail_5xx_next_n"):
            return Response("Service Unavailable", self.faults.status_5xx), False
        try:
            root = soap.parse(raw)
            operation = soap.body_of(root)
            seen.operation = operation.tag.removeprefix(f"{{{soap.WD_NS}}}")
            self._authenticate(request, root)
            if tenant != self.tenant:
                raise Fault("SOAP-ENV:Client.validationError", f"unknown tenant {tenant}")
            requested = operation.get(wd("version"))
            if not VERSION.match(version) or requested is None or not VERSION.match(requested):
                raise Fault("SOAP-ENV:Client.validationError", "a valid wd:version is required")
            with self._lock:
                if seen.operation == "Put_Learning_Enrollment_Request":
                    return self._ok(self._put(operation, requested)), True
                if seen.operation == "Get_Learning_Enrollments_Request":
                    return self._ok(self._get(operation, requested)), False
            raise Fault("SOAP-ENV:Client", f"unsupported operation {seen.operation}")
        except Fault as fault:
            body = soap.fault_xml(fault.code, fault.string, fault.messages)
            return Response(body, 500, media_type=XML), False
        except (ET.ParseError, soap.UnsafeXml, ValueError) as exc:
            body = soap.fault_xml("SOAP-ENV:Client", f"malformed request: {exc}")
            return Response(body, 500, media_type=XML), False

    def _authenticate(self, request: Request, root: ET.Element) -> None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.bearer_tokens:
            return
        if soap.username_token(root) == (self.username, self.password):
            return
        raise Fault("SOAP-ENV:Client.authenticationError", "invalid username or password")

    @staticmethod
    def _ok(answer: ET.Element) -> Response:
        root = ET.Element(soap.env("Envelope"))
        ET.SubElement(root, soap.env("Body")).append(answer)
        return Response(
            ET.tostring(root, encoding="utf-8", xml_declaration=True), 200, media_type=XML
        )

    def _put(self, request: ET.Element, version: str) -> ET.Element:
        data = request.find(wd("Learning_Enrollment_Data"))
        if data is None:
            raise Fault("SOAP-ENV:Client.validationError", "Learning_Enrollment_Data is required")
        fields = {
            "enrollment_id": _text(data, wd("Learning_Enrollment_ID")),
            "worker_id": _ref(data, "Worker_Reference", "Employee_ID"),
            "course_id": _ref(data, "Learning_Content_Reference", "Learning_Course_ID"),
            "completion_status": _ref(
                data, "Completion_Status_Reference", "Learning_Completion_Status_ID"
            ),
            "completion_date": _text(data, wd("Completion_Date")),
            "score": _text(data, wd("Score")),
        }
        for name in ("enrollment_id", "worker_id", "course_id", "completion_status"):
            if not fields[name]:
                raise Fault("SOAP-ENV:Client.validationError", f"{name} is required")
        if self.known_workers is not None and fields["worker_id"] not in self.known_workers:
            raise invalid_id(fields["worker_id"], "Employee_ID")
        if fields["completion_status"] not in STATUSES:
            raise invalid_id(fields["completion_status"], "Learning_Completion_Status_ID")
        try:
            date.fromisoformat(fields["completion_date"] or "")
        except ValueError as exc:
            raise Fault("SOAP-ENV:Client.validationError", "Completion_Date is not a date") from exc
        enrollment_id = str(fields["enrollment_id"])
        existing = self.enrollments.get(enrollment_id)
        self._check_update(enrollment_id, existing, fields)
        if existing is not None:  # Put upserts on the external reference: never a second record
            self.updates += 1
            if any(existing[f] != fields[f] for f in MUTABLE):
                existing.update(fields)
                self.history[enrollment_id].append(dict(existing))
        else:
            self.enrollments[enrollment_id] = {**fields, "wid": uuid.uuid4().hex}
            self.history[enrollment_id] = [dict(self.enrollments[enrollment_id])]
        answer = ET.Element(wd("Put_Learning_Enrollment_Response"), {wd("version"): version})
        self._reference(answer, self.enrollments[enrollment_id])
        return answer

    @staticmethod
    def _check_update(
        enrollment_id: str, existing: dict[str, Any] | None, fields: dict[str, Any]
    ) -> None:
        if fields["completion_status"] == NOT_COMPLETED:
            if existing is None:  # nothing to revoke: a wrong reference, not a new enrolment
                raise invalid_id(enrollment_id, "Learning_Enrollment_ID")
            if fields["score"] is not None:
                raise Fault(
                    "SOAP-ENV:Client.validationError", "a Not_Completed enrolment has no Score"
                )
        changed = [f for f in IDENTITY if existing is not None and existing[f] != fields[f]]
        if changed:
            message = f"{', '.join(changed)} of an existing enrolment cannot be changed"
            raise Fault("SOAP-ENV:Client.validationError", message)

    @staticmethod
    def _reference(parent: ET.Element, record: dict[str, Any]) -> None:
        ref = ET.SubElement(parent, wd("Learning_Enrollment_Reference"))
        ET.SubElement(ref, wd("ID"), {wd("type"): "WID"}).text = record["wid"]
        ET.SubElement(ref, wd("ID"), {wd("type"): "Learning_Enrollment_ID"}).text = record[
            "enrollment_id"
        ]

    def _get(self, request: ET.Element, version: str) -> ET.Element:
        refs = request.findall(
            f"{wd('Request_References')}/{wd('Learning_Enrollment_Reference')}/{wd('ID')}"
        )
        if refs:
            wanted = [(r.text or "").strip() for r in refs]
            for enrollment_id in wanted:
                if enrollment_id not in self.enrollments:
                    raise invalid_id(enrollment_id, "Learning_Enrollment_ID")
            records = [self.enrollments[i] for i in wanted]
        else:
            records = list(self.enrollments.values())
        page = int(_text(request, f"{wd('Response_Filter')}/{wd('Page')}") or 1)
        count = int(_text(request, f"{wd('Response_Filter')}/{wd('Count')}") or 100)
        pages = max(1, -(-len(records) // count))
        shown = records[(page - 1) * count : page * count]
        answer = ET.Element(wd("Get_Learning_Enrollments_Response"), {wd("version"): version})
        results = ET.SubElement(answer, wd("Response_Results"))
        for tag, value in (
            ("Total_Results", len(records)),
            ("Total_Pages", pages),
            ("Page_Results", len(shown)),
            ("Page", page),
        ):
            ET.SubElement(results, wd(tag)).text = str(value)
        data = ET.SubElement(answer, wd("Response_Data"))
        for record in shown:
            item = ET.SubElement(data, wd("Learning_Enrollment"))
            self._reference(item, record)
            item.append(enrollment_data(record))  # a cleared score is an absent element
        return answer


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
    """Run a Workday simulator in the foreground until interrupted (CLI, `make run`)."""
    simulator = WorkdaySimulator(**options)
    with running(simulator.app, host, port) as url:
        print(f"Workday simulator on {url}", flush=True)
        while True:
            time.sleep(3600)
