"""Two reference rates for the pipeline bench, measured on records already in Kafka:

* `raw_consume_rate`: confluent-kafka batches + bare fastavro decode, nothing else. No
  Python consumer in one process can beat it, so it is the ceiling the pipeline is held to.
* `naive_faust_rate`: the progress job written the way the Faust docs suggest (one agent,
  one Table update per event), in its own worker process: the floor a plain design gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from fastavro import schemaless_reader

from learnstream.infra.process import stop_process_group
from learnstream.serde import SchemaStore
from learnstream.settings import Settings, child_env

HEADER = 10  # C3 01 + 8-byte fingerprint (Avro single-object encoding)


def named_writers(settings: Settings) -> dict[bytes, tuple[str, Any]]:
    """Fingerprint -> (event name, parsed writer schema), current and historical, built before
    any timing."""
    store = SchemaStore(settings.schema_dir)
    writers = dict(store.history_writers)
    writers.update({store.fingerprints[name]: (name, store.parsed[name]) for name in store.names()})
    return writers


def writer_schemas(settings: Settings) -> dict[bytes, Any]:
    """Fingerprint -> parsed writer schema: the raw loop indexes it once per record."""
    return {fp: parsed for fp, (_, parsed) in named_writers(settings).items()}


def _result(events: int, seconds: float) -> dict[str, float]:
    return {
        "events": float(events),
        "seconds": seconds,
        "events_per_s": events / seconds if seconds > 0 else 0.0,
    }


def raw_consume_rate(
    settings: Settings, topics: list[str], expected: int, timeout_s: float = 300
) -> dict[str, float]:
    """confluent-kafka consume + fastavro schemaless decode of already-published records: the
    ceiling for one Python process."""
    writers = writer_schemas(settings)
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.topic('bench.raw')}.{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    decoded = 0
    began: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while decoded < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"raw consume: {decoded} of {expected} records from {topics} "
                    f"in {timeout_s:.0f} s"
                )
            # Never ask for more than is left: consume() waits out its timeout for a
            # batch it cannot fill, and that wait would be billed as decode time.
            batch = consumer.consume(num_messages=min(1000, expected - decoded), timeout=0.5)
            if batch and began is None:
                began = time.perf_counter()  # group join and first fetch are not throughput
            for message in batch:
                value = message.value()
                if message.error() is not None or value is None:
                    continue  # errors and tombstones are not events; they must not count
                schemaless_reader(BytesIO(value[HEADER:]), writers[value[2:HEADER]], None)
                decoded += 1
        elapsed = time.perf_counter() - (began or time.perf_counter())
    finally:
        consumer.close()
    return _result(decoded, elapsed)


def partition_count(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "learnstream_cli.bench"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic}: {metadata.error}")
        return len(metadata.partitions)
    finally:
        consumer.close()


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def naive_faust_rate(
    settings: Settings, topic: str, expected: int, workdir: Path, timeout_s: float = 900
) -> dict[str, float]:
    """A naive Faust worker doing the progress job with one Table update per event."""
    workdir.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:10]
    result_path = workdir / f"naive-faust-{run}.json"
    log_path = workdir / f"naive-faust-{run}.log"
    command = [
        sys.executable,
        "-m",
        "learnstream_cli.bench.naive_faust",
        "--topic",
        topic,
        "--expected",
        str(expected),
        "--partitions",
        str(partition_count(settings, topic)),
        "--app-id",
        f"{settings.topic('bench.naive')}.{run}",
        "--datadir",
        str(workdir / f"naive-faust-{run}-data"),
        "--result",
        str(result_path),
    ]
    env = {**os.environ, **child_env(settings)}  # secrets too: the child needs real ones
    result = run_until_result(command, env, workdir, result_path, log_path, timeout_s)
    return _result(int(result["events"]), float(result["seconds"]))


def run_until_result(
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    result_path: Path,
    log_path: Path,
    timeout_s: float,
) -> dict[str, float]:
    """Run a peer in its own process group until it writes its result file; then stop it."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    what = Path(command[1]).name if command[1] != "-m" else command[2]
    try:
        while not result_path.exists():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{what} exited with {proc.returncode} before its result; "
                    f"log {log_path}:\n{_log_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what} gave no result in {timeout_s:.0f} s; "
                    f"log {log_path}:\n{_log_tail(log_path)}"
                )
            time.sleep(0.2)
        result: dict[str, float] = json.loads(result_path.read_text())
    finally:
        stop_process_group(proc, 10.0)
    return result
