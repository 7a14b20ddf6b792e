"""Where a Faust agent resumes after an assignment: Postgres's applied offsets, never Kafka's."""

from __future__ import annotations

import asyncio
from typing import Any

from learnstream.log import get_logger
from learnstream.runtime import ledger

log = get_logger(__name__)


async def seek_to_applied(
    consumer: Any, connect: Any, consumers_by_topic: dict[str, list[str]], assigned: set[Any]
) -> None:
    """Postgres holds the offsets that were really applied. Kafka's committed offset can be
    ahead of them (Faust acks a batch whose body was cancelled), so resume from Postgres."""

    def read() -> dict[tuple[str, int], int]:
        stored: dict[tuple[str, int], int] = {}
        with connect() as conn:
            for topic, consumers in consumers_by_topic.items():
                for (t, p), offset in ledger.stored_offsets(conn, consumers).items():
                    if t == topic:
                        stored[(t, p)] = offset
        return stored

    stored = await asyncio.to_thread(read)
    # No row: nothing was applied there, so from the start. Kafka's committed offset may have
    # been acked past records a killed worker never applied (two certificates never reached HR
    # in the full-size reliability run).
    unapplied = [
        tp
        for tp in assigned
        if tp.topic in consumers_by_topic and (tp.topic, tp.partition) not in stored
    ]
    earliest = await consumer.earliest_offsets(*unapplied) if unapplied else {}
    for tp in assigned:
        offset = stored.get((tp.topic, tp.partition), earliest.get(tp))
        if offset is not None:
            await consumer.seek(tp, offset)
            log.info("partition.resume", topic=tp.topic, partition=tp.partition, offset=offset)
