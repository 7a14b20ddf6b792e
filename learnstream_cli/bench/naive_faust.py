"""The naive progress job: one Faust agent, one event at a time, one Table update per event.

Run by `baselines.naive_faust_rate` in a process of its own; settings arrive in its
LEARNSTREAM_* environment (`child_env`). It times the first to the `--expected`-th event,
writes the result file and keeps running until the parent kills its process group.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import faust
from fastavro import schemaless_reader
from faust.types import StreamT

from learnstream.settings import Settings
from learnstream_cli.bench.baselines import HEADER, named_writers
from streams.app import broker_credentials, broker_urls

LEARNING = "org.learnstream.learning."
# Which counter an event bumps; graded attempts count only when passed.
COUNTERS = {
    "lesson.completed.v1": "lessons",
    "module.completed.v1": "modules",
    "video.progressed.v1": "videos",
    "assessment.submitted.v1": "submissions",
    "assessment.graded.v1": "assessments_passed",
    "grade.corrected.v1": "corrections",
    "enrollment.created.v1": "enrollments",
    "enrollment.cancelled.v1": "cancellations",
}


def build_app(settings: Settings, args: argparse.Namespace) -> faust.App:
    app = faust.App(
        args.app_id,  # fresh per run: a new consumer group and a new changelog topic
        broker=broker_urls(settings),
        broker_credentials=broker_credentials(settings),
        store="memory://",
        datadir=args.datadir,
        processing_guarantee="at_least_once",
        topic_partitions=args.partitions,  # the changelog must be co-partitioned with the input
        topic_replication_factor=settings.kafka_replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    progress = app.Table("progress", default=dict, partitions=args.partitions)
    source = app.topic(args.topic, key_serializer="raw", value_serializer="raw")
    writers = named_writers(settings)
    result_path = Path(args.result)
    expected: int = args.expected
    seen = 0
    began = 0.0

    @app.agent(source)
    async def naive_progress(stream: StreamT[bytes]) -> None:
        nonlocal seen, began
        async for value in stream:
            if seen == 0:
                began = time.perf_counter()
            name, writer = writers[value[2:HEADER]]
            record: Any = schemaless_reader(BytesIO(value[HEADER:]), writer, None)
            if name.startswith(LEARNING):
                kind = name.removeprefix(LEARNING)
                key = f"{record['learner_id']}:{record['course_id']}"
                state = progress[key]
                counter = COUNTERS.get(kind, "other")
                bump = kind != "assessment.graded.v1" or bool(record["passed"])
                progress[key] = {
                    **state,
                    counter: state.get(counter, 0) + int(bump),
                    "last_event_at": int(record["envelope"]["occurred_at"].timestamp() * 1000),
                }
            seen += 1
            if seen == expected:
                elapsed = time.perf_counter() - began
                partial = result_path.with_suffix(".partial")
                partial.write_text(json.dumps({"events": seen, "seconds": elapsed}))
                os.replace(partial, result_path)  # the parent never reads half a file

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    settings = Settings()  # from the parent's child_env
    app = build_app(settings, args)
    faust.Worker(app, loglevel="WARN", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
