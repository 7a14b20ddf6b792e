"""Prometheus metrics of the worker, served by Faust's web server at /metrics."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

EVENTS_PROCESSED = Counter(
    "learnstream_events_processed", "Events applied by an agent", ["agent"], registry=REGISTRY
)
EVENTS_SKIPPED = Counter(
    "learnstream_events_skipped",
    "Redelivered or duplicate events skipped",
    ["agent"],
    registry=REGISTRY,
)
EVENTS_FAILED = Counter(
    "learnstream_events_failed", "Events dead-lettered by an agent", ["agent"], registry=REGISTRY
)
DLQ_RECORDS = Counter(
    "learnstream_dlq_records",
    "Records written to a dead-letter topic",
    ["topic"],
    registry=REGISTRY,
)
DERIVED_EVENTS = Counter(
    "learnstream_derived_events",
    "Derived events written to the outbox",
    ["agent"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "learnstream_batch_duration_seconds",
    "Time to process one batch, retries included",
    ["agent"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_RETRIES = Counter(
    "learnstream_batch_retries", "Transient failures retried", ["agent"], registry=REGISTRY
)
CONSUMER_LAG = Gauge(
    "learnstream_consumer_lag",
    "High watermark minus next offset to process",
    ["topic", "partition"],
    registry=REGISTRY,
)
LAST_EVENT_TIME = Gauge(
    "learnstream_last_processed_event_time_seconds",
    "occurred_at of the newest processed event",
    ["agent"],
    registry=REGISTRY,
)
LAST_BATCH_AT = Gauge(
    "learnstream_last_batch_unixtime",
    "Wall time of the last committed batch",
    ["agent"],
    registry=REGISTRY,
)
STATE_CACHE_READS = Counter(
    "learnstream_state_cache_reads",
    "Learners a batch asked of a state cache: hit (the kept copy was current) or miss (read "
    "from Postgres: first touch, evicted, or written by someone else)",
    ["cache", "result"],
    registry=REGISTRY,
)
STATE_CACHE_LEARNERS = Gauge(
    "learnstream_state_cache_learners",
    "Learners kept in a state cache",
    ["cache"],
    registry=REGISTRY,
)
OUTBOX_SENT = Counter(
    "learnstream_outbox_sent", "Outbox rows published to Kafka", registry=REGISTRY
)


def mark_batch(agent: str) -> None:
    LAST_BATCH_AT.labels(agent).set(time.time())
