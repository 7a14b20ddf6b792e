"""Avro schema resolution (spec 1.11, "Schema Resolution") as a static check, no data needed.

We check compatibility ourselves instead of asking a Schema Registry because the embedded stack
has none (ADR 0002) and the gate must run in CI on the files alone. fastavro only discovers an
incompatibility when it meets a value that triggers it; this module finds every one up front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
# writer type -> reader types that can read it (the spec's promotions)
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data.

    `check` says which direction and history version failed, e.g. "forward: 1.avsc reads
    current"; empty for bookkeeping problems and for a bare `can_read`.
    """

    location: str
    message: str
    check: str = ""

    def __str__(self) -> str:
        prefix = f"[{self.check}] " if self.check else ""
        return f"{prefix}{self.location}: {self.message}"


def _qualify(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _normalise(node: Any, namespace: str, names: dict[str, Any]) -> Any:
    """Rewrite a schema so every named type carries its full name and every reference is a
    full name found in `names`; logical types collapse onto their underlying type because
    resolution ignores them."""
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        for candidate in (_qualify(node, namespace), node):
            if candidate in names:
                return candidate
        raise ValueError(f"unknown type name {node!r}")
    if isinstance(node, list):
        return [_normalise(branch, namespace, names) for branch in node]
    if not isinstance(node, dict) or "type" not in node:
        raise ValueError(f"not a schema: {node!r}")
    kind = node["type"]
    if kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        return {"type": kind, key: _normalise(node[key], namespace, names)}
    if kind not in NAMED:
        return _normalise(kind, namespace, names)  # {"type": "long", "logicalType": ...}
    full = _qualify(node["name"], node.get("namespace", namespace))
    own_ns = full.rpartition(".")[0]
    out: dict[str, Any] = {
        "type": "record" if kind == "error" else kind,
        "name": full,
        "aliases": [_qualify(a, own_ns) for a in node.get("aliases", [])],
    }
    names[full] = out  # registered before the fields, so a record may refer to itself
    if kind in ("record", "error"):
        out["fields"] = [
            {
                **{k: v for k, v in f.items() if k in ("name", "aliases", "default")},
                "type": _normalise(f["type"], own_ns, names),
            }
            for f in node["fields"]
        ]
    elif kind == "enum":
        out["symbols"] = list(node["symbols"])
        if "default" in node:
            out["default"] = node["default"]
    else:
        out["size"] = node["size"]
    return out


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Resolver:
    def __init__(self, reader: Any, writer: Any, reader_is_newer: bool) -> None:
        self.reader_names: dict[str, Any] = {}
        self.writer_names: dict[str, Any] = {}
        self.reader = _normalise(reader, "", self.reader_names)
        self.writer = _normalise(writer, "", self.writer_names)
        self.reader_is_newer = reader_is_newer
        self.problems: list[Incompatibility] = []
        # Pairs of named types already compared: stops recursive types and reports a shared
        # type's problem once, at its first use, instead of once per reference.
        self.done: set[tuple[str, str]] = set()

    def run(self) -> list[Incompatibility]:
        root = self._deref(self.reader, self.reader_names)
        where = _short(root["name"]) if isinstance(root, dict) and "name" in root else "$"
        self._check(self.reader, self.writer, where, "the schema")
        return self.problems

    @staticmethod
    def _deref(node: Any, names: dict[str, Any]) -> Any:
        return names[node] if isinstance(node, str) and node not in PRIMITIVES else node

    def _describe(self, node: Any, names: dict[str, Any]) -> str:
        node = self._deref(node, names)
        if isinstance(node, str):
            return node
        if isinstance(node, list):
            return "[" + ", ".join(self._describe(b, names) for b in node) + "]"
        if node["type"] in ("array", "map"):
            inner = node["items" if node["type"] == "array" else "values"]
            return f"{node['type']}<{self._describe(inner, names)}>"
        return f"{node['type']} {_short(node['name'])}"

    def _report(self, where: str, message: str) -> None:
        self.problems.append(Incompatibility(where, message))

    def _changed(self, where: str, what: str, reader: Any, writer: Any) -> None:
        r = self._describe(reader, self.reader_names)
        w = self._describe(writer, self.writer_names)
        old, new = (w, r) if self.reader_is_newer else (r, w)
        self._report(where, f"{what} changed type from {old} to {new}")

    def _matches(self, reader: Any, writer: Any) -> bool:
        """The spec's shallow "match", used to pick the reader union branch for a writer."""
        reader = self._deref(reader, self.reader_names)
        writer = self._deref(writer, self.writer_names)
        if isinstance(reader, str) and isinstance(writer, str):
            return reader == writer or reader in PROMOTIONS.get(writer, frozenset())
        if not (isinstance(reader, dict) and isinstance(writer, dict)):
            return False
        if reader["type"] != writer["type"]:
            return False
        if reader["type"] in ("array", "map"):
            return True
        return writer["name"] == reader["name"] or writer["name"] in reader["aliases"]

    def _check(self, reader: Any, writer: Any, where: str, what: str) -> None:
        r = self._deref(reader, self.reader_names)
        w = self._deref(writer, self.writer_names)
        if isinstance(w, list):
            # Any branch may appear in the data, so the reader must cope with every one.
            for branch in w:
                if isinstance(r, list) or self._matches(r, branch):
                    self._check(r, branch, where, what)
                else:
                    self._changed(where, what, r, w)
                    return
            return
        if isinstance(r, list):
            exact = [b for b in r if self._matches(b, w) and not self._promotes(b, w)]
            chosen = exact or [b for b in r if self._matches(b, w)]
            if chosen:
                self._check(chosen[0], w, where, what)
            else:
                self._changed(where, what, r, w)
            return
        if not self._matches(r, w):
            if isinstance(r, dict) and isinstance(w, dict) and r["type"] == w["type"] != "array":
                self._report(where, f"{what}: {r['type']} renamed from {self._names(r, w)}")
            else:
                self._changed(where, what, r, w)
            return
        if isinstance(r, str):
            return
        if r["type"] == "array":
            self._check(r["items"], w["items"], f"{where}[]", f"items of {what}")
        elif r["type"] == "map":
            self._check(r["values"], w["values"], f"{where}{{}}", f"values of {what}")
        elif (r["name"], w["name"]) not in self.done:
            self.done.add((r["name"], w["name"]))
            checks = {"record": self._check_record, "enum": self._check_enum}
            checks.get(r["type"], self._check_fixed)(r, w, where, what)

    def _promotes(self, reader: Any, writer: Any) -> bool:
        reader = self._deref(reader, self.reader_names)
        return isinstance(reader, str) and isinstance(writer, str) and reader != writer

    def _names(self, r: dict[str, Any], w: dict[str, Any]) -> str:
        old, new = (w, r) if self.reader_is_newer else (r, w)
        return f"{old['name']} to {new['name']} (no alias in the reader)"

    def _check_record(self, r: dict[str, Any], w: dict[str, Any], where: str, _: str) -> None:
        by_name = {f["name"]: f for f in w["fields"]}
        for field in r["fields"]:
            here = f"{where}.{field['name']}"
            found = next(
                (by_name[n] for n in (field["name"], *field.get("aliases", [])) if n in by_name),
                None,
            )
            if found is not None:
                self._check(field["type"], found["type"], here, f"field '{field['name']}'")
            elif "default" not in field:
                hint = "added or renamed" if self.reader_is_newer else "removed or renamed"
                self._report(
                    here,
                    f"reader field '{field['name']}' has no default and the writer lacks it"
                    f" ({hint} without a default)",
                )

    def _check_enum(self, r: dict[str, Any], w: dict[str, Any], where: str, what: str) -> None:
        unknown = [s for s in w["symbols"] if s not in r["symbols"]]
        if unknown and "default" not in r:
            change = "removed" if self.reader_is_newer else "added"
            listed = ", ".join(f"'{s}'" for s in unknown)
            self._report(
                where,
                f"{what}: enum {_short(r['name'])} symbol(s) {listed} {change}, and the"
                " reader's enum has no default to map them to",
            )

    def _check_fixed(self, r: dict[str, Any], w: dict[str, Any], where: str, what: str) -> None:
        if r["size"] != w["size"]:
            old, new = (w, r) if self.reader_is_newer else (r, w)
            sizes = f"from {old['size']} to {new['size']}"
            self._report(where, f"{what}: fixed {_short(r['name'])} changed size {sizes}")


def can_read(
    reader_schema: Any, writer_schema: Any, *, reader_is_newer: bool = True
) -> list[Incompatibility]:
    """Why data written with `writer_schema` cannot be read with `reader_schema` ([] = it can).

    Both schemas must be self-contained (shared types inlined). `reader_is_newer` only orders
    the words of the messages ("changed type from <older> to <newer>").
    """
    return _Resolver(reader_schema, writer_schema, reader_is_newer).run()


def check_full_transitive(
    current: Any, history_versions: Sequence[Any] | Mapping[str, Any]
) -> list[Incompatibility]:
    """FULL_TRANSITIVE: `current` must read every historical version's data (replay) and every
    historical version must read `current`'s data (consumers still on old code).

    A sequence is labelled 1.avsc, 2.avsc, … like the history folder; a mapping by its keys.
    """
    labelled = (
        dict(history_versions)
        if isinstance(history_versions, Mapping)
        else {f"{n}.avsc": v for n, v in enumerate(history_versions, start=1)}
    )
    problems: list[Incompatibility] = []
    for label, old in labelled.items():
        for check, found in (
            (f"backward: current reads {label}", can_read(current, old)),
            (f"forward: {label} reads current", can_read(old, current, reader_is_newer=False)),
        ):
            problems += [Incompatibility(p.location, p.message, check) for p in found]
    return problems
