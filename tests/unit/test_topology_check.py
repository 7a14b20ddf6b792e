"""`topology check` finds each kind of mistake, and the committed topic docs are current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from learnstream.asyncapi import build_asyncapi
from learnstream.serde import SchemaStore
from learnstream.settings import Settings
from learnstream.topology import Topology, check_topology, managed_topics
from learnstream_cli.commands.topology import app

settings = Settings()
store = SchemaStore(settings.schema_dir)
BASE = yaml.safe_load(settings.topology_file.read_text())


def _check(mutate: Any) -> list[str]:
    raw = yaml.safe_load(settings.topology_file.read_text())
    mutate(raw)
    return check_topology(Topology.model_validate(raw), store.raw)


def test_committed_topology_is_clean() -> None:
    assert check_topology(Topology.model_validate(BASE), store.raw) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda t: t["topics"]["learning.activity"]["value_schemas"].append("org.x.v1"),
            "schema org.x.v1 is not in schemas/avro",
        ),
        (
            lambda t: t["topics"]["learning.progress"].update(partitions=4),
            "agent notifications: inputs have partition counts [4, 6]",
        ),
        (
            lambda t: t["topics"]["learning.progress"].update(key="manager_id"),
            "key 'manager_id' is not a field",
        ),
        (
            lambda t: t["agents"]["progress"]["outputs"].append("learning.progres"),
            "agent progress: topic learning.progres is not declared",
        ),
        (
            lambda t: t["sinks"]["smoke"]["reads"].append("nope"),
            "sink smoke: topic nope is not declared",
        ),
        (
            lambda t: t["agents"]["features"].update(dlq="features.dead"),
            "agent features: DLQ features.dead must be",
        ),
        (
            lambda t: t["topics"]["hr.sync.result"]["value_schemas"].append(
                "org.learnstream.hr.correction.required.v1"
            ),
            "carried by more than one topic",
        ),
        (
            lambda t: t["lanes"]["learner"]["waits_for"].append("learner.profile"),
            "lane learner: learner.profile in waits_for is applied by no agent",
        ),
    ],
)
def test_each_mistake_is_reported(mutate: Any, expected: str) -> None:
    problems = _check(mutate)
    assert any(expected in p for p in problems), problems


def test_every_agent_gets_a_dlq_mirroring_its_input() -> None:
    topology = Topology.model_validate(BASE)
    topics = managed_topics(topology)
    for agent in topology.agents.values():
        assert topics[agent.dlq].partitions == topology.partitions(agent.inputs[0])


def test_asyncapi_document_is_complete_and_its_refs_resolve() -> None:
    topology = Topology.model_validate(BASE)
    doc = build_asyncapi(topology, store.raw, "test")
    assert doc["asyncapi"] == "3.0.0"
    declared = {e for spec in topology.topics.values() for e in spec.value_schemas}
    assert {m["name"] for m in doc["components"]["messages"].values()} == declared

    def resolve(ref: str) -> Any:
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    for op in doc["operations"].values():
        assert resolve(op["channel"]["$ref"])["address"]
        for message in op["messages"]:
            assert resolve(message["$ref"])  # channel message refs point at real messages
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            assert resolve(ref["$ref"])["payload"]["schema"]["type"] == "record"


def test_committed_topic_docs_are_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    result = CliRunner().invoke(app, ["docs", "--check"])
    assert result.exit_code == 0, result.output


def test_each_table_a_lane_waits_for_has_the_agent_that_applies_it_as_owner() -> None:
    topology = Topology.model_validate(BASE)
    # The catalog is applied by progress (a table of it); the org chart by notifications,
    # which routes the causes the lane's batches create (hr_sync reads it too, off the lane).
    assert topology.table_owner("catalog.course") == "progress"
    assert topology.table_owner("org.employment") == "notifications"
    assert topology.table_owner("learning.activity") is None  # a stream, not a table


def test_a_table_nobody_applies_or_two_agents_apply_is_a_problem() -> None:
    problems = _check(lambda raw: raw["agents"]["notifications"].update(applies=[]))
    assert "agent hr_sync: table org.employment is applied by no agent" in problems
    assert "lane learner: org.employment in waits_for is applied by no agent" in problems
    problems = _check(lambda raw: raw["agents"]["hr_sync"].update(applies=["org.employment"]))
    assert "table org.employment is applied by several agents" in problems
