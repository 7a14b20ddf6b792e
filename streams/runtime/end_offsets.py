"""End offsets (high watermarks) of topic partitions, from an admin client kept open."""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from learnstream.settings import Settings

PARTITIONS_TTL_S = 60.0


class EndOffsets:
    """High watermarks per partition, for callers that ask often (the due sweep's timer, the
    lane before each batch). One ListOffsets request per broker answers every partition at
    once, where a consumer's get_watermark_offsets asks twice per partition, one at a time.
    The client is kept: a new one per call costs the broker a connection and a metadata round
    trip. It has its own connection, too: a broker answers one request per connection at a
    time, so over a consumer's connection the question would wait behind a long-polling fetch.
    """

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin: AdminClient | None = None
        self._counts: dict[str, tuple[int, float]] = {}  # topic -> (partitions, when asked)

    def of(
        self, topics: list[str], partitions: dict[str, int] | None = None
    ) -> dict[tuple[str, int], int]:
        """Per partition of `topics`; `partitions` (topic -> count) skips the metadata call."""
        if self._admin is None:
            self._admin = AdminClient(self.settings.kafka_client_config())
        try:
            counts = partitions or {topic: self._partitions(topic) for topic in topics}
            wanted = {
                TopicPartition(topic, p): OffsetSpec.latest()
                for topic in topics
                for p in range(counts[topic])
            }
            if not wanted:
                return {}
            futures = self._admin.list_offsets(wanted, request_timeout=self.timeout_s)
            return {
                (tp.topic, tp.partition): future.result(timeout=self.timeout_s).offset
                for tp, future in futures.items()
            }
        except BaseException:
            # A client that failed is replaced at the next call: after a broker was killed and
            # restarted, a kept client failed every call for 12 minutes (the reliability suite)
            # where a new one answered at once, and the lanes waiting on it stood still.
            self.close()
            raise

    def _partitions(self, topic: str) -> int:
        """The topic's partition count, asked about that topic alone (metadata of every topic
        on a shared cluster can be megabytes per answer) and kept for a minute."""
        now = time.monotonic()
        known = self._counts.get(topic)
        if known is None or now - known[1] > PARTITIONS_TTL_S:
            assert self._admin is not None
            metadata = self._admin.list_topics(topic=topic, timeout=self.timeout_s)
            known = self._counts[topic] = (len(metadata.topics[topic].partitions), now)
        return known[0]

    def close(self) -> None:
        self._admin = None  # the admin client has no close(); dropping it ends its threads
