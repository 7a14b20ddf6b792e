"""`learnstream hr simulators` fault flags: start the real command with the
flags, as an operator would, and observe each fault over HTTP on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest

from connectors import soap
from connectors.sap import EVENTS_PATH
from connectors.workday import build_payload, get_request, put_request
from tests.conftest import free_port

USER, PASSWORD = "isu@acme", "pw"
PATH = "/ccx/service/learnstream/Learning/v44.0"
LATENCY_MS = 300


@contextmanager
def started(*flags: str) -> Iterator[tuple[str, str]]:
    """The command in a child process (ours, stopped by its pid); yields (SAP, Workday) URLs."""
    sap_port, workday_port = free_port(), free_port()
    env = {
        **os.environ,
        "LEARNSTREAM_HR_WORKDAY_USERNAME": USER,
        "LEARNSTREAM_HR_WORKDAY_PASSWORD": PASSWORD,
    }
    argv = [
        sys.executable,
        "-c",
        "from learnstream_cli.commands import main; main()",
        "hr",
        "simulators",
    ]
    argv += ["--sap-port", str(sap_port), "--workday-port", str(workday_port), *flags]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        banner = ""
        deadline = time.monotonic() + 30
        while "faults armed" not in banner:  # printed once both are serving
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, banner
            banner += process.stdout.readline() if process.stdout else ""
        yield f"http://127.0.0.1:{sap_port}", f"http://127.0.0.1:{workday_port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def workday_with_faults() -> Iterator[str]:
    flags = ["--latency-ms", str(LATENCY_MS), "--429-storm", "1", "--retry-after-s", "7"]
    flags += ["--5xx-burst", "1", "--status-5xx", "502"]
    flags += ["--timeout-after-commit", "1", "--timeout-sleep-s", "2", "--only", "workday"]
    with started(*flags) as (_sap, workday):
        yield workday


def soap_post(base: str, request: ET.Element, timeout: float = 5.0) -> tuple[httpx.Response, float]:
    body = soap.envelope(request, USER, PASSWORD)
    began = time.monotonic()
    response = httpx.post(
        base + PATH, content=body, headers={"Content-Type": "text/xml"}, timeout=timeout
    )
    return response, time.monotonic() - began


def test_flags_arm_latency_429_5xx_and_timeout_after_commit(workday_with_faults: str) -> None:
    base = workday_with_faults
    completion_id = "0b6b2a4e-0000-5000-8000-000000000001"
    payload = build_payload("W1", "c1", completion_id, datetime.now(UTC), 0.9)
    put = put_request(payload, "v44.0")

    throttled, took = soap_post(base, put)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert took >= LATENCY_MS / 1000  # latency applies to refused requests too

    failed, _ = soap_post(base, put)
    assert failed.status_code == 502

    with pytest.raises(httpx.ReadTimeout):  # Workday commits, then answers too late
        soap_post(base, put, timeout=1.0)

    found, took = soap_post(base, get_request("v44.0", [payload["enrollment_id"]]))
    assert found.status_code == 200 and took >= LATENCY_MS / 1000
    assert payload["enrollment_id"] in found.text  # the record exists although we timed out

    again, _ = soap_post(base, put)  # every armed fault is used up
    assert again.status_code == 200


def test_only_one_simulator_gets_the_faults() -> None:
    with started("--latency-ms", "1500", "--only", "workday") as (sap, workday):
        began = time.monotonic()
        refused = httpx.get(sap + EVENTS_PATH, timeout=5)  # no token: SAP's own 401
        assert refused.status_code == 401 and time.monotonic() - began < 1.0
        _response, took = soap_post(workday, get_request("v44.0", None))
        assert took >= 1.5
