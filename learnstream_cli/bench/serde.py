"""Serde throughput: our framing (single-object encoding) against bare fastavro, same events."""

from __future__ import annotations

import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from learnstream.serde import AvroSerde, SchemaStore
from learnstream.settings import Settings
from learnstream.simulate import generate


def _rate(work: Callable[[], int], repeat: int = 3) -> float:
    """Best of `repeat` runs, in events per second."""
    best = 0.0
    for _ in range(repeat):
        began = time.perf_counter()
        count = work()
        best = max(best, count / (time.perf_counter() - began))
    return best


def run_serde_bench(settings: Settings, learners: int = 500, seed: int = 1) -> dict[str, Any]:
    events = generate(learners=learners, courses=10, days=30, seed=seed)
    store = SchemaStore(settings.schema_dir)
    serde = AvroSerde(store)
    pairs = [(e.event_name, e.record) for e in events]
    schemas = {name: store.schema(name) for name, _ in pairs}

    def raw_encode() -> int:
        for name, record in pairs:
            schemaless_writer(BytesIO(), schemas[name], record)
        return len(pairs)

    bodies = []
    for name, record in pairs:
        out = BytesIO()
        schemaless_writer(out, schemas[name], record)
        bodies.append((name, out.getvalue()))

    def raw_decode() -> int:
        for name, body in bodies:
            schemaless_reader(BytesIO(body), schemas[name], None)
        return len(bodies)

    frames = [serde.encode(name, record) for name, record in pairs]

    def our_encode() -> int:
        for name, record in pairs:
            serde.encode(name, record)
        return len(pairs)

    def our_decode() -> int:
        for frame in frames:
            serde.decode(frame)
        return len(frames)

    def our_decode_many() -> int:
        # In the worker's batch size: results live until the batch is applied.
        decoded = 0
        for i in range(0, len(frames), 1000):
            decoded += len(serde.decode_many(frames[i : i + 1000]))
        return decoded

    rates = {
        "fastavro schemaless encode (baseline)": _rate(raw_encode),
        "AvroSerde.encode (single-object)": _rate(our_encode),
        "fastavro schemaless decode (baseline)": _rate(raw_decode),
        "AvroSerde.decode (format detection + lookup)": _rate(our_decode),
        "AvroSerde.decode_many (batches of 1000)": _rate(our_decode_many),
    }
    return {"events": len(pairs), "rates": rates}
