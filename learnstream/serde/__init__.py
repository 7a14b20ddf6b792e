"""Avro encoding and decoding of learnstream events (ADR 0002)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from learnstream.serde.errors import (
    InvalidRecordError,
    SerdeError,
    UndecodableError,
    UnknownSchemaError,
)
from learnstream.serde.registry import RegistryFraming, SchemaRegistryUnavailable
from learnstream.serde.schema_store import SchemaStore
from learnstream.serde.wire import AvroSerde
from learnstream.settings import Settings

__all__ = [
    "AvroSerde",
    "InvalidRecordError",
    "RegistryFraming",
    "SchemaRegistryUnavailable",
    "SchemaStore",
    "SerdeError",
    "UndecodableError",
    "UnknownSchemaError",
    "build_serde",
]


@lru_cache(maxsize=8)
def _store(schema_dir: str) -> SchemaStore:
    return SchemaStore(Path(schema_dir))


def build_serde(settings: Settings) -> AvroSerde:
    """Confluent framing when a registry is configured, single-object encoding otherwise."""
    store = _store(str(settings.schema_dir))
    registry = (
        RegistryFraming.from_url(settings.schema_registry_url, store)
        if settings.schema_registry_url
        else None
    )
    return AvroSerde(store, registry)
