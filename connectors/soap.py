"""Workday SOAP plumbing: envelopes, WS-Security, safe parsing and typed SOAP Faults.

Every XML body from outside (Workday's responses; the requests the simulator receives) is
parsed by defusedxml with DTDs forbidden: no entity expansion, no external fetches, whatever
the server or a client sends.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from connectors.http import PermanentHrError, UncertainOutcome
from learnstream.errors import LearnstreamError, PermanentError

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WD_NS = "urn:com.workday/bsvc"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
ET.register_namespace("env", SOAP_NS)
ET.register_namespace("wd", WD_NS)
ET.register_namespace("wsse", WSSE_NS)


def wd(tag: str) -> str:
    return f"{{{WD_NS}}}{tag}"


def env(tag: str) -> str:
    return f"{{{SOAP_NS}}}{tag}"


class UnsafeXml(PermanentError, ValueError):
    pass


def parse(data: bytes | str) -> ET.Element:
    """Untrusted XML to an element tree; a DTD, entity or external reference is UnsafeXml,
    malformed XML is ET.ParseError (as from the standard library)."""
    try:
        root: ET.Element = defused_fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(f"DTDs and entities are not allowed in SOAP messages ({exc!r})") from exc
    return root


def envelope(body: ET.Element, username: str | None = None, password: str | None = None) -> bytes:
    root = ET.Element(env("Envelope"))
    if username is not None:
        header = ET.SubElement(root, env("Header"))
        security = ET.SubElement(header, f"{{{WSSE_NS}}}Security")
        token = ET.SubElement(security, f"{{{WSSE_NS}}}UsernameToken")
        ET.SubElement(token, f"{{{WSSE_NS}}}Username").text = username
        secret = ET.SubElement(token, f"{{{WSSE_NS}}}Password", {"Type": PASSWORD_TEXT})
        secret.text = password or ""
    ET.SubElement(root, env("Body")).append(body)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def body_of(root: ET.Element) -> ET.Element:
    body = root.find(env("Body"))
    if body is None or len(body) == 0:
        raise ValueError("SOAP message without a Body element")
    return body[0]


def username_token(root: ET.Element) -> tuple[str, str] | None:
    token = root.find(f"{env('Header')}/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    if token is None:
        return None
    return (
        token.findtext(f"{{{WSSE_NS}}}Username") or "",
        token.findtext(f"{{{WSSE_NS}}}Password") or "",
    )


# --- faults -------------------------------------------------------------------------------
class SoapFault(LearnstreamError):
    """A SOAP Fault; `code` is the faultcode's local part (e.g. Client.validationError)."""

    def __init__(self, code: str, string: str, messages: list[str] | None = None) -> None:
        Exception.__init__(self, f"{code}: {string}")
        self.code, self.string, self.message = code, string, string
        self.messages = messages or []
        self.retry_after: float | None = None


class ValidationFault(SoapFault, PermanentHrError):
    """Client.validationError: this request can never succeed as it is."""


class InvalidReference(ValidationFault):
    """A reference ID Workday does not know ("Invalid ID value")."""


class AuthenticationFault(SoapFault, PermanentHrError):
    """Client.authenticationError: configuration, not data — but retrying will not fix it."""


class ServerFault(SoapFault, UncertainOutcome):
    """Server.*: Workday failed while processing; it may or may not have committed."""


def fault(code: str, string: str, messages: list[str] | None = None) -> SoapFault:
    """The typed fault for a faultcode (prefix-agnostic: only the local part matters)."""
    local = code.split(":", 1)[-1]
    messages = messages or []
    kind: type[SoapFault]
    if local.startswith("Client.authentication"):
        kind = AuthenticationFault
    elif local.startswith("Client"):
        invalid = any("Invalid ID value" in m for m in [string, *messages])
        kind = InvalidReference if invalid else ValidationFault
    else:
        kind = ServerFault
    return kind(local, string, messages)


def parse_fault(root: ET.Element) -> SoapFault | None:
    node = root.find(f"{env('Body')}/{env('Fault')}")
    if node is None:
        return None
    messages = [m.text or "" for m in node.iter(wd("Message"))]
    return fault(node.findtext("faultcode") or "", node.findtext("faultstring") or "", messages)


def fault_xml(code: str, string: str, messages: list[str] | None = None) -> bytes:
    """A Workday-style SOAP 1.1 Fault with a wd:Validation_Fault detail."""
    root = ET.Element(env("Envelope"))
    node = ET.SubElement(ET.SubElement(root, env("Body")), env("Fault"))
    ET.SubElement(node, "faultcode").text = code
    ET.SubElement(node, "faultstring").text = string
    if messages:
        detail = ET.SubElement(ET.SubElement(node, "detail"), wd("Validation_Fault"))
        for message in messages:
            error = ET.SubElement(detail, wd("Validation_Error"))
            ET.SubElement(error, wd("Message")).text = message
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
