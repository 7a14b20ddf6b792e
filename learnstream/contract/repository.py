"""The gate over `schemas/avro/`: each current schema against every version in its history.

History is what makes a replay (Kappa, ADR 0003) safe: the topics still hold data written with
every released version, so the gate also insists that every change is recorded there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnstream.contract.compat import Incompatibility, check_full_transitive
from learnstream.serde.schema_store import ENVELOPE_FILE, inline_named_types


@dataclass(frozen=True)
class SchemaReport:
    """The gate's verdict on one schema: how many history versions it was checked against."""

    name: str
    versions: int
    problems: tuple[Incompatibility, ...]


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _history(history_dir: Path, name: str) -> tuple[dict[int, Path], list[Incompatibility]]:
    where = f"history/{name}"
    files = sorted(history_dir.glob("*.avsc")) if history_dir.is_dir() else []
    numbered = {int(p.stem): p for p in files if p.stem.isdigit()}
    problems = [
        Incompatibility(f"{where}/{p.name}", "not named <n>.avsc, so the gate ignores it")
        for p in files
        if not p.stem.isdigit()
    ]
    if numbered and sorted(numbered) != list(range(1, len(numbered) + 1)):
        found = ", ".join(f"{n}.avsc" for n in sorted(numbered))
        problems.append(Incompatibility(where, f"versions must run 1, 2, … without gaps: {found}"))
    return numbered, problems


def _check_one(
    schema_dir: Path, name: str, library: dict[str, Any]
) -> tuple[int, list[Incompatibility]]:
    raw = _load(schema_dir / f"{name}.avsc")
    numbered, problems = _history(schema_dir / "history" / name, name)
    if not numbered:
        return 0, [
            *problems,
            Incompatibility(name, f"no history: copy it to history/{name}/1.avsc"),
        ]
    top = max(numbered)
    if _load(numbered[top]) != raw:
        problems.append(
            Incompatibility(
                name,
                f"changed since history/{name}/{top}.avsc: add it as {top + 1}.avsc once it passes",
            )
        )
    # Old event files name the envelope; they resolve against the current envelope, whose own
    # history is checked as a schema of its own.
    current = inline_named_types(raw, library, set())
    versions = {
        f"{n}.avsc": inline_named_types(_load(numbered[n]), library, set())
        for n in sorted(numbered)
    }
    return len(versions), problems + check_full_transitive(current, versions)


def scan_repository(schema_dir: Path) -> list[SchemaReport]:
    """One report per current schema (envelope included) and per orphaned history folder."""
    library: dict[str, Any] = {}
    try:
        envelope = _load(schema_dir / ENVELOPE_FILE)
        library[f"{envelope['namespace']}.{envelope['name']}"] = envelope
    except (OSError, ValueError, KeyError):
        pass  # reported below, when the envelope is checked like any other schema
    reports: list[SchemaReport] = []
    current_names = sorted(
        p.name.removesuffix(".avsc") for p in schema_dir.glob("org.learnstream.*.avsc")
    )
    for name in current_names:
        try:
            versions, problems = _check_one(schema_dir, name, library)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A broken file must fail the gate with a readable line, not a traceback.
            versions, problems = 0, [Incompatibility(name, f"cannot load: {exc!r}")]
        reports.append(SchemaReport(name, versions, tuple(problems)))
    history_root = schema_dir / "history"
    orphans = (
        sorted(d for d in history_root.iterdir() if d.is_dir()) if history_root.is_dir() else []
    )
    for folder in orphans:
        if folder.name not in current_names:
            message = (
                f"history/{folder.name} has no current {folder.name}.avsc: the topics still hold "
                "data written with it, so it must not be deleted"
            )
            count = len(list(folder.glob("*.avsc")))
            reports.append(
                SchemaReport(folder.name, count, (Incompatibility(folder.name, message),))
            )
    return reports


def check_repository(schema_dir: Path) -> dict[str, list[Incompatibility]]:
    """Event name → problems, listing only schemas that have some ({} = the gate passes)."""
    return {r.name: list(r.problems) for r in scan_repository(schema_dir) if r.problems}
