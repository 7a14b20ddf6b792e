"""Notification delivery against real Postgres, a real HTTP receiver and a real SMTP server.

Everything listens on loopback; nothing below the deliverer is mocked.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from learnstream.sections import NotifySettings
from sinks.tables import Notification
from streams.notifications.delivery import (
    NotificationDeliverer,
    status_of,
    verify_signature,
)
from streams.notifications.delivery.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.conftest import free_port

pytestmark = pytest.mark.integration
SECRET = "webhook-test-secret"


# --- a webhook receiver with failure switches ---------------------------------------------
@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    at: float
    status: int


@dataclass
class Receiver:
    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    fail_503: int = 0  # answer the next N requests 503
    rate_limit_429: int = 0  # answer the next N requests 429 with Retry-After: 1
    reject_400: set[str] = field(default_factory=set)  # notification ids answered 400
    delay_s: float = 0.0  # widen the window in which two deliverers could race
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            key = request.headers.get(IDEMPOTENCY_HEADER, "")
            headers: dict[str, str] = {}
            with self.lock:
                if self.fail_503:
                    self.fail_503 -= 1
                    status = 503
                elif self.rate_limit_429:
                    self.rate_limit_429 -= 1
                    status, headers = 429, {"Retry-After": "1"}
                elif key in self.reject_400:
                    status = 400
                else:
                    status = 200
                self.hits.append(Hit(dict(request.headers), body, time.monotonic(), status))
            return Response(f"status {status}", status_code=status, headers=headers)

        return app

    def accepted_ids(self) -> Counter[str]:
        return Counter(h.headers[IDEMPOTENCY_HEADER.lower()] for h in self.hits if h.status == 200)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    port = free_port()
    config = uvicorn.Config(recv.app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "webhook receiver did not start"
        time.sleep(0.02)
    recv.url = f"http://127.0.0.1:{port}/hook"
    yield recv
    server.should_exit = True
    thread.join(10)


# --- an SMTP server -------------------------------------------------------------------------
class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


# --- database ---------------------------------------------------------------------------------
@pytest.fixture
def db(pg_url: str) -> str:
    engine = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    Notification.__table__.create(engine)  # type: ignore[attr-defined]
    engine.dispose()
    return pg_url


def insert(db: str, count: int, channel: str = "WEBHOOK", kind: str = "OVERDUE") -> list[UUID]:
    ids = [uuid4() for _ in range(count)]
    with psycopg.connect(db) as conn:
        conn.cursor().executemany(
            "INSERT INTO notifications (notification_id, kind, recipient_id, subject_learner_id,"
            " course_id, channel, payload, attempts, delivered)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, false)",
            [
                (
                    nid,
                    kind,
                    f"mgr-{i}",
                    f"learner-{i}",
                    "course-7",
                    channel,
                    Jsonb({"due_at": "2030-01-01T00:00:00Z", "percent": 12.5}),
                )
                for i, nid in enumerate(ids)
            ],
        )
    return ids


def rows(db: str) -> dict[UUID, tuple[bool, int, str | None, Any]]:
    with psycopg.connect(db) as conn:
        result = conn.execute(
            "SELECT notification_id, delivered, attempts, last_error, delivered_at "
            "FROM notifications"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in result}


def settings(
    receiver_url: str | None = None, smtp_port: int | None = None, **extra: Any
) -> NotifySettings:
    values: dict[str, Any] = {
        "webhook_url": receiver_url,
        "webhook_secret": SecretStr(SECRET),
        "smtp_host": "127.0.0.1" if smtp_port else None,
        "smtp_port": smtp_port or 25,
        "smtp_from": "notify@learnstream.test",
        "smtp_starttls": False,
        "smtp_to_template": "{recipient_id}@example.test",
        "max_attempts": 3,
        "timeout_s": 2.0,
        "send_tries": 4,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "retry_after_max_s": 5.0,
    }
    return NotifySettings(**{**values, **extra})


def deliverer(db: str, notify: NotifySettings, **kwargs: Any) -> NotificationDeliverer:
    return NotificationDeliverer(notify, lambda: psycopg.connect(db), **kwargs)


# --- tests ---------------------------------------------------------------------------------------
def test_each_notification_is_delivered_once_by_two_concurrent_deliverers_run_twice(
    db: str, receiver: Receiver
) -> None:
    ids = insert(db, 30)
    receiver.delay_s = 0.02
    notify = settings(receiver.url)
    workers = [deliverer(db, notify), deliverer(db, notify)]
    start = threading.Barrier(2)
    delivered: list[list[UUID]] = [[], []]

    def work(i: int) -> None:
        start.wait()
        for _ in range(2):  # the second round must find nothing left to send
            delivered[i] += workers[i].deliver_pending(limit=100).delivered

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert receiver.accepted_ids() == Counter({str(nid): 1 for nid in ids})
    assert len(receiver.hits) == 30
    assert delivered[0] and delivered[1], "both deliverers should have sent some (SKIP LOCKED)"
    assert not set(delivered[0]) & set(delivered[1])
    assert set(delivered[0]) | set(delivered[1]) == set(ids)
    assert all(
        d and attempts == 1 and err is None and at for d, attempts, err, at in rows(db).values()
    )
    for w in workers:
        w.close()


def test_signature_and_idempotency_headers_verify(db: str, receiver: Receiver) -> None:
    [nid] = insert(db, 1)
    with deliverer(db, settings(receiver.url)) as d:
        d.deliver_pending()
    [hit] = receiver.hits
    ts, signature = hit.headers[TIMESTAMP_HEADER.lower()], hit.headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, ts, hit.body, signature)
    assert not verify_signature("wrong", ts, hit.body, signature)
    assert hit.headers[IDEMPOTENCY_HEADER.lower()] == str(nid)
    assert f'"notification_id":"{nid}"'.encode() in hit.body
    assert b'"subject_learner_id":"learner-0"' in hit.body


def test_503_bursts_are_retried_then_delivered(db: str, receiver: Receiver) -> None:
    [nid] = insert(db, 1)
    with deliverer(db, settings(receiver.url, send_tries=4)) as d:
        receiver.fail_503 = 3  # within one attempt's tries
        assert d.deliver_pending().delivered == [nid]
        assert [h.status for h in receiver.hits] == [503, 503, 503, 200]
        assert rows(db)[nid][:3] == (True, 1, None)

    [nid2] = insert(db, 1)
    with deliverer(db, settings(receiver.url, send_tries=2)) as d:
        receiver.fail_503 = 3  # outlasts one attempt: recorded, then the next run delivers
        report = d.deliver_pending()
        assert report.retry_later == [nid2]
        delivered, attempts, error, _ = rows(db)[nid2]
        assert (delivered, attempts) == (False, 1) and error and "HTTP 503" in error
        assert d.deliver_pending().delivered == [nid2]
        assert rows(db)[nid2][:3] == (True, 2, None)
    assert receiver.accepted_ids() == Counter({str(nid): 1, str(nid2): 1})


def test_429_honours_retry_after(db: str, receiver: Receiver) -> None:
    [nid] = insert(db, 1)
    receiver.rate_limit_429 = 1
    with deliverer(db, settings(receiver.url)) as d:
        assert d.deliver_pending().delivered == [nid]
    first, second = receiver.hits
    assert (first.status, second.status) == (429, 200)
    # The exponential backoff alone would wait at most 0.2 s here.
    assert second.at - first.at >= 0.95


def test_400_is_failed_at_once_without_retry(db: str, receiver: Receiver) -> None:
    [bad, good] = insert(db, 2)
    receiver.reject_400 = {str(bad)}
    notify = settings(receiver.url)
    with deliverer(db, notify) as d:
        report = d.deliver_pending()
        assert report.failed == [bad] and report.delivered == [good]
        assert d.deliver_pending().claimed == 0  # never picked up again
    assert [h.status for h in receiver.hits if h.status != 200] == [400]
    delivered, attempts, error, _ = rows(db)[bad]
    assert (delivered, attempts) == (False, 1)
    assert error is not None and error.startswith("permanent: HTTP 400")
    assert status_of(delivered, attempts, error, notify.max_attempts) == "failed"


def test_unreachable_receiver_runs_out_of_attempts(db: str) -> None:
    [nid] = insert(db, 1)
    notify = settings(f"http://127.0.0.1:{free_port()}/hook", max_attempts=2, send_tries=2)
    with deliverer(db, notify) as d:
        assert d.deliver_pending().retry_later == [nid]
        assert d.deliver_pending().failed == [nid]
        assert d.deliver_pending().claimed == 0
    delivered, attempts, error, _ = rows(db)[nid]
    assert (delivered, attempts) == (False, 2) and error and "ConnectError" in error
    assert status_of(delivered, attempts, error, notify.max_attempts) == "failed"


def test_a_crash_between_send_and_mark_resends_the_same_request_once(
    db: str, receiver: Receiver
) -> None:
    [nid] = insert(db, 1)

    def crash(_: object) -> None:
        raise RuntimeError("worker killed after sending")

    with deliverer(db, settings(receiver.url), before_mark=crash) as d, pytest.raises(RuntimeError):
        d.deliver_pending()
    assert rows(db)[nid][:2] == (False, 0)  # the mark rolled back with the transaction
    with deliverer(db, settings(receiver.url)) as d:
        assert d.deliver_pending().delivered == [nid]
    first, second = receiver.hits
    # What lets the receiver drop the copy: same key, byte-identical body.
    assert first.headers[IDEMPOTENCY_HEADER.lower()] == second.headers[IDEMPOTENCY_HEADER.lower()]
    assert first.body == second.body


def test_email_arrives_with_derived_message_id_and_subject(
    db: str, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    [nid] = insert(db, 1, channel="EMAIL", kind="AT_RISK")
    with deliverer(db, settings(smtp_port=port)) as d:
        assert d.deliver_pending().delivered == [nid]
    [msg] = mailbox.messages
    # Python folds a long header onto a continuation line and its parser keeps the folding
    # space in the value; RFC 5322 unfolding makes it insignificant, hence strip().
    assert msg["Message-ID"].strip() == f"<{nid}@learnstream.test>"
    subject = "Training at risk of becoming overdue: learner learner-0, course course-7"
    assert msg["Subject"].strip() == subject
    assert msg["To"] == "mgr-0@example.test"
    assert msg["From"] == "notify@learnstream.test"
    assert msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content()
    assert str(nid) in body and "learner-0" in body and "percent: 12.5" in body
    assert rows(db)[nid][:3] == (True, 1, None)


def test_refused_email_recipient_is_failed_permanently(db: str, smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.refuse["mgr-0@example.test"] = "550 5.1.1 no such user"
    [nid] = insert(db, 1, channel="EMAIL")
    with deliverer(db, settings(smtp_port=port)) as d:
        assert d.deliver_pending().failed == [nid]
    assert mailbox.messages == []
    error = rows(db)[nid][2]
    assert error and error.startswith("permanent: recipient refused") and "550" in error


def test_unconfigured_channels_wait_and_unknown_channels_fail(db: str, receiver: Receiver) -> None:
    [email] = insert(db, 1, channel="EMAIL")
    [sms] = insert(db, 1, channel="SMS")
    with deliverer(db, settings(receiver.url)) as d:  # webhook only: no SMTP configured
        report = d.deliver_pending()
    assert report.failed == [sms] and report.claimed == 1
    assert rows(db)[email][:3] == (False, 0, None)
    assert rows(db)[sms][2] == "permanent: unsupported channel 'SMS'"
