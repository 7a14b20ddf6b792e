"""The FULL_TRANSITIVE schema gate (ADR 0004), cross-checked against fastavro's real reads."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from typer.testing import CliRunner

from learnstream.contract import can_read, check_full_transitive, check_repository, scan_repository
from learnstream.settings import PROJECT_ROOT, get_settings
from learnstream_cli.commands.schemas import app

SCHEMA_DIR = PROJECT_ROOT / "schemas" / "avro"
MODULE = "org.learnstream.learning.module.completed.v1"
ENVELOPE = "org.learnstream.common.envelope"


def _record(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "ScoredV1", "namespace": "org.test", "fields": list(fields)}


def _enum(*symbols: str, default: str | None = None) -> dict[str, Any]:
    enum: dict[str, Any] = {"type": "enum", "name": "StatusV1", "symbols": list(symbols)}
    return enum if default is None else {**enum, "default": default}


LEARNER = {"name": "learner_id", "type": "string"}
SCORE = {"name": "score", "type": "double"}
L, S = {"learner_id": "l-1"}, {"learner_id": "l-1", "score": 0.5}

# name: (old schema, new schema, datum valid for old, datum valid for new)
Case = tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]
BREAKING: dict[str, Case] = {
    "removed field without default": (_record(LEARNER, SCORE), _record(LEARNER), S, L),
    "changed type double to string": (
        _record(LEARNER, SCORE),
        _record(LEARNER, {"name": "score", "type": "string"}),
        S,
        {"learner_id": "l-1", "score": "half"},
    ),
    "renamed field without alias": (
        _record(LEARNER),
        _record({"name": "learner", "type": "string"}),
        L,
        {"learner": "l-1"},
    ),
    "enum symbol removed, no reader default": (
        _record({"name": "status", "type": _enum("PASSED", "FAILED", "VOIDED")}),
        _record({"name": "status", "type": _enum("PASSED", "FAILED")}),
        {"status": "VOIDED"},  # the removed symbol: fastavro only fails on data that uses it
        {"status": "PASSED"},
    ),
}
BREAKING_FIELDS = {  # a rename fails on the new name one way and on the old name the other
    "removed field without default": {"score"},
    "changed type double to string": {"score"},
    "renamed field without alias": {"learner", "learner_id"},
    "enum symbol removed, no reader default": {"status"},
}
COMPATIBLE_BOTH_WAYS: dict[str, Case] = {
    "added optional field": (
        _record(LEARNER),
        _record(LEARNER, {"name": "note", "type": ["null", "string"], "default": None}),
        L,
        {"learner_id": "l-1", "note": "hi"},
    ),
    "enum symbol added, enum has a default": (
        _record({"name": "status", "type": _enum("PASSED", "UNKNOWN", default="UNKNOWN")}),
        _record(
            {"name": "status", "type": _enum("PASSED", "VOIDED", "UNKNOWN", default="UNKNOWN")}
        ),
        {"status": "PASSED"},
        {"status": "VOIDED"},
    ),
}
BACKWARD_ONLY: dict[str, Case] = {
    "promotion int to long": (
        _record({"name": "attempt", "type": "int"}),
        _record({"name": "attempt", "type": "long"}),
        {"attempt": 3},
        {"attempt": 2**40},
    ),
    "renamed field with alias": (
        _record(LEARNER),
        _record({"name": "learner", "type": "string", "aliases": ["learner_id"]}),
        L,
        {"learner": "l-1"},
    ),
}
ALL_CASES = {**BREAKING, **COMPATIBLE_BOTH_WAYS, **BACKWARD_ONLY}


def _fastavro_read(reader: Any, writer: Any, datum: dict[str, Any]) -> Any:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(writer), datum)
    buf.seek(0)
    return fastavro.schemaless_reader(
        buf, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )


# --- the rules, case by case --------------------------------------------------------------------


@pytest.mark.parametrize("case", BREAKING)
def test_rejects_breaking_change_naming_the_field(case: str) -> None:
    old, new, _, _ = BREAKING[case]
    fields = BREAKING_FIELDS[case]
    problems = check_full_transitive(new, [old])
    assert problems, case
    named = {p.location.removeprefix("ScoredV1.") for p in problems}
    assert named == fields, problems
    assert all(f"'{p.location.removeprefix('ScoredV1.')}'" in p.message for p in problems)


def test_messages_say_what_changed_in_old_to_new_order_both_ways() -> None:
    old, new, _, _ = BREAKING["changed type double to string"]
    problems = check_full_transitive(new, [old])
    assert [(p.check, p.message) for p in problems] == [
        ("backward: current reads 1.avsc", "field 'score' changed type from double to string"),
        ("forward: 1.avsc reads current", "field 'score' changed type from double to string"),
    ]
    old, new, _, _ = BREAKING["removed field without default"]
    [removed] = check_full_transitive(new, [old])
    assert removed.check == "forward: 1.avsc reads current"
    assert "reader field 'score' has no default and the writer lacks it" in removed.message


@pytest.mark.parametrize("case", COMPATIBLE_BOTH_WAYS)
def test_accepts_compatible_change(case: str) -> None:
    old, new, _, _ = COMPATIBLE_BOTH_WAYS[case]
    assert check_full_transitive(new, [old]) == []


@pytest.mark.parametrize("case", BACKWARD_ONLY)
def test_backward_only_change_passes_backward_but_full_rejects_it(case: str) -> None:
    old, new, _, _ = BACKWARD_ONLY[case]
    assert can_read(new, old) == []  # a replay with new code reads the old data
    problems = check_full_transitive(new, [old])
    assert problems  # ...but a consumer still on the old code cannot read the new data
    assert {p.check for p in problems} == {"forward: 1.avsc reads current"}


def test_int_to_long_message() -> None:
    old, new, _, _ = BACKWARD_ONLY["promotion int to long"]
    [problem] = check_full_transitive(new, [old])
    assert problem.message == "field 'attempt' changed type from int to long"


@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_verdict_agrees_with_fastavro(case: str, direction: str) -> None:
    old, new, old_datum, new_datum = ALL_CASES[case]
    reader, writer, datum = (
        (new, old, old_datum) if direction == "backward" else (old, new, new_datum)
    )
    if can_read(reader, writer):
        with pytest.raises(SchemaResolutionError):
            _fastavro_read(reader, writer, datum)
    else:
        _fastavro_read(reader, writer, datum)


def test_fastavro_maps_an_added_symbol_to_the_old_readers_default() -> None:
    old, new, _, new_datum = COMPATIBLE_BOTH_WAYS["enum symbol added, enum has a default"]
    assert _fastavro_read(old, new, new_datum) == {"status": "UNKNOWN"}


@pytest.mark.parametrize(
    ("reader", "writer", "ok"),
    [
        (["null", "string"], "string", True),
        ("string", ["null", "string"], False),  # the null branch has nowhere to go
        (["null", "long"], "int", True),
        ("bytes", "string", True),
        ("int", "long", False),
        ({"type": "long", "logicalType": "timestamp-millis"}, "long", True),
        ({"type": "array", "items": "long"}, {"type": "array", "items": "int"}, True),
        ({"type": "map", "values": "int"}, {"type": "map", "values": "string"}, False),
        (
            {"type": "fixed", "name": "F", "size": 8},
            {"type": "fixed", "name": "F", "size": 16},
            False,
        ),
        (
            {"type": "fixed", "name": "G", "size": 8},
            {"type": "fixed", "name": "F", "size": 8},
            False,
        ),
        (
            {"type": "fixed", "name": "G", "aliases": ["F"], "size": 8},
            {"type": "fixed", "name": "F", "size": 8},
            True,
        ),
    ],
)
def test_other_resolution_rules(reader: Any, writer: Any, ok: bool) -> None:
    assert (can_read(reader, writer) == []) is ok


def test_named_types_referenced_again_and_recursively() -> None:
    def schema(point_type: str) -> dict[str, Any]:
        point = {"type": "record", "name": "PointV1", "fields": [{"name": "x", "type": point_type}]}
        node = {
            "type": "record",
            "name": "NodeV1",
            "fields": [{"name": "next", "type": ["null", "NodeV1"], "default": None}],
        }
        fields = [
            {"name": "start", "type": point},
            {"name": "end", "type": "PointV1"},  # by relative name, after its definition
            {"name": "path", "type": node},
        ]
        return {"type": "record", "name": "LineV1", "namespace": "org.test", "fields": fields}

    assert check_full_transitive(schema("double"), [schema("double")]) == []
    problems = can_read(schema("string"), schema("double"))
    # The shared type is reported once, where it is first used.
    assert [(p.location, p.message) for p in problems] == [
        ("LineV1.start.x", "field 'x' changed type from double to string")
    ]


# --- the repository and its history --------------------------------------------------------------


def test_committed_repository_passes() -> None:
    assert check_repository(SCHEMA_DIR) == {}
    reports = scan_repository(SCHEMA_DIR)
    assert {r.name for r in reports} == {p.stem for p in SCHEMA_DIR.glob("org.learnstream.*.avsc")}
    assert ENVELOPE in {r.name for r in reports}
    assert all(r.versions >= 1 for r in reports)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, copy)
    return copy


def _edit(repo: Path, name: str, change: Any) -> dict[str, Any]:
    path = repo / f"{name}.avsc"
    schema = json.loads(path.read_text())
    change(schema["fields"])
    path.write_text(json.dumps(schema, indent=2))
    return schema


def _record_in_history(repo: Path, name: str, version: int) -> None:
    shutil.copy(repo / f"{name}.avsc", repo / "history" / name / f"{version}.avsc")


def _add_optional(fields: list[dict[str, Any]]) -> None:
    fields.append({"name": "note", "type": ["null", "string"], "default": None, "doc": "x"})


def _retype_module_id(fields: list[dict[str, Any]]) -> None:
    next(f for f in fields if f["name"] == "module_id")["type"] = "int"


def test_unrecorded_change_is_flagged_until_added_to_history(repo: Path) -> None:
    _edit(repo, MODULE, _add_optional)
    [problem] = check_repository(repo)[MODULE]
    assert problem.message == (
        f"changed since history/{MODULE}/1.avsc: add it as 2.avsc once it passes"
    )
    _record_in_history(repo, MODULE, 2)
    assert check_repository(repo) == {}


def test_breaking_change_fails_even_when_recorded(repo: Path) -> None:
    _edit(repo, MODULE, _retype_module_id)
    _record_in_history(repo, MODULE, 2)
    problems = check_repository(repo)
    assert list(problems) == [MODULE]
    assert {p.check for p in problems[MODULE]} == {
        "backward: current reads 1.avsc",
        "forward: 1.avsc reads current",
    }
    assert all(p.location == "ModuleCompletedV1.module_id" for p in problems[MODULE])


def test_schema_without_history_is_flagged(repo: Path) -> None:
    shutil.rmtree(repo / "history" / MODULE)
    assert [p.message for p in check_repository(repo)[MODULE]] == [
        f"no history: copy it to history/{MODULE}/1.avsc"
    ]


def test_envelope_history_is_checked_on_its_own(repo: Path) -> None:
    _edit(repo, ENVELOPE, lambda f: f.append({"name": "region", "type": "string", "doc": "x"}))
    _record_in_history(repo, ENVELOPE, 2)
    problems = check_repository(repo)
    # Events resolve old and new against the current envelope, so only the envelope fails.
    assert list(problems) == [ENVELOPE]
    assert "reader field 'region' has no default" in problems[ENVELOPE][0].message


def test_deleted_schema_and_broken_file_are_flagged(repo: Path) -> None:
    (repo / f"{MODULE}.avsc").unlink()
    (repo / "org.learnstream.learning.lesson.completed.v1.avsc").write_text("{not json")
    problems = check_repository(repo)
    assert "must not be deleted" in problems[MODULE][0].message
    assert "cannot load" in problems["org.learnstream.learning.lesson.completed.v1"][0].message


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LEARNSTREAM_SCHEMA_DIR", str(repo))
    get_settings.cache_clear()
    yield repo
    get_settings.cache_clear()  # later tests must see the real schema dir again


def test_cli_check_passes_on_a_clean_copy(cli_repo: Path) -> None:
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert MODULE in result.output


def test_cli_check_fails_and_names_the_schema(cli_repo: Path) -> None:
    _edit(cli_repo, MODULE, _retype_module_id)
    _record_in_history(cli_repo, MODULE, 2)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1, result.output
    assert MODULE in result.output
    assert "field 'module_id' changed type from string to int" in result.output
