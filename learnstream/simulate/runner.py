"""Generate a simulation, write its oracle, and publish its events to Kafka.

The events go through the SDK's fast path (`Publisher.publish_records`) onto the topics that
topology.yaml routes them to; the topics are created first if they are missing. The oracle is
written before anything is published, so a failed publish still leaves the expected state on
disk for the run that is retried.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

from learnstream.kafka_admin import ensure_topics
from learnstream.settings import Settings
from learnstream.simulate.generator import Simulation, simulate
from learnstream.simulate.model import SimEvent
from learnstream.simulate.oracle import compute_oracle
from learnstream.simulate.oracle_model import Oracle
from learnstream.topology import Topology, load_topology


class TokenBucket:
    """At most `rate` tokens per second on average, bursts up to `burst` (default 0.1 s)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()

    def take(self, n: float = 1.0) -> None:
        while True:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            # Sleep at least 1 ms: shorter sleeps overshoot and would undershoot high rates.
            self._sleep(max((n - self.tokens) / self.rate, 0.001))


def throttled(records: Iterable[Any], rate: float | None) -> Iterator[Any]:
    if rate is None:
        yield from records
        return
    bucket = TokenBucket(rate)
    for record in records:
        bucket.take()
        yield record


def default_oracle_path(settings: Settings, seed: int) -> Path:
    return settings.state_dir / f"oracle-{seed}.json"


def topic_counts(events: Iterable[SimEvent], topology: Topology) -> dict[str, int]:
    """Records per topology topic (unprefixed name), duplicates included."""
    counts = Counter(topology.topic_for_event(e.event_name) for e in events)
    return dict(sorted(counts.items()))


@dataclass
class RunReport:
    simulation: Simulation
    oracle: Oracle
    oracle_path: Path
    topics: dict[str, int]
    generate_seconds: float
    oracle_seconds: float
    published: int = 0
    publish_seconds: float = 0.0
    created_topics: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.simulation.events)

    @property
    def events_per_second(self) -> float:
        return self.published / self.publish_seconds if self.publish_seconds else 0.0

    @property
    def by_type(self) -> dict[str, int]:
        return dict(sorted(Counter(e.event_name for e in self.simulation.events).items()))


class World(TypedDict):
    """What to simulate: the world's size, its seed, and where the oracle goes."""

    learners: int
    courses: int
    days: int
    seed: int
    tenant_id: NotRequired[str]  # default "acme"
    oracle_path: NotRequired[Path | None]  # default: under the state dir, by seed


def prepare(settings: Settings, **world: Unpack[World]) -> RunReport:
    """Generate the events and write the oracle JSON; publish nothing."""
    began = time.perf_counter()
    seed = world["seed"]
    sim = simulate(
        world["learners"], world["courses"], world["days"], seed, world.get("tenant_id", "acme")
    )
    generated = time.perf_counter()
    oracle = compute_oracle(sim.events, seed=seed)
    path = world.get("oracle_path") or default_oracle_path(settings, seed)
    oracle.save(path)
    topology = load_topology(settings.topology_file)
    return RunReport(
        simulation=sim,
        oracle=oracle,
        oracle_path=path,
        topics=topic_counts(sim.events, topology),
        generate_seconds=generated - began,
        oracle_seconds=time.perf_counter() - generated,
    )


def publish(
    settings: Settings,
    report: RunReport,
    *,
    rate: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Create the topics the events need, then publish them in order (acknowledged)."""
    from learnstream.sdk import Publisher  # the SDK pulls in Kafka; dry runs do not need it

    topology = load_topology(settings.topology_file)
    report.created_topics = ensure_topics(settings, topology, list(report.topics))
    records = ((e.event_name, e.record) for e in report.simulation.events)
    began = time.perf_counter()
    with Publisher(settings) as publisher:
        report.published = publisher.publish_records(
            throttled(records, rate), on_progress=on_progress
        )
    report.publish_seconds = time.perf_counter() - began
    return report


def run_simulation(
    settings: Settings,
    *,
    rate: float | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
    **world: Unpack[World],
) -> RunReport:
    report = prepare(settings, **world)
    if dry_run:
        return report
    return publish(settings, report, rate=rate, on_progress=on_progress)
