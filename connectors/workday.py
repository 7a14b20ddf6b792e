"""Workday Learning client (SOAP, urn:com.workday/bsvc): completions are recorded with
Put_Learning_Enrollment keyed by our completion id as the external reference, so a re-put
updates the same enrolment instead of adding one; Get_Learning_Enrollments reconciles.

A revoked certificate is a Put of the same enrolment with status Not_Completed and no score
(docs/decisions/0011-workday-revocation-as-enrolment-update.md): worker, course and date are
the enrolment's identity and never change.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from functools import partial
from typing import Any

import httpx

from connectors import soap
from connectors.http import PermanentHrError, RateLimiter, call, no_empty_strings
from connectors.http import raise_for_transient as _raise_for_transient
from connectors.sap import RecordOutcome
from connectors.shared_limit import Limiter
from connectors.soap import wd
from learnstream.sections import HrSettings

ENDPOINT = "/ccx/service/{tenant}/Learning/{version}"
COMPLETED = "Completed"
NOT_COMPLETED = "Not_Completed"  # a revoked completion: the attempt happened, it does not count
MUTABLE = ("completion_status", "score")  # all an update may change (ADR 0011)
PAGE_SIZE = 100
# payload field → (element, reference ID type); a None type is a plain text element
FIELDS: dict[str, tuple[str, str | None]] = {
    "enrollment_id": ("Learning_Enrollment_ID", None),
    "worker_id": ("Worker_Reference", "Employee_ID"),
    "course_id": ("Learning_Content_Reference", "Learning_Course_ID"),
    "completion_status": ("Completion_Status_Reference", "Learning_Completion_Status_ID"),
    "completion_date": ("Completion_Date", None),
    "score": ("Score", None),
}


def build_payload(
    worker_id: str, course_id: str, completion_id: str, completed_at: datetime, score: float
) -> dict[str, Any]:
    return {
        "enrollment_id": completion_id,  # the external reference Workday de-duplicates on
        "worker_id": worker_id,
        "course_id": course_id,
        "completion_status": COMPLETED,
        "completion_date": completed_at.date().isoformat(),  # xs:date, UTC day
        "score": f"{score * 100:.1f}",
    }


def revoked_payload(completed: dict[str, Any]) -> dict[str, Any]:
    """The same enrolment, no longer completed: the score is cleared (omitted on the wire)."""
    return {**completed, "completion_status": NOT_COMPLETED, "score": None}


def is_revoked(payload: dict[str, Any]) -> bool:
    return payload.get("completion_status") == NOT_COMPLETED


def _reference(parent: ET.Element, tag: str, id_type: str, value: str) -> None:
    ref = ET.SubElement(parent, wd(tag))
    ET.SubElement(ref, wd("ID"), {wd("type"): id_type}).text = value


def enrollment_data(payload: dict[str, Any]) -> ET.Element:
    data = ET.Element(wd("Learning_Enrollment_Data"))
    for name, (tag, id_type) in FIELDS.items():
        if payload.get(name) is None:
            continue  # an absent optional element: Workday holds no value (e.g. no score)
        if id_type is None:
            ET.SubElement(data, wd(tag)).text = str(payload[name])
        else:
            _reference(data, tag, id_type, str(payload[name]))
    return data


def parse_enrollment_data(data: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (tag, id_type) in FIELDS.items():
        path = wd(tag) if id_type is None else f"{wd(tag)}/{wd('ID')}[@{wd('type')}='{id_type}']"
        out[name] = data.findtext(path)
    return out


def put_request(payload: dict[str, Any], version: str) -> ET.Element:
    request = ET.Element(wd("Put_Learning_Enrollment_Request"), {wd("version"): version})
    _reference(request, "Learning_Enrollment_Reference", "Learning_Enrollment_ID", "")
    request[0][0].text = str(payload["enrollment_id"])
    request.append(enrollment_data(payload))
    return request


def get_request(version: str, enrollment_ids: list[str] | None, page: int = 1) -> ET.Element:
    request = ET.Element(wd("Get_Learning_Enrollments_Request"), {wd("version"): version})
    if enrollment_ids:
        refs = ET.SubElement(request, wd("Request_References"))
        for enrollment_id in enrollment_ids:
            _reference(refs, "Learning_Enrollment_Reference", "Learning_Enrollment_ID", "")
            refs[-1][0].text = enrollment_id
    response_filter = ET.SubElement(request, wd("Response_Filter"))
    ET.SubElement(response_filter, wd("Page")).text = str(page)
    ET.SubElement(response_filter, wd("Count")).text = str(PAGE_SIZE)
    return request


def reference_id(parent: ET.Element | None, id_type: str) -> str | None:
    if parent is None:
        return None
    return parent.findtext(
        f"{wd('Learning_Enrollment_Reference')}/{wd('ID')}[@{wd('type')}='{id_type}']"
    )


class WorkdayClient:
    def __init__(
        self,
        settings: HrSettings,
        http: httpx.Client | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        if not settings.workday_base_url:
            raise ValueError("LEARNSTREAM_HR_WORKDAY_BASE_URL is not set")
        self.settings = settings
        self.http = http or httpx.Client(
            base_url=settings.workday_base_url, timeout=settings.http_timeout_s
        )
        self.path = ENDPOINT.format(
            tenant=settings.workday_tenant, version=settings.workday_version
        )
        self.limiter = limiter or RateLimiter.per_second(settings.workday_requests_per_second)
        self.calls = 0

    def _soap(self, request: ET.Element) -> ET.Element:
        s = self.settings
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        if s.workday_token is not None:
            headers["Authorization"] = f"Bearer {s.workday_token.get_secret_value()}"
            body = soap.envelope(request)
        else:
            password = s.workday_password.get_secret_value() if s.workday_password else ""
            body = soap.envelope(request, s.workday_username or "", password)
        self.limiter.acquire()
        self.calls += 1
        response = call(partial(self.http.post, self.path, content=body, headers=headers), False)
        root = _try_parse(response)
        fault = None if root is None else soap.parse_fault(root)
        if fault is not None:
            raise fault
        _raise_for_transient(response)
        if root is None or response.status_code >= 400:
            code = "UNAUTHORIZED" if response.status_code in (401, 403) else "HTTP_ERROR"
            raise PermanentHrError(code, f"HTTP {response.status_code}")
        return soap.body_of(root)

    def put_enrollment(self, payload: dict[str, Any]) -> RecordOutcome:
        no_empty_strings(payload)
        answer = self._soap(put_request(payload, self.settings.workday_version))
        ref = answer.findtext(
            f"{wd('Learning_Enrollment_Reference')}/{wd('ID')}[@{wd('type')}='WID']"
        )
        return RecordOutcome("SENT", ref)

    def get_enrollments(self, enrollment_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Enrolments (payload-shaped, plus `wid`), all pages; unknown ids are a fault."""
        found: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            answer = self._soap(get_request(self.settings.workday_version, enrollment_ids, page))
            pages = int(answer.findtext(f"{wd('Response_Results')}/{wd('Total_Pages')}") or 1)
            for item in answer.iter(wd("Learning_Enrollment")):
                data = item.find(wd("Learning_Enrollment_Data"))
                if data is not None:
                    found.append({**parse_enrollment_data(data), "wid": reference_id(item, "WID")})
            page += 1
        return found

    def find(self, payload: dict[str, Any]) -> RecordOutcome | None:
        """Workday's copy of this enrolment if it is already in this payload's state
        (reconcile before re-send): a completed enrolment does not answer for a revocation."""
        try:
            matches = self.get_enrollments([str(payload["enrollment_id"])])
        except soap.InvalidReference:
            return None  # Workday answers "Invalid ID value" for an id it has never seen
        if not matches or any(matches[0].get(f) != payload.get(f) for f in MUTABLE):
            return None  # absent, or in another state: the (idempotent) put is still owed
        return RecordOutcome("ALREADY_RECORDED", matches[0]["wid"])


def _try_parse(response: httpx.Response) -> ET.Element | None:
    if "xml" not in response.headers.get("content-type", ""):
        return None
    try:
        return soap.parse(response.content)
    except (ET.ParseError, soap.UnsafeXml):
        return None
