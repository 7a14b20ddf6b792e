"""The deterministic learner simulator and its oracle.

    from learnstream.simulate import generate, compute_oracle

    events = generate(learners=200, courses=10, days=30, seed=7)   # list[SimEvent]
    oracle = compute_oracle(events)                                 # docs/domain-rules.md

`simulate(...)` also returns the simulator's own intended outcome per learner × course
(`PairIntent`), an independent check of the oracle. `run_simulation` publishes to Kafka and
writes the oracle JSON (see runner.py and `learnstream simulate`). The oracle's rows are in
oracle_model.
"""

from learnstream.simulate.generator import Simulation, generate, simulate, start_of
from learnstream.simulate.journeys import PairIntent
from learnstream.simulate.model import SimEvent
from learnstream.simulate.oracle import compute_oracle
from learnstream.simulate.oracle_model import Oracle

__all__ = [
    "Oracle",
    "PairIntent",
    "SimEvent",
    "Simulation",
    "compute_oracle",
    "generate",
    "simulate",
    "start_of",
]
