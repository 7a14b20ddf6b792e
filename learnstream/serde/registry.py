"""Confluent Schema Registry framing: `00` + 4-byte big-endian schema id + Avro body.

Subjects follow Confluent's RecordNameStrategy (the record's full name), because one topic
carries several event types (ADR 0003). Ids are cached both ways: the registry is asked
once per schema per process, never per message.
"""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema

from learnstream.errors import TransientError
from learnstream.serde.errors import UnknownSchemaError
from learnstream.serde.schema_store import SchemaStore


class SchemaRegistryUnavailable(TransientError):
    """Transient: the registry did not answer. Retry; never dead-letter for this."""


def record_full_name(schema: dict[str, Any]) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


class RegistryFraming:
    def __init__(self, client: SchemaRegistryClient, store: SchemaStore) -> None:
        self.client = client
        self.store = store
        self._id_by_event: dict[str, int] = {}
        self._writer_by_id: dict[int, tuple[str, Any]] = {}
        self._event_by_record = {record_full_name(raw): name for name, raw in store.raw.items()}

    @classmethod
    def from_url(cls, url: str, store: SchemaStore) -> RegistryFraming:
        return cls(SchemaRegistryClient({"url": url}), store)

    def schema_id(self, event_name: str) -> int:
        """Register (idempotent on the registry side) and cache the id of our current schema."""
        cached = self._id_by_event.get(event_name)
        if cached is not None:
            return cached
        raw = self.store.raw[event_name]
        subject = record_full_name(raw)
        try:
            schema_id = self.client.register_schema(subject, Schema(json.dumps(raw), "AVRO"))
        except SchemaRegistryError as exc:
            if exc.http_status_code >= 500 or exc.http_status_code < 0:
                raise SchemaRegistryUnavailable(str(exc)) from exc
            raise
        except Exception as exc:  # connection refused, timeouts
            raise SchemaRegistryUnavailable(str(exc)) from exc
        self._id_by_event[event_name] = schema_id
        self._writer_by_id[schema_id] = (event_name, self.store.parsed[event_name])
        return schema_id

    def writer(self, schema_id: int) -> tuple[str, Any]:
        """(our event name, the writer's parsed schema) for an id found on the wire."""
        cached = self._writer_by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
            raise SchemaRegistryUnavailable(str(exc)) from exc
        except Exception as exc:
            raise SchemaRegistryUnavailable(str(exc)) from exc
        writer_json = json.loads(registered.schema_str or "null")
        event_name = self._event_by_record.get(record_full_name(writer_json))
        if event_name is None:
            raise UnknownSchemaError(
                f"schema id {schema_id} is {record_full_name(writer_json)}, not a learnstream event"
            )
        entry = (event_name, parse_schema(writer_json))
        self._writer_by_id[schema_id] = entry
        return entry
