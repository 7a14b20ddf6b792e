"""The repository's Avro schemas, parsed once, addressable by event name and by fingerprint."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from learnstream.serde.errors import UnknownSchemaError

ENVELOPE_FILE = "org.learnstream.common.envelope.avsc"


def _full_name(schema: dict[str, Any]) -> str:
    name = schema["name"]
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def inline_named_types(node: Any, library: dict[str, Any], seen: set[str]) -> Any:
    """Replace references to shared types (the envelope) by their definition, so that every
    event schema is self-contained: what a registry stores and what the fingerprint covers."""
    if isinstance(node, str):
        if node in library and node not in seen:
            seen.add(node)
            return inline_named_types(library[node], library, seen)
        return node
    if isinstance(node, list):
        return [inline_named_types(item, library, seen) for item in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            seen.add(_full_name(node))
        return {key: inline_named_types(value, library, seen) for key, value in node.items()}
    return node


class SchemaStore:
    """Event name (file stem) → self-contained schema JSON, parsed schema and fingerprint."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        library: dict[str, Any] = {}
        envelope = json.loads((schema_dir / ENVELOPE_FILE).read_text())
        library[_full_name(envelope)] = envelope
        self.raw: dict[str, dict[str, Any]] = {}
        for path in sorted(schema_dir.glob("org.learnstream.*.avsc")):
            if path.name == ENVELOPE_FILE:
                continue
            event_name = path.name.removesuffix(".avsc")
            self.raw[event_name] = inline_named_types(json.loads(path.read_text()), library, set())
        self.parsed = {name: parse_schema(raw) for name, raw in self.raw.items()}
        self.canonical = {name: to_parsing_canonical_form(p) for name, p in self.parsed.items()}
        self._library = library

    @cached_property
    def history_writers(self) -> dict[bytes, tuple[str, Any]]:
        """Fingerprints of every recorded earlier version, so old data stays decodable."""
        writers: dict[bytes, tuple[str, Any]] = {}
        for name in self.parsed:
            for path in sorted((self.schema_dir / "history" / name).glob("*.avsc")):
                raw = inline_named_types(json.loads(path.read_text()), self._library, set())
                parsed = parse_schema(raw)
                fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
                writers.setdefault(fp, (name, parsed))
        return writers

    @cached_property
    def plain_writers(self) -> dict[bytes, tuple[str, Any]]:
        """Current schemas without logical types (the parsing canonical form drops them), by
        fingerprint: what `decode_many(logical_types=False)` reads with."""
        return {
            self.fingerprints[name]: (name, parse_schema(json.loads(self.canonical[name])))
            for name in self.parsed
        }

    @cached_property
    def fingerprints(self) -> dict[str, bytes]:
        """CRC-64-AVRO, 8 bytes little-endian, as the single-object encoding spec asks."""
        return {n: bytes.fromhex(fingerprint(c, "CRC-64-AVRO")) for n, c in self.canonical.items()}

    @cached_property
    def by_fingerprint(self) -> dict[bytes, str]:
        return {fp: name for name, fp in self.fingerprints.items()}

    def names(self) -> list[str]:
        return sorted(self.parsed)

    def schema(self, event_name: str) -> Any:
        try:
            return self.parsed[event_name]
        except KeyError:
            raise UnknownSchemaError(
                f"no schema named {event_name!r} in {self.schema_dir}"
            ) from None

    def writer_for_fingerprint(self, fp: bytes) -> tuple[str, Any]:
        """(event name, writer schema): the current schema, else a historical version."""
        name = self.by_fingerprint.get(fp)
        if name is not None:
            return name, self.parsed[name]
        try:
            return self.history_writers[fp]
        except KeyError:
            raise UnknownSchemaError(f"unknown schema fingerprint {fp.hex()}") from None
