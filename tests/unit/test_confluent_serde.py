"""The Confluent wire format through confluent-kafka's own registry client and serializers.

The registry is a test double (tests/support/registry_double.py) because the real one cannot
run on this machine; the client, its caching and the serializers are the real library.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from learnstream.events import make_envelope
from learnstream.serde import (
    AvroSerde,
    RegistryFraming,
    SchemaRegistryUnavailable,
    SchemaStore,
    UndecodableError,
    UnknownSchemaError,
)
from learnstream.settings import Settings
from tests.support.registry_double import running_registry

EVENT = "org.learnstream.learning.lesson.completed.v1"
store = SchemaStore(Settings().schema_dir)


def _record(**extra: Any) -> dict[str, Any]:
    envelope = make_envelope(
        EVENT,
        tenant_id="acme",
        source="/tests",
        occurred_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    return {
        "envelope": envelope,
        "learner_id": "l-7",
        "course_id": "c-1",
        "module_id": None,
        "lesson_id": "lesson-3",
        "time_spent_seconds": 42.5,
        **extra,
    }


@pytest.fixture(scope="module")
def registry() -> Any:
    with running_registry() as (url, state):
        yield url, state


def test_confluent_frame_round_trip(registry: tuple[str, dict[str, Any]]) -> None:
    url, state = registry
    serde = AvroSerde(store, RegistryFraming.from_url(url, store))
    data = serde.encode(EVENT, _record())
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id in state["schemas"]
    name, decoded = serde.decode(data)
    assert name == EVENT and decoded["lesson_id"] == "lesson-3"
    assert decoded["time_spent_seconds"] == 42.5

    requests_before = state["requests"]
    for _ in range(50):  # ids are cached: the registry is not asked per message
        serde.decode(serde.encode(EVENT, _record()))
    assert state["requests"] == requests_before


def test_a_fresh_consumer_resolves_the_id_from_the_registry(
    registry: tuple[str, dict[str, Any]],
) -> None:
    url, _ = registry
    data = AvroSerde(store, RegistryFraming.from_url(url, store)).encode(EVENT, _record())
    consumer_side = AvroSerde(store, RegistryFraming.from_url(url, store))  # empty caches
    assert consumer_side.decode(data)[1]["learner_id"] == "l-7"


def test_interoperates_with_confluent_kafkas_avro_serializers(
    registry: tuple[str, dict[str, Any]],
) -> None:
    url, _ = registry
    client = SchemaRegistryClient({"url": url})
    schema_str = json.dumps(store.raw[EVENT])
    ctx = SerializationContext("learning.activity", MessageField.VALUE)
    ours = AvroSerde(store, RegistryFraming.from_url(url, store))

    theirs = AvroDeserializer(client, schema_str)(ours.encode(EVENT, _record()), ctx)
    assert theirs is not None and theirs["lesson_id"] == "lesson-3"

    serializer = AvroSerializer(
        client,
        schema_str,
        conf={"auto.register.schemas": True, "subject.name.strategy": lambda _ctx, name: name},
    )
    record = _record()
    record["envelope"]["event_id"] = str(record["envelope"]["event_id"])
    name, decoded = ours.decode(serializer(record, ctx))
    assert name == EVENT and decoded["learner_id"] == "l-7"


def test_unknown_id_and_missing_registry_are_typed_errors(
    registry: tuple[str, dict[str, Any]],
) -> None:
    url, _ = registry
    serde = AvroSerde(store, RegistryFraming.from_url(url, store))
    with pytest.raises(UnknownSchemaError, match="9999"):
        serde.decode(b"\x00" + (9999).to_bytes(4, "big") + b"\x02")
    with pytest.raises(UndecodableError, match="truncated"):
        serde.decode(b"\x00\x00\x01")
    framed = serde.encode(EVENT, _record())
    with pytest.raises(UnknownSchemaError, match="no registry"):
        AvroSerde(store).decode(framed)


def test_registry_down_is_transient_not_a_dead_letter() -> None:
    with running_registry() as (url, _):
        pass  # the port is closed again now
    serde = AvroSerde(store, RegistryFraming.from_url(url, store))
    with pytest.raises(SchemaRegistryUnavailable):
        serde.encode(EVENT, _record())


def test_old_single_object_data_resolves_into_the_new_schema(tmp_path: Path) -> None:
    """A compatible change (an added optional field) keeps old frames decodable."""
    schema_dir = tmp_path / "avro"
    shutil.copytree(Settings().schema_dir, schema_dir)
    old_data = AvroSerde(SchemaStore(schema_dir)).encode(EVENT, _record())

    path = schema_dir / f"{EVENT}.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append(
        {
            "name": "device",
            "type": ["null", "string"],
            "default": None,
            "doc": "Client device class.",
        }
    )
    path.write_text(json.dumps(schema))
    (schema_dir / "history" / EVENT / "2.avsc").write_text(json.dumps(schema))

    new_serde = AvroSerde(SchemaStore(schema_dir))
    name, decoded = new_serde.decode(old_data)
    assert name == EVENT and decoded["device"] is None and decoded["lesson_id"] == "lesson-3"
    assert new_serde.decode(new_serde.encode(EVENT, _record(device="tablet")))[1]["device"] == (
        "tablet"
    )
