"""Avro on the wire. The first byte tells the format, so one decoder reads both:

* `C3 01` + 8-byte CRC-64-AVRO fingerprint + body: Avro single-object encoding (the Avro spec's
  own format), used with the repository's schemas when no Schema Registry is configured;
* `00` + 4-byte big-endian schema id + body: Confluent's wire format (registry required).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError

from learnstream.serde.errors import InvalidRecordError, UndecodableError, UnknownSchemaError
from learnstream.serde.schema_store import SchemaStore

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
_SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8


class AvroSerde:
    def __init__(self, store: SchemaStore) -> None:
        self.store = store

    def encode(self, event_name: str, record: dict[str, Any]) -> bytes:
        schema = self.store.schema(event_name)
        out = BytesIO()
        out.write(SINGLE_OBJECT_MAGIC)
        out.write(self.store.fingerprints[event_name])
        try:
            schemaless_writer(out, schema, record, strict_allow_default=True)
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidRecordError(f"{event_name}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """Return (event name, record); raise a SerdeError for anything unreadable."""
        if not data:
            raise UndecodableError("empty message value")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < _SINGLE_OBJECT_HEADER:
                raise UndecodableError(f"truncated single-object header ({len(data)} bytes)")
            name = self.store.name_for_fingerprint(bytes(data[2:_SINGLE_OBJECT_HEADER]))
            return name, self._read(name, data, _SINGLE_OBJECT_HEADER)
        if data[0] == CONFLUENT_MAGIC:
            raise UnknownSchemaError("Confluent-framed record but no schema registry is configured")
        raise UndecodableError(f"unknown magic byte 0x{data[0]:02x}")

    def _read(self, name: str, data: bytes, offset: int) -> dict[str, Any]:
        buffer = BytesIO(data)
        buffer.seek(offset)
        schema = self.store.schema(name)
        try:
            record = schemaless_reader(buffer, schema, None)
        except (EOFError, StopIteration, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise UndecodableError(f"{name}: body is not valid Avro ({exc!r})") from exc
        if buffer.tell() != len(data):
            raise UndecodableError(f"{name}: {len(data) - buffer.tell()} trailing bytes")
        return record  # type: ignore[return-value]
