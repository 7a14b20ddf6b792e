"""topology.yaml as typed data: the one place topic, agent and sink names come from."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


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
    inputs: list[str]
    tables: list[str] = []
    outputs: list[str] = []
    dlq: str


class SinkSpec(_Strict):
    kind: str
    description: str = ""
    reads: list[str]


class Topology(_Strict):
    version: int
    defaults: Defaults = Defaults()
    topics: dict[str, TopicSpec]
    agents: dict[str, AgentSpec] = {}
    sinks: dict[str, SinkSpec] = {}

    def partitions(self, topic: str) -> int:
        return self.topics[topic].partitions or self.defaults.partitions

    def topic_for_event(self, event_name: str) -> str:
        for name, spec in self.topics.items():
            if event_name in spec.value_schemas:
                return name
        raise KeyError(f"no topic in topology.yaml carries {event_name}")


@lru_cache(maxsize=4)
def load_topology(path: Path) -> Topology:
    return Topology.model_validate(yaml.safe_load(path.read_text()))
