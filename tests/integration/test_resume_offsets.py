"""Where a Faust agent resumes on assignment, from the offsets real Postgres holds: a partition
the agent never applied anything of starts from its earliest offset, not from the offset Kafka
has committed for the group (which a killed worker may have acked past unapplied records)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import NamedTuple

import psycopg
import pytest
from sqlalchemy.engine import make_url

from learnstream.runtime.resume import seek_to_applied
from sinks.database import upgrade

pytestmark = pytest.mark.integration

CERTS, OTHER = "credential.certificate", "somebody.elses"


class TP(NamedTuple):  # the shape of Faust's TP
    topic: str
    partition: int


class RecordingConsumer:
    """Records seeks. The log's earliest offsets are given, as retention may have moved them."""

    def __init__(self, earliest: dict[TP, int]) -> None:
        self.earliest, self.seeks = earliest, {}  # type: ignore[var-annotated]

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.earliest[tp] for tp in partitions}

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks[tp] = offset


@pytest.fixture
def connect(pg_url: str) -> Iterator[object]:
    upgrade(url=make_url(pg_url).set(drivername="postgresql+psycopg").render_as_string(False))
    yield lambda: psycopg.connect(pg_url)


def test_partitions_without_applied_offsets_resume_from_the_start(connect) -> None:  # type: ignore[no-untyped-def]
    with connect() as conn:
        conn.execute(
            "INSERT INTO stream_offsets (consumer, topic, partition, next_offset) "
            "VALUES ('hr_sync', %s, 0, 42)",
            (CERTS,),
        )
    assigned = {TP(CERTS, 0), TP(CERTS, 1), TP(CERTS, 5), TP(OTHER, 0)}
    consumer = RecordingConsumer({TP(CERTS, 1): 0, TP(CERTS, 5): 7})

    asyncio.run(seek_to_applied(consumer, connect, {CERTS: ["hr_sync"]}, assigned))

    assert consumer.seeks == {
        TP(CERTS, 0): 42,  # where Postgres says hr_sync stands
        TP(CERTS, 1): 0,  # nothing applied: from the start, whatever Kafka committed
        TP(CERTS, 5): 7,  # from the start that retention left
    }  # and a topic no agent of ours stores offsets for is left alone
