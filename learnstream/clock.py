"""Event-time constants of the domain rules, shared by the oracle and the stream processors."""

from __future__ import annotations

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Clients deliver late (offline apps, retries). A time-based decision (OVERDUE, AT_RISK) is
# taken once the event-time watermark is this far past its threshold, so late events that
# happened before the threshold are still counted.
ALLOWED_LATENESS_MS = 6 * HOUR_MS
AT_RISK_WINDOW_MS = 7 * DAY_MS
AT_RISK_PERCENT = 50.0
