"""Manager-notification delivery: sends rows of the `notifications` outbox by webhook or email.

The stream agent decides *what* to notify and inserts rows with `delivered = false`; this
package decides nothing, it only sends, retries and records (see deliverer.py for guarantees).
"""

from streams.notifications.delivery.base import (
    DeliveryError,
    PendingNotification,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from streams.notifications.delivery.deliverer import (
    DeliveryReport,
    NotificationDeliverer,
    status_of,
)
from streams.notifications.delivery.webhook import sign, verify_signature

__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "NotificationDeliverer",
    "PendingNotification",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "sign",
    "status_of",
    "verify_signature",
]
