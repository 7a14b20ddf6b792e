"""Producer settings every learnstream producer shares."""

from __future__ import annotations

from typing import Any

from learnstream.settings import Settings

# Idempotent, fully acknowledged, and partitioned like the Java client and aiokafka (murmur2),
# so a learner's records land on the same partition whoever produces them.
PRODUCER_DEFAULTS: dict[str, str | int | float | bool] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "partitioner": "murmur2_random",
}


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return {**settings.kafka_client_config(), **PRODUCER_DEFAULTS, **overrides}
