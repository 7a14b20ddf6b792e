"""Which failures are transient (retry, never skip) and which are permanent (dead-letter)."""

from __future__ import annotations

import psycopg
import redis
from confluent_kafka import KafkaException

from learnstream.serde import SchemaRegistryUnavailable


class InvalidContent(ValueError):
    """A decodable event that breaks a content rule: permanent, so it is dead-lettered."""


class TransientError(Exception):
    """Raised by handlers for a dependency that will likely answer later (HR 5xx, 429…)."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | SchemaRegistryUnavailable):
        return True
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return True
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        return bool(getattr(error, "retriable", lambda: True)())
    return False
