"""topology.yaml as typed data: the one place topic, agent and sink names come from."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from learnstream import names

if TYPE_CHECKING:
    from learnstream.settings import Settings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    partitions: int = Field(6, ge=1)
    replication_factor: int = Field(1, ge=1)


class TopicSpec(_Strict):
    description: str = ""
    key: str
    partitions: int | None = Field(None, ge=1)
    retention_ms: int = -1
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    value_schemas: list[str]


class AgentSpec(_Strict):
    module: str
    enabled: bool = True  # declared (topics, DLQ) but not run by workers until its module ships
    inputs: list[str]
    tables: list[str] = []  # topics read as tables (from Postgres), applied by their owner
    # The tables this agent writes to Postgres (their owner): other agents that read one wait
    # until the owner has applied it up to its end (learnstream.runtime.table_barrier).
    applies: list[str] = []
    outputs: list[str] = []
    dlq: str


class LaneSpec(_Strict):
    """High-volume inputs consumed in batches by the Kafka client, not by Faust (ADR 0010).

    `module` builds one handler that runs the lane's agents as stages of one pass per batch,
    in one transaction; the first agent is the entry (its offsets, its DLQ). `fused` topics
    are what the stages hand each other in memory: still published, never consumed back.
    The agents keep their other inputs on Faust, the entry agent's through the lane's handler.
    """

    description: str = ""
    module: str
    inputs: list[str]
    agents: list[str]
    fused: list[str] = []
    # Tables applied up to their end before each batch, each by the lane agent that reads it
    # on Faust (its owner): a stream-table join that never runs ahead of its table.
    waits_for: list[str] = []

    @property
    def entry(self) -> str:
        return self.agents[0]


class SinkSpec(_Strict):
    kind: str
    description: str = ""
    reads: list[str]


class Topology(_Strict):
    version: int
    defaults: Defaults = Defaults()
    topics: dict[str, TopicSpec]
    agents: dict[str, AgentSpec] = {}
    lanes: dict[str, LaneSpec] = {}
    sinks: dict[str, SinkSpec] = {}

    def enabled_agents(self) -> dict[str, AgentSpec]:
        return {name: spec for name, spec in self.agents.items() if spec.enabled}

    def lane_of(self, agent: str) -> LaneSpec | None:
        return next((lane for lane in self.lanes.values() if agent in lane.agents), None)

    def table_owner(self, topic: str) -> str | None:
        """The agent that applies the table `topic` to Postgres (None: no agent does)."""
        return next((name for name, a in self.agents.items() if topic in a.applies), None)

    def faust_inputs(self, agent: str) -> list[str]:
        """The agent's inputs and tables that Faust consumes: not its lane's, not fused ones."""
        spec, lane = self.agents[agent], self.lane_of(agent)
        taken = set() if lane is None else {*lane.inputs, *lane.fused}
        return [t for t in [*spec.inputs, *spec.tables] if t not in taken]

    def partitions(self, topic: str) -> int:
        return self.topics[topic].partitions or self.defaults.partitions

    def topic_for_event(self, event_name: str) -> str:
        for name, spec in self.topics.items():
            if event_name in spec.value_schemas:
                return name
        raise KeyError(f"no topic in topology.yaml carries {event_name}")


@lru_cache(maxsize=8)
def event_topics(path: Path) -> dict[str, str]:
    """Event name -> the topology.yaml topic that carries it (one each: `topology check`)."""
    topology = load_topology(path)
    return {event: name for name, spec in topology.topics.items() for event in spec.value_schemas}


def activity_topic(settings: Settings) -> str:
    """The topic client apps publish learner activity to (the learner lane's input)."""
    return load_topology(settings.topology_file).topic_for_event(names.LESSON_COMPLETED)


@lru_cache(maxsize=4)
def load_topology(path: Path) -> Topology:
    return Topology.model_validate(yaml.safe_load(path.read_text()))


DLQ_SUFFIX = ".dlq"
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


def dlq_topics(topology: Topology) -> dict[str, str]:
    """DLQ topic → the input topic it mirrors (same partitioning, so offsets stay comparable)."""
    return {agent.dlq: agent.inputs[0] for agent in topology.agents.values()}


def managed_topics(topology: Topology) -> dict[str, TopicSpec]:
    """Every topic `topology apply` owns: the declared ones plus one DLQ per agent."""
    topics = dict(topology.topics)
    for dlq, source in dlq_topics(topology).items():
        base = topology.topics[source]
        topics[dlq] = TopicSpec(
            description=f"Dead letters of {source}, with __dlq.* error headers.",
            key=base.key,
            partitions=topology.partitions(source),
            retention_ms=DLQ_RETENTION_MS,
            cleanup_policy="delete",
            value_schemas=[],
        )
    return topics


def check_topology(topology: Topology, schemas: dict[str, Any]) -> list[str]:
    """Problems that make the map wrong; `schemas` maps event name → self-contained schema."""
    problems: list[str] = []
    for name, spec in topology.topics.items():
        for event in spec.value_schemas:
            if event not in schemas:
                problems.append(f"topic {name}: schema {event} is not in schemas/avro")
                continue
            fields = {f["name"] for f in schemas[event]["fields"]}
            if spec.key not in fields:
                problems.append(f"topic {name}: key {spec.key!r} is not a field of {event}")
    carried = [e for spec in topology.topics.values() for e in spec.value_schemas]
    problems += [
        f"schema {e} is carried by more than one topic"
        for e in set(carried)
        if carried.count(e) > 1
    ]
    for agent_name, agent in topology.agents.items():
        for topic in [*agent.inputs, *agent.outputs, *agent.tables]:
            if topic not in topology.topics:
                problems.append(f"agent {agent_name}: topic {topic} is not declared")
        if not agent.dlq.endswith(DLQ_SUFFIX) or not agent.dlq.startswith(agent.inputs[0]):
            problems.append(
                f"agent {agent_name}: DLQ {agent.dlq} must be <first input>…{DLQ_SUFFIX}"
            )
        problems += _co_partitioning(topology, agent_name, agent)
        problems += [
            f"agent {agent_name}: table {t} is applied by no agent"
            for t in agent.tables
            if topology.table_owner(t) is None
        ]
        problems += [
            f"agent {agent_name}: applies {t}, which it does not consume"
            for t in agent.applies
            if t not in topology.faust_inputs(agent_name) and t not in agent.inputs
        ]
    problems += _lane_problems(topology)
    for sink_name, sink in topology.sinks.items():
        problems += [
            f"sink {sink_name}: topic {t} is not declared"
            for t in sink.reads
            if t not in topology.topics
        ]
    applied = [t for a in topology.agents.values() for t in a.applies]
    problems += [f"table {t} is applied by several agents" for t in set(applied)
                 if applied.count(t) > 1]  # fmt: skip
    dlqs = list(dlq_topics(topology))
    problems += [f"DLQ {d} is shared by several agents" for d in set(dlqs) if dlqs.count(d) > 1]
    problems += [f"DLQ {d} collides with a declared topic" for d in dlqs if d in topology.topics]
    return problems


def _co_partitioning(topology: Topology, agent_name: str, agent: AgentSpec) -> list[str]:
    """An agent's inputs must share key and partition count: per-key order and the
    key→partition mapping only hold across co-partitioned topics. Outputs may re-key."""
    topics = [t for t in agent.inputs if t in topology.topics]
    keys = {topology.topics[t].key for t in topics}
    counts = {topology.partitions(t) for t in topics}
    problems = []
    if len(keys) > 1:
        problems.append(f"agent {agent_name}: inputs have different keys {sorted(keys)}")
    if len(counts) > 1:
        problems.append(f"agent {agent_name}: inputs have partition counts {sorted(counts)}")
    return problems


def _lane_problems(topology: Topology) -> list[str]:
    problems = []
    claimed: dict[tuple[str, str], str] = {}
    for lane_name, lane in topology.lanes.items():
        for agent in lane.agents:
            spec = topology.agents.get(agent)
            if spec is None:
                problems.append(f"lane {lane_name}: agent {agent} is not declared")
                continue
            if agent == lane.entry:
                for topic in lane.inputs:
                    if topic not in spec.inputs:
                        problems.append(f"lane {lane_name}: {topic} is not an input of {agent}")
                if (agent, topic) in claimed:
                    problems.append(f"lanes {claimed[(agent, topic)]} and {lane_name} both feed "
                                    f"{topic} to {agent}")  # fmt: skip
                claimed[(agent, topic)] = lane_name
        keys = {topology.topics[t].key for t in lane.inputs if t in topology.topics}
        counts = {topology.partitions(t) for t in lane.inputs if t in topology.topics}
        if len(keys) > 1 or len(counts) > 1:
            problems.append(f"lane {lane_name}: inputs are not co-partitioned")
        problems += [
            f"lane {lane_name}: {t} in waits_for is applied by no agent"
            for t in lane.waits_for
            if topology.table_owner(t) is None
        ]
        problems += [
            f"lane {lane_name}: fused topic {t} is not an output of one of its agents"
            for t in lane.fused
            if not any(t in topology.agents[a].outputs for a in lane.agents if a in topology.agents)
        ]
    return problems
