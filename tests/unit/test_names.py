"""Names come from the contract, once. Event names: learnstream/names.py, where each constant
names a schema in schemas/avro and each schema has a constant; topology.yaml and the SDK models
use the same set. Topic names: topology.yaml. No other module spells either, or matches an event
name by suffix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from learnstream import names
from learnstream.sdk.models import EVENT_MODELS
from learnstream.settings import PROJECT_ROOT, Settings
from learnstream.topology import load_topology

SCHEMA_DIR = PROJECT_ROOT / "schemas" / "avro"
PRODUCTION = ["learnstream", "learnstream_cli", "streams", "sinks", "connectors"]
# The Quix Streams peer runs in a virtualenv of its own and cannot import learnstream.
STANDALONE = {PROJECT_ROOT / "learnstream_cli" / "bench" / "quix_naive.py"}


def constants() -> dict[str, str]:
    return {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


def test_every_constant_names_a_schema_and_every_schema_has_a_constant() -> None:
    schemas = {p.name.removesuffix(".avsc") for p in SCHEMA_DIR.glob("*.avsc")}
    schemas.discard("org.learnstream.common.envelope")  # embedded in every event, not one
    assert set(constants().values()) == schemas
    assert len(set(constants().values())) == len(constants())  # no name twice
    assert frozenset(constants().values()) == names.EVENT_NAMES


def test_topology_and_the_sdk_carry_exactly_the_named_events() -> None:
    topology = load_topology(Settings().topology_file)
    carried = {e for spec in topology.topics.values() for e in spec.value_schemas}
    assert carried == names.EVENT_NAMES
    assert set(EVENT_MODELS) == names.EVENT_NAMES
    activity = set(topology.topics["learning.activity"].value_schemas)
    assert activity == names.ACTIVITY


def _modules() -> list[Path]:
    found = [p for root in PRODUCTION for p in (PROJECT_ROOT / root).rglob("*.py")]
    return [p for p in found if p not in STANDALONE and p != PROJECT_ROOT / "learnstream/names.py"]


def _spelled_names(tree: ast.AST) -> list[str]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("org.learnstream.")
        and node.value.split(".")[-1].startswith("v")
        and node.value.split(".")[-1][1:].isdigit()
    ]


def _suffix_matches(tree: ast.AST) -> list[str]:
    """`x.endswith("...v1")`: matching an event name by its tail accepts names of any namespace."""
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "endswith"
        and any(
            isinstance(a, ast.Constant) and isinstance(a.value, str) and ".v" in a.value
            for a in node.args
        )
    ]


def _spelled_topics(tree: ast.AST) -> list[str]:
    topology = load_topology(Settings().topology_file)
    topics = set(topology.topics) | {spec.dlq for spec in topology.agents.values()}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in topics
    ]


def test_no_module_spells_an_event_or_topic_name_or_matches_one_by_suffix() -> None:
    offenders = {}
    for path in _modules():
        tree = ast.parse(path.read_text())
        found = _spelled_names(tree) + _suffix_matches(tree) + _spelled_topics(tree)
        if found:
            offenders[str(path.relative_to(PROJECT_ROOT))] = found
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        'EVENT = "org.learnstream.learning.lesson.completed.v1"',
        'if name.endswith("lesson.completed.v1"): pass',
        'settings.topic("org.employment")',
    ],
)
def test_the_scan_finds_what_it_forbids(source: str) -> None:
    tree = ast.parse(source)
    assert _spelled_names(tree) + _suffix_matches(tree) + _spelled_topics(tree)
