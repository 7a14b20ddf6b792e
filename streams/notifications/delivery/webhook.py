"""Webhook channel: a signed JSON POST per notification.

Signing scheme (for receivers)
------------------------------
* `X-Learnstream-Timestamp: <unix seconds>`, fresh on every HTTP try.
* `X-Learnstream-Signature: sha256=<hex>`, the HMAC-SHA256 with the shared secret of the bytes
  `<timestamp>.<raw body>`. Signing the timestamp stops a captured request from being replayed
  later: receivers reject timestamps outside a tolerance window (`verify_signature`, 5 min).
  Verify against the raw body bytes, before any JSON parsing or re-serialisation.
* `Idempotency-Key: <notification_id>`. A crash between a successful POST and recording it
  causes one re-send with the same key (and a byte-identical body); receivers drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from learnstream.retry_after import parse_retry_after
from learnstream.sections import NotifySettings
from streams.notifications.delivery.base import (
    PendingNotification,
    PermanentDeliveryError,
    TransientDeliveryError,
    retrying,
)

SIGNATURE_HEADER = "X-Learnstream-Signature"
TIMESTAMP_HEADER = "X-Learnstream-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256="
RETRYABLE_4XX = {408, 429}
_ERROR_SNIPPET = 200  # enough of a response body to diagnose, not enough to bloat the row


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The `X-Learnstream-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when `header` signs `<timestamp>.<body>` and the timestamp is within tolerance
    (either side, so a skewed clock cannot mint signatures valid far into the future)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    # compare_digest: the time taken must not reveal how many leading characters matched.
    return hmac.compare_digest(sign(secret, ts, body).encode(), header.strip().encode())


class WebhookSender:
    def __init__(self, settings: NotifySettings, client: httpx.Client | None = None) -> None:
        if not settings.webhook_url or settings.webhook_secret is None:
            raise ValueError("webhook delivery needs webhook_url and webhook_secret")
        self.settings = settings
        self.url = settings.webhook_url
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._owns_client = client is None
        # Redirects are not followed: a signed POST should not silently land somewhere else.
        self.client = client or httpx.Client(timeout=settings.timeout_s, follow_redirects=False)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def send(self, notification: PendingNotification) -> None:
        """POST until accepted; raises PermanentDeliveryError or the last TransientDeliveryError."""
        body = notification.to_json_bytes()
        for attempt in retrying(self.settings):
            with attempt:
                self._post(notification, body)

    def _post(self, notification: PendingNotification, body: bytes) -> None:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "learnstream-notify/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: str(notification.notification_id),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentDeliveryError(f"bad webhook url: {exc}") from exc
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        error = f"HTTP {status}: {response.text[:_ERROR_SNIPPET]}"
        if status >= 500 or status in RETRYABLE_4XX:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientDeliveryError(error, retry_after=retry_after)
        raise PermanentDeliveryError(error)
