"""Which failures are transient (retry, never skip) and which are permanent (dead-letter)."""

from __future__ import annotations

import psycopg
import redis
from confluent_kafka import KafkaError, KafkaException

from learnstream.errors import PermanentError, TransientError

# Cluster states that pass (a leader being elected, a coordinator loading, a topic just made).
# The admin client reports them per partition without librdkafka's retriable flag: a lane's
# table barrier asked for end offsets during a leader election and stopped its member.
PASSING_KAFKA_STATES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)


class InvalidContent(PermanentError, ValueError):
    """A decodable event that breaks a content rule: permanent, so it is dead-lettered."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):  # the registry's outage is one too
        return True
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return True
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in PASSING_KAFKA_STATES:
            return True
        return bool(getattr(error, "retriable", lambda: True)())
    return False
