"""World + journeys → one ordered list of events, deterministically.

Only `random.Random(seed)` decides anything, ids are UUIDv5 of (tenant, seed, sequence) and the
timeline starts at a fixed epoch derived from the seed, so the same arguments always give the
same events, byte for byte.

Delivery order is event time, except that about 1 % of the learning activity is delivered late
(up to six hours after later events) and about 0.5 % is re-sent as an exact duplicate (same
event_id, same bytes), as a retrying client does.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from learnstream.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from learnstream.events import make_envelope
from learnstream.ids import epoch_ms, from_epoch_ms
from learnstream.names import ACTIVITY_EVENTS, COURSE_PUBLISHED
from learnstream.simulate.journeys import Journey, PairIntent
from learnstream.simulate.model import Draft, Emitter, SimEvent
from learnstream.simulate.world import build_world

EPOCH = datetime.fromisoformat("2026-01-05T00:00:00+00:00")  # a Monday
LATE_FRACTION = 0.01
DUPLICATE_FRACTION = 0.005
COURSES_PER_LEARNER = ([1, 2, 3, 4], [30, 35, 22, 13])


@dataclass(frozen=True)
class Simulation:
    seed: int
    tenant_id: str
    learners: int
    courses: int
    days: int
    start: datetime
    end: datetime
    events: list[SimEvent]
    intents: list[PairIntent]


def start_of(seed: int) -> datetime:
    """The simulated timeline's first instant: a Monday derived from the seed."""
    return from_epoch_ms(epoch_ms(EPOCH) + (seed % 52) * 7 * DAY_MS)


def generate(
    learners: int, courses: int, days: int, seed: int, tenant_id: str = "acme"
) -> list[SimEvent]:
    """The events of a simulation, in delivery order."""
    return simulate(learners, courses, days, seed, tenant_id).events


def simulate(
    learners: int, courses: int, days: int, seed: int, tenant_id: str = "acme"
) -> Simulation:
    """Events plus the simulator's own ground truth (one PairIntent per learner × course)."""
    if learners < 1 or courses < 1 or days < 1:
        raise ValueError("learners, courses and days must all be at least 1")
    rng = random.Random(seed)
    em = Emitter(seed, tenant_id)
    start = epoch_ms(start_of(seed))
    end = start + days * DAY_MS
    world = build_world(rng, em, learners, courses, start, end)
    popularity = [1.0 / (j + 1) ** 0.6 for j in range(courses)]
    journeys: list[Journey] = []
    for person in world.people:
        wanted = min(courses, rng.choices(*COURSES_PER_LEARNER)[0])
        chosen: list[int] = []
        while len(chosen) < wanted:
            pick = rng.choices(range(courses), weights=popularity)[0]
            if pick not in chosen:
                chosen.append(pick)
        earliest = start + 2 * HOUR_MS
        latest = min(start + (end - start) * 3 // 4, (person.active_until or end) - 6 * HOUR_MS)
        if latest <= earliest:
            continue
        times = sorted(rng.randint(earliest, latest) for _ in chosen)
        for index, enrolled_at in zip(sorted(chosen), times, strict=True):  # prerequisites first
            journey = Journey(
                rng=rng,
                em=em,
                person=person,
                course=world.courses[index],
                enrolled_at=enrolled_at,
                end=end,
                assigned=person.manager_id is not None and rng.random() < 0.45,
            )
            journey.run()
            journeys.append(journey)
    _unique_times(em.drafts)
    _delivery_faults(rng, em.drafts)
    return Simulation(
        seed=seed,
        tenant_id=tenant_id,
        learners=learners,
        courses=courses,
        days=days,
        start=from_epoch_ms(start),
        end=from_epoch_ms(end),
        events=_materialise(em.drafts, tenant_id),
        intents=[j.intent() for j in journeys],
    )


def _unique_times(drafts: list[Draft]) -> None:
    """No two events of one learner share a millisecond, and learner activity never sits on a
    whole second (org-chart times do): equal times would make event-time order ambiguous."""
    by_key: dict[str, list[Draft]] = defaultdict(list)
    for d in drafts:
        if d.event_name != COURSE_PUBLISHED:
            by_key[d.key].append(d)
    for group in by_key.values():
        used = {d.t for d in group if d.fixed_time}
        for d in sorted((d for d in group if not d.fixed_time), key=lambda d: (d.t, d.seq)):
            while d.t in used or d.t % SECOND_MS == 0:
                d.t += 1
            used.add(d.t)


def _delivery_faults(rng: random.Random, drafts: list[Draft]) -> None:
    for d in drafts:
        if d.event_name in ACTIVITY_EVENTS and d.late_by == 0 and rng.random() < LATE_FRACTION:
            short = rng.random() < 0.5
            d.late_by = (
                rng.randint(1, 10) * MINUTE_MS if short else rng.randint(10, 360) * MINUTE_MS
            )
    for d in drafts:
        if d.event_name in ACTIVITY_EVENTS and rng.random() < DUPLICATE_FRACTION:
            d.duplicates.append(d.t + d.late_by + rng.randint(SECOND_MS, 10 * MINUTE_MS))


def _materialise(drafts: list[Draft], tenant_id: str) -> list[SimEvent]:
    entries: list[tuple[int, int, int, SimEvent]] = []
    for d in drafts:
        envelope = make_envelope(
            d.event_name,
            tenant_id=tenant_id,
            source=d.source,
            event_id=d.event_id,
            occurred_at=from_epoch_ms(d.t),
            correlation_id=d.correlation_id,
            causation_id=d.causation_id,
        )
        event = SimEvent(d.event_name, d.key, {"envelope": envelope, **d.body})
        entries.append((d.t + d.late_by, d.seq, 0, event))
        for n, at in enumerate(d.duplicates, start=1):
            entries.append((at, d.seq, n, event))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in entries]
