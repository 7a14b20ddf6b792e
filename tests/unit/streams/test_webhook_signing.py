"""The webhook signature: HMAC-SHA256 over `<timestamp>.<body>`, verified in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

from learnstream.retry_after import parse_retry_after
from streams.notifications.delivery.webhook import sign, verify_signature

SECRET = "s3cret"
BODY = b'{"kind":"OVERDUE","notification_id":"0b6c8b8e-0000-5000-8000-000000000001"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    ts = 1_700_000_000
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, ts, BODY) == f"sha256={expected}"
    assert sign(SECRET.encode(), ts, BODY) == sign(SECRET, ts, BODY)


def test_verify_accepts_the_right_signature() -> None:
    ts = int(time.time())
    header = sign(SECRET, ts, BODY)
    assert verify_signature(SECRET, ts, BODY, header)
    assert verify_signature(SECRET, str(ts), BODY, header)  # as read from the header


def test_verify_rejects_a_tampered_body() -> None:
    ts = int(time.time())
    header = sign(SECRET, ts, BODY)
    assert not verify_signature(SECRET, ts, BODY.replace(b"OVERDUE", b"AT_RISK"), header)
    assert not verify_signature(SECRET, ts, BODY + b" ", header)


def test_verify_rejects_a_wrong_secret() -> None:
    ts = int(time.time())
    assert not verify_signature("other", ts, BODY, sign(SECRET, ts, BODY))


def test_verify_rejects_a_stale_or_future_timestamp() -> None:
    now = 1_700_000_000.0
    old = int(now) - 301
    assert not verify_signature(SECRET, old, BODY, sign(SECRET, old, BODY), now=now)
    future = int(now) + 301
    assert not verify_signature(SECRET, future, BODY, sign(SECRET, future, BODY), now=now)
    edge = int(now) - 300
    assert verify_signature(SECRET, edge, BODY, sign(SECRET, edge, BODY), now=now)


def test_verify_rejects_a_timestamp_swapped_under_a_valid_signature() -> None:
    # Replaying an old body with a fresh timestamp header breaks the signature.
    old = int(time.time()) - 3600
    header = sign(SECRET, old, BODY)
    assert not verify_signature(SECRET, int(time.time()), BODY, header)


def test_verify_rejects_malformed_input() -> None:
    ts = int(time.time())
    assert not verify_signature(SECRET, "not-a-number", BODY, sign(SECRET, ts, BODY))
    assert not verify_signature(SECRET, ts, BODY, "")
    assert not verify_signature(SECRET, ts, BODY, sign(SECRET, ts, BODY).removeprefix("sha256="))


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
