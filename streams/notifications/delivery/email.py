"""Email channel: one plain-text message per notification over SMTP.

The message is a pure function of the row: the `Message-ID` is derived from the notification
id and the `Date` is the row's `created_at`, so a re-send after a crash between send and mark
is the *same* message, which receivers and mail clients de-duplicate by Message-ID.
The body holds ids and figures only; names live in the learner profile, not here.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from learnstream.sections import NotifySettings
from streams.notifications.delivery.base import (
    PendingNotification,
    PermanentDeliveryError,
    TransientDeliveryError,
    retrying,
)

AddressResolver = Callable[[str], str | None]

TITLES = {
    "CERTIFICATE_ISSUED": "Certificate issued",
    "COURSE_COMPLETED": "Course completed",
    "OVERDUE": "Training overdue",
    "AT_RISK": "Training at risk of becoming overdue",
    "RECERTIFICATION_REQUIRED": "Recertification required",
    "DIGEST": "Training digest",
}


def message_id(notification: PendingNotification, from_addr: str) -> str:
    # Kept short: a Message-ID header over 78 characters gets folded onto a continuation line.
    domain = from_addr.rpartition("@")[2] or "learnstream.invalid"
    return f"<{notification.notification_id}@{domain}>"


def subject(notification: PendingNotification) -> str:
    title = TITLES.get(notification.kind, notification.kind.replace("_", " ").capitalize())
    about = f"learner {notification.subject_learner_id}"
    if notification.course_id:
        about += f", course {notification.course_id}"
    return f"{title}: {about}"


def render_body(notification: PendingNotification) -> str:
    lines = [
        subject(notification),
        "",
        f"Kind:         {notification.kind}",
        f"Learner:      {notification.subject_learner_id}",
        f"Course:       {notification.course_id or '-'}",
        f"Created:      {notification.created_at.isoformat()}",
        f"Notification: {notification.notification_id}",
    ]
    if notification.payload:
        lines += ["", "Details:"]
        lines += [f"  {key}: {value}" for key, value in sorted(notification.payload.items())]
    lines += ["", "This message was sent automatically by learnstream; please do not reply."]
    return "\n".join(lines) + "\n"


def build_message(notification: PendingNotification, from_addr: str, to_addr: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = to_addr
    msg["Subject"] = subject(notification)
    msg["Date"] = format_datetime(notification.created_at)
    msg["Message-ID"] = message_id(notification, from_addr)
    # RFC 3834: stops out-of-office robots replying to (and looping with) a robot.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Learnstream-Notification-Id"] = str(notification.notification_id)
    msg.set_content(render_body(notification))
    return msg


def template_resolver(template: str) -> AddressResolver:
    return lambda recipient_id: template.format(recipient_id=recipient_id)


class EmailSender:
    def __init__(self, settings: NotifySettings, resolve_address: AddressResolver) -> None:
        if not settings.smtp_host:
            raise ValueError("email delivery needs smtp_host")
        self.settings = settings
        self.resolve_address = resolve_address

    def send(self, notification: PendingNotification) -> None:
        to_addr = self.resolve_address(notification.recipient_id)
        if not to_addr:
            raise PermanentDeliveryError(f"no email address for {notification.recipient_id}")
        msg = build_message(notification, self.settings.smtp_from, to_addr)
        for attempt in retrying(self.settings):
            with attempt:
                self._send_once(msg)

    def _send_once(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username and s.smtp_password is not None:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(min(codes), f"recipient refused: {exc.recipients}") from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _by_code(exc.smtp_code, f"{type(exc).__name__}: {exc}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # A configuration problem, not this message's: keep it retryable for when it's fixed.
            raise TransientDeliveryError(f"SMTP authentication failed: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # connect, disconnect, timeout, TLS
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _by_code(code: int, message: str) -> TransientDeliveryError | PermanentDeliveryError:
    # SMTP 4yz is a transient negative reply, 5yz a permanent one (RFC 5321 §4.2.1).
    if 400 <= code < 500:
        return TransientDeliveryError(message)
    return PermanentDeliveryError(message)
