"""Avro encoding and decoding of learnstream events."""

from learnstream.serde.errors import (
    InvalidRecordError,
    SerdeError,
    UndecodableError,
    UnknownSchemaError,
)
from learnstream.serde.schema_store import SchemaStore
from learnstream.serde.wire import AvroSerde

__all__ = [
    "AvroSerde",
    "InvalidRecordError",
    "SchemaStore",
    "SerdeError",
    "UndecodableError",
    "UnknownSchemaError",
]
