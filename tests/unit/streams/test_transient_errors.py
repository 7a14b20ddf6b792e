"""Which Kafka failures the runtime retries (transient) and which it treats as permanent."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from learnstream.runtime.errors import is_transient


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.NOT_LEADER_FOR_PARTITION,  # a leader election, as the admin client reports it
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,  # a topic just made, its metadata still spreading
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError._TRANSPORT,
    ],
)
def test_passing_cluster_states_are_retried_without_the_retriable_flag(code: int) -> None:
    error = KafkaError(code, "as a per-partition admin result", retriable=False)
    assert is_transient(KafkaException(error))


def test_a_permanent_kafka_error_is_not_retried() -> None:
    error = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied", retriable=False)
    assert not is_transient(KafkaException(error))


def test_the_retriable_flag_still_counts_for_other_codes() -> None:
    error = KafkaError(KafkaError.NOT_ENOUGH_REPLICAS, "min.insync.replicas", retriable=True)
    assert is_transient(KafkaException(error))
