"""Peer (g): the naive progress job of (f) written in Quix Streams, with its RocksDB state and
changelog topic, at least once.

This file runs in a virtualenv of its own (`baselines.quix_rate` makes it): Quix Streams pins
confluent-kafka below the version learnstream runs, and the peer must not change the project's
Kafka client. So it imports nothing from learnstream: the writer schemas (fingerprint -> (event
name, parsing canonical form)) and the counters of (f) arrive in a JSON file the parent builds
before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader
from quixstreams import Application, State
from quixstreams.models.serializers import Deserializer

HEADER = 10  # C3 01 + 8-byte fingerprint (Avro single-object encoding)
LEARNING = "org.learnstream.learning."


class SingleObjectAvro(Deserializer):
    def __init__(self, writers: dict[bytes, tuple[str, Any]]) -> None:
        super().__init__()
        self.writers = writers

    def __call__(self, value: bytes, ctx: Any) -> Any:
        name, writer = self.writers[value[2:HEADER]]
        return {"name": name, "record": schemaless_reader(BytesIO(value[HEADER:]), writer, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--brokers", "--topic", "--group", "--state-dir", "--schemas", "--result"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--expected", type=int, required=True)
    args = parser.parse_args()
    spec = json.loads(Path(args.schemas).read_text())
    writers = {
        bytes.fromhex(fp): (name, parse_schema(json.loads(canonical)))
        for fp, (name, canonical) in spec["writers"].items()
    }
    counters_of: dict[str, str] = spec["counters"]  # event kind -> counter, as (f) counts
    app = Application(
        broker_address=args.brokers,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        processing_guarantee="at-least-once",
        use_changelog_topics=True,
    )
    topic = app.topic(
        args.topic, key_deserializer="bytes", value_deserializer=SingleObjectAvro(writers)
    )
    result_path = Path(args.result)
    seen, began = 0, 0.0

    def count(value: dict[str, Any], state: State) -> None:
        nonlocal seen, began
        if seen == 0:
            began = time.perf_counter()
        name, record = value["name"], value["record"]
        if name.startswith(LEARNING):
            kind = name.removeprefix(LEARNING)
            course = record["course_id"]  # state is per message key (the learner)
            counters = dict(state.get(course, {}))
            counter = counters_of.get(kind, "other")
            bump = kind != "assessment.graded.v1" or bool(record["passed"])
            counters[counter] = counters.get(counter, 0) + int(bump)
            counters["last_event_at"] = record["envelope"]["occurred_at"]
            state.set(course, counters)
        seen += 1
        if seen == args.expected:
            partial = result_path.with_suffix(".partial")
            partial.write_text(json.dumps({"events": seen, "seconds": time.perf_counter() - began}))
            os.replace(partial, result_path)  # the parent never reads half a file

    app.dataframe(topic).update(count, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
