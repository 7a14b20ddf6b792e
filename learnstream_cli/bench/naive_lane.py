"""Peer (h): the naive progress job of (f) and (g) on learnstream's own engine.

The same per-(learner, course) counters, run by the fast lane (streams/lane.py) with a trivial
handler under the real runtime (learnstream/runtime): batches from confluent-kafka, the serde's
decode, the effectively-once ledger (offsets and processed markers) and the counters written
back once per batch, coalesced per key, in the batch's Postgres transaction. It compares the
engine with Quix Streams (g) on identical work: durable per-key state, at least once.

Run by `baselines.naive_lane_rate` in a process of its own; settings arrive in its
LEARNSTREAM_* environment (`child_env`). It times the first batch to the `--expected`-th event,
writes the result file and keeps running until the parent kills its process group.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.processor import BatchProcessor, BatchStats
from learnstream.runtime.records import Event, Outbound
from learnstream.serde import build_serde
from learnstream.settings import Settings
from learnstream_cli.bench.naive_faust import COUNTERS, LEARNING
from streams.lane import FastLane

TABLE = "bench_naive_progress"


class NaiveCounters(BaseHandler):
    """The trivial handler: counters in memory, the touched keys upserted once per batch. It
    trusts its input (no `validate`), as (f) and (g) do."""

    consumer = "bench_naive"
    logical_types = False  # timestamps as epoch ms: the counters need nothing richer

    def __init__(self) -> None:
        self.state: dict[str, dict[str, int]] = {}  # committed
        self.pending: dict[str, dict[str, int]] = {}  # this batch's, until it commits

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        touched: dict[str, dict[str, int]] = {}
        for event in events:
            if not event.name.startswith(LEARNING):
                continue
            record, kind = event.record, event.name.removeprefix(LEARNING)
            key = f"{record['learner_id']}:{record['course_id']}"
            # From the committed counters: a key lives in one isolation group per attempt,
            # so a retried batch recomputes exactly what it wrote before.
            state = touched.get(key) or dict(self.state.get(key, {}))
            counter = COUNTERS.get(kind, "other")
            bump = kind != "assessment.graded.v1" or bool(record["passed"])
            state[counter] = state.get(counter, 0) + int(bump)
            state["last_event_at"] = record["envelope"]["occurred_at"]
            touched[key] = state
        if touched:
            # One JSON document per batch, as the pipeline's stores write (ADR 0010).
            conn.execute(
                f"INSERT INTO {TABLE} (key, state) SELECT key, value FROM jsonb_each(%s::jsonb) "
                "ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state",
                (orjson.dumps(touched).decode(),),
            )
        self.pending.update(touched)
        return []

    def committed(self) -> None:
        self.state.update(self.pending)
        self.pending = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--dlq", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    settings = Settings()  # from the parent's child_env

    def connect() -> psycopg.Connection:
        return psycopg.connect(settings.postgres_url, autocommit=False, connect_timeout=5)

    with connect() as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, state jsonb)")
    result_path = Path(args.result)
    seen, began = 0, 0.0

    def on_committed(stats: BatchStats) -> None:
        nonlocal seen
        handler.committed()
        seen += stats.received
        if seen >= args.expected and not result_path.exists():
            elapsed = time.perf_counter() - began
            partial = result_path.with_suffix(".partial")
            partial.write_text(json.dumps({"events": seen, "seconds": elapsed}))
            os.replace(partial, result_path)  # the parent never reads half a file

    handler = NaiveCounters()
    processor = BatchProcessor(
        settings, build_serde(settings), handler, args.dlq, connect, on_committed=on_committed
    )
    original = processor.process

    def timed(records: Any) -> BatchStats:
        nonlocal began
        if began == 0.0:
            began = time.perf_counter()  # group join and first fetch are not throughput
        return original(records)

    processor.process = timed  # type: ignore[method-assign]
    lane = FastLane(settings, f"bench-naive-{args.run}", [args.topic], [processor], connect)
    lane.run(threading.Event())


if __name__ == "__main__":
    main()
