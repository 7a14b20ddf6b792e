"""Workday SOAP: request shape, safe parsing, and SOAP Faults turned into typed errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors import soap
from connectors.http import PermanentHrError, Throttled, UncertainOutcome
from connectors.soap import wd
from connectors.workday import WorkdayClient, build_payload, parse_enrollment_data, put_request
from learnstream.sections import HrSettings

AT = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)
PAYLOAD = build_payload("W1", "c1", "0b6b2a4e-0000-5000-8000-000000000001", AT, 0.9)
SETTINGS = HrSettings(
    workday_base_url="http://wd.test",
    workday_tenant="acme",
    workday_username="isu@acme",
    workday_password=SecretStr("pw"),
    workday_version="v44.0",
    workday_requests_per_second=10,
)


def fault_response(code: str, string: str, messages: list[str] | None = None) -> httpx.Response:
    body = soap.fault_xml(code, string, messages)
    return httpx.Response(500, content=body, headers={"content-type": "text/xml"})


def test_put_request_is_versioned_and_round_trips() -> None:
    request = put_request(PAYLOAD, "v44.0")
    assert request.tag == wd("Put_Learning_Enrollment_Request")
    assert request.get(wd("version")) == "v44.0"
    data = request.find(wd("Learning_Enrollment_Data"))
    assert data is not None
    assert parse_enrollment_data(data) == PAYLOAD
    worker = data.find(f"{wd('Worker_Reference')}/{wd('ID')}")
    assert worker is not None and worker.get(wd("type")) == "Employee_ID"
    assert PAYLOAD["completion_date"] == "2025-03-10"  # the UTC day of completion


def test_envelope_carries_a_ws_security_username_token() -> None:
    root = soap.parse(soap.envelope(put_request(PAYLOAD, "v44.0"), "isu@acme", "pw"))
    assert soap.username_token(root) == ("isu@acme", "pw")
    assert soap.body_of(root).tag == wd("Put_Learning_Enrollment_Request")
    assert soap.username_token(soap.parse(soap.envelope(ET.Element("x")))) is None


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
)


@pytest.mark.parametrize(
    "unsafe",
    [
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',  # internal entity
        LAUGHS,  # entity expansion (billion laughs)
        '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',  # external entity
        '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/a.dtd"><a/>',  # external DTD
        b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE a><a/>',  # a bare DTD, as bytes
    ],
)
def test_dtds_entities_and_external_references_are_refused(unsafe: str | bytes) -> None:
    with pytest.raises(soap.UnsafeXml):
        soap.parse(unsafe)


def test_a_dtd_spelled_inside_text_is_data_not_a_dtd() -> None:
    # A text search for "<!DOCTYPE" refused this; a parser sees character data.
    root = soap.parse("<a><![CDATA[<!DOCTYPE x> <!ENTITY y>]]></a>")
    assert root.text == "<!DOCTYPE x> <!ENTITY y>"


def test_malformed_xml_is_a_parse_error() -> None:
    with pytest.raises(ET.ParseError):
        soap.parse(b"<a><b></a>")


@pytest.mark.parametrize(
    ("code", "string", "messages", "kind", "permanent"),
    [
        (
            "SOAP-ENV:Client.validationError",
            "Validation error occurred. Invalid ID value.",
            ["Invalid ID value.  'W9' is not a valid ID value for type = 'Employee_ID'"],
            soap.InvalidReference,
            True,
        ),
        ("SOAP-ENV:Client.validationError", "Completion_Date", [], soap.ValidationFault, True),
        ("SOAP-ENV:Client.authenticationError", "invalid user", [], soap.AuthenticationFault, True),
        ("SOAP-ENV:Server.processingError", "try later", [], soap.ServerFault, False),
    ],
)
def test_soap_faults_are_parsed_into_typed_errors(
    code: str, string: str, messages: list[str], kind: type[soap.SoapFault], permanent: bool
) -> None:
    fault = soap.parse_fault(soap.parse(soap.fault_xml(code, string, messages)))
    assert type(fault) is kind
    assert fault.code == code.split(":", 1)[1]
    assert fault.string == string
    assert fault.messages == messages
    assert isinstance(fault, PermanentHrError) is permanent
    assert isinstance(fault, UncertainOutcome) is not permanent


def test_no_fault_in_a_normal_body() -> None:
    root = soap.parse(soap.envelope(ET.Element(wd("Put_Learning_Enrollment_Response"))))
    assert soap.parse_fault(root) is None


def client(handler: httpx.MockTransport) -> WorkdayClient:
    return WorkdayClient(SETTINGS, http=httpx.Client(base_url="http://wd.test", transport=handler))


def test_client_posts_to_the_versioned_learning_endpoint_and_reads_the_wid() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = ET.Element(wd("Put_Learning_Enrollment_Response"))
        ref = ET.SubElement(answer, wd("Learning_Enrollment_Reference"))
        ET.SubElement(ref, wd("ID"), {wd("type"): "WID"}).text = "abc"
        return httpx.Response(
            200, content=soap.envelope(answer), headers={"content-type": "text/xml"}
        )

    outcome = client(httpx.MockTransport(handler)).put_enrollment(PAYLOAD)
    assert (outcome.status, outcome.remote_ref) == ("SENT", "abc")
    assert seen[0].url.path == "/ccx/service/acme/Learning/v44.0"
    sent = soap.parse(seen[0].content)
    assert soap.username_token(sent) == ("isu@acme", "pw")


def test_bearer_token_wins_over_the_username_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fault_response("SOAP-ENV:Client.validationError", "x")

    settings = SETTINGS.model_copy(update={"workday_token": SecretStr("tok")})
    http = httpx.Client(base_url="http://wd.test", transport=httpx.MockTransport(handler))
    with pytest.raises(soap.ValidationFault):
        WorkdayClient(settings, http=http).put_enrollment(PAYLOAD)
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert soap.username_token(soap.parse(seen[0].content)) is None


def test_client_maps_faults_throttling_and_5xx() -> None:
    answers = iter(
        [
            fault_response("SOAP-ENV:Client.validationError", "bad", ["Invalid ID value. 'x'"]),
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, text="unavailable"),
            fault_response("SOAP-ENV:Server.processingError", "busy"),
        ]
    )
    wd_client = client(httpx.MockTransport(lambda request: next(answers)))
    with pytest.raises(soap.InvalidReference):
        wd_client.put_enrollment(PAYLOAD)
    with pytest.raises(Throttled) as throttled:
        wd_client.put_enrollment(PAYLOAD)
    assert throttled.value.retry_after == 3.0
    with pytest.raises(UncertainOutcome):
        wd_client.put_enrollment(PAYLOAD)
    with pytest.raises(soap.ServerFault):
        wd_client.put_enrollment(PAYLOAD)


def test_find_treats_an_invalid_reference_as_absent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return fault_response("SOAP-ENV:Client.validationError", "Invalid ID value.")

    assert client(httpx.MockTransport(handler)).find(PAYLOAD) is None


def test_empty_strings_are_rejected_client_side() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be sent")

    with pytest.raises(PermanentHrError):
        client(httpx.MockTransport(handler)).put_enrollment({**PAYLOAD, "worker_id": ""})
