from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from learnstream.events import ce_headers, make_envelope
from learnstream.serde import (
    AvroSerde,
    SchemaStore,
    SerdeError,
    UndecodableError,
    UnknownSchemaError,
)
from learnstream.settings import Settings

EVENT = "org.learnstream.learning.module.completed.v1"
serde = AvroSerde(SchemaStore(Settings().schema_dir))


def _record() -> dict:
    envelope = make_envelope(
        EVENT,
        tenant_id="acme",
        source="/tests",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )
    return {"envelope": envelope, "learner_id": "l-1", "course_id": "c-1", "module_id": "m-1"}


def test_round_trip_keeps_every_field() -> None:
    record = _record()
    name, decoded = serde.decode(serde.encode(EVENT, record))
    assert name == EVENT
    assert decoded["envelope"]["event_id"] == uuid.UUID(record["envelope"]["event_id"])
    assert decoded["envelope"]["occurred_at"] == record["envelope"]["occurred_at"]
    assert {k: decoded[k] for k in ("learner_id", "course_id", "module_id")} == {
        "learner_id": "l-1",
        "course_id": "c-1",
        "module_id": "m-1",
    }


def test_frame_is_the_avro_single_object_encoding() -> None:
    data = serde.encode(EVENT, _record())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == serde.store.fingerprints[EVENT]
    # CRC-64-AVRO of the same canonical form, computed independently of fastavro's helper.
    poly, fp = 0xC15D213AA4D7A795, 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        value = i
        for _ in range(8):
            value = (value >> 1) ^ (poly & -(value & 1))
        table.append(value)
    for byte in serde.store.canonical[EVENT].encode():
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    assert data[2:10] == fp.to_bytes(8, "little")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UndecodableError),
        (b"\x7fgarbage", UndecodableError),
        (b"\xc3\x01\x00\x01", UndecodableError),
        (b"\xc3\x01" + b"\xff" * 8 + b"body", UnknownSchemaError),
    ],
)
def test_bad_bytes_raise_a_typed_error(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        serde.decode(data)


def test_truncated_body_is_undecodable() -> None:
    data = serde.encode(EVENT, _record())
    with pytest.raises(UndecodableError):
        serde.decode(data[:-4])


def test_cloudevents_headers_mirror_the_envelope() -> None:
    envelope = _record()["envelope"]
    headers = dict(ce_headers(envelope))
    assert headers["ce_id"] == envelope["event_id"].encode()
    assert headers["ce_type"] == EVENT.encode()
    assert headers["ce_specversion"] == b"1.0"
    ce_time = headers["ce_time"]
    assert isinstance(ce_time, bytes)
    assert ce_time.startswith(b"2026-01-02T03:04:05.678")


def test_decoding_without_logical_types_gives_epoch_ms_and_the_same_fields() -> None:
    """The fast path (handlers with logical_types = False) reads the same record, with
    timestamps as epoch ms and uuids as strings; a bad event id is still refused."""
    from io import BytesIO

    from fastavro import schemaless_writer

    from learnstream import ids
    from learnstream.sdk import ModuleCompleted

    event = ModuleCompleted.new(
        tenant_id="acme", source="/lms", learner_id="l-1", course_id="c-1", module_id="m-1"
    )
    data = serde.encode(event.EVENT_NAME, event.to_avro())
    [result] = serde.decode_many([data], logical_types=False)
    assert not isinstance(result, SerdeError), result
    name, plain = result
    _, rich = serde.decode(data)
    assert name == event.EVENT_NAME
    assert plain["envelope"]["occurred_at"] == ids.epoch_ms(rich["envelope"]["occurred_at"])
    assert plain["envelope"]["event_id"] == str(rich["envelope"]["event_id"])
    assert {k: v for k, v in plain.items() if k != "envelope"} == {
        k: v for k, v in rich.items() if k != "envelope"
    }
    broken = event.to_avro()
    broken["envelope"]["event_id"] = "not-a-uuid"
    schema = serde.store.plain_writers[serde.store.fingerprints[event.EVENT_NAME]][1]
    out = BytesIO()
    out.write(b"\xc3\x01" + serde.store.fingerprints[event.EVENT_NAME])
    schemaless_writer(out, schema, {**broken, "envelope": {**broken["envelope"],
                      "occurred_at": 0}})  # fmt: skip
    [error] = serde.decode_many([out.getvalue()], logical_types=False)
    assert isinstance(error, UndecodableError)
