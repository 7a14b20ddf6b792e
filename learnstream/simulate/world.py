"""The simulated tenant: its catalog (catalog.py) and its org chart, with the employment and
profile events that describe the people, including mid-simulation changes.

Managers are learners too. About 60 % of people have a Workday worker id and 40 % a SAP user id
(independently, so some have both and some neither). A handful change manager (announced up to
two days before it takes effect), a few are terminated (effective at once, never retroactively)
and some have their SAP mapping added late. Names and e-mails appear only in profile events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from learnstream.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from learnstream.ids import from_epoch_ms
from learnstream.names import EMPLOYMENT_CHANGED, PROFILE_CHANGED
from learnstream.simulate.catalog import SKILLS, Course, make_course, publish_catalog
from learnstream.simulate.model import Emitter

# fmt: off
FIRST_NAMES = [
    "Ada", "Ben", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi",
    "Lea", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe",
]
LAST_NAMES = [
    "Andersen", "Baptiste", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Umarov", "Varga", "Weber", "Yilmaz", "Zhang",
]
# fmt: on
LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL", "pt-BR", "ja-JP"]


@dataclass
class Person:
    index: int
    learner_id: str
    manager_id: str | None
    department: str
    hr_worker_id: str | None
    sap_user_id: str | None
    display_name: str
    email: str
    locale: str
    ability: dict[str, float]
    engagement: float  # 0..1: drives drop-outs and retakes
    pace_days: float  # mean gap between learning sessions
    reports: list[str] = field(default_factory=list)
    active_until: int | None = None  # termination effective time (ms)


@dataclass
class World:
    tenant_id: str
    start: int  # ms
    end: int  # ms
    courses: list[Course]
    people: list[Person]


def _make_people(rng: random.Random, count: int, tag: str, tenant: str) -> list[Person]:
    n_managers = max(1, round(count / 8))
    people: list[Person] = []
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        general = rng.gauss(0.0, 0.6)
        people.append(
            Person(
                index=i,
                learner_id=f"learner-{tag}-{i:05d}",
                manager_id=None,
                department=f"dept-{i % 12:02d}",
                hr_worker_id=f"WD{tag}{i:06d}" if rng.random() < 0.6 else None,
                sap_user_id=f"SAP{tag}{i:06d}" if rng.random() < 0.4 else None,
                display_name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}.{i}@{tenant}.example",
                locale=rng.choice(LOCALES),
                ability={s: general + rng.gauss(0.0, 0.8) for s in SKILLS},
                engagement=rng.betavariate(3.0, 1.4),
                pace_days=min(6.0, rng.lognormvariate(-0.2, 0.6)),
            )
        )
    for p in people[1:]:
        boss = people[rng.randrange(0, min(p.index, n_managers))]
        p.manager_id = boss.learner_id
        boss.reports.append(p.learner_id)
        if p.index >= n_managers:
            p.department = boss.department
    return people


def _snapshot(p: Person, status: str, effective: int) -> dict[str, Any]:
    return {
        "learner_id": p.learner_id,
        "manager_id": p.manager_id,
        "department": p.department,
        "hr_worker_id": p.hr_worker_id,
        "sap_user_id": p.sap_user_id,
        "employment_status": status,
        "effective_at": from_epoch_ms(effective),
    }


def _profile(p: Person, erased: bool = False) -> dict[str, Any]:
    return {
        "learner_id": p.learner_id,
        "display_name": None if erased else p.display_name,
        "email": None if erased else p.email,
        "locale": p.locale,
        "erased": erased,
    }


def _publish_org(rng: random.Random, em: Emitter, world: World) -> None:
    people, start, span = world.people, world.start, world.end - world.start

    def hris(p: Person) -> str:
        return "/hris/workday" if p.hr_worker_id else "/hris/sap"

    for p in people:
        t = start + 20 * MINUTE_MS + p.index * 211 + 1
        hired = start - rng.randint(30, 3000) * DAY_MS - rng.randint(0, 86399) * SECOND_MS
        em.emit(
            EMPLOYMENT_CHANGED,
            p.learner_id,
            t,
            _snapshot(p, "ACTIVE", hired),
            source=hris(p),
            fixed_time=True,
        )
        em.emit(
            PROFILE_CHANGED,
            p.learner_id,
            t + 40 * MINUTE_MS,
            _profile(p),
            source="/lms/profile",
            fixed_time=True,
        )
    managers = [p for p in people if p.reports]
    leaves = [p for p in people if not p.reports and p.manager_id is not None]
    rng.shuffle(leaves)
    n_moves = min(len(leaves), 2 + len(people) // 150) if len(managers) > 1 else 0
    n_terms = min(len(leaves) - n_moves, max(1, len(people) // 200)) if len(people) >= 8 else 0
    movers, leavers = leaves[:n_moves], leaves[n_moves : n_moves + n_terms]
    mapped_later = [p for p in leaves[n_moves + n_terms :] if p.sap_user_id is None]
    for p in movers:  # announced up to two days before it takes effect
        boss = rng.choice([m for m in managers if m.learner_id != p.manager_id])
        effective = start + int(span * rng.uniform(0.2, 0.85)) // SECOND_MS * SECOND_MS
        p.manager_id, p.department = boss.learner_id, boss.department
        announced = max(start + HOUR_MS, effective - rng.randint(0, 2 * 24 * 60) * MINUTE_MS)
        em.emit(
            EMPLOYMENT_CHANGED,
            p.learner_id,
            announced,
            _snapshot(p, "ACTIVE", effective),
            source=hris(p),
            fixed_time=True,
        )
    for n, p in enumerate(leavers):
        effective = start + int(span * rng.uniform(0.3, 0.9)) // SECOND_MS * SECOND_MS
        p.active_until = effective
        em.emit(
            EMPLOYMENT_CHANGED,
            p.learner_id,
            effective,
            _snapshot(p, "TERMINATED", effective),
            source=hris(p),
            fixed_time=True,
        )
        erased_at = effective + rng.randint(1, 3) * DAY_MS
        if n % 3 == 0 and erased_at < world.end:  # right to erasure after leaving
            em.emit(
                PROFILE_CHANGED,
                p.learner_id,
                erased_at,
                _profile(p, erased=True),
                source="/lms/privacy",
                fixed_time=True,
            )
    for p in mapped_later[: 1 + len(people) // 300]:  # SAP mapping added mid-simulation
        effective = start + int(span * rng.uniform(0.3, 0.7)) // SECOND_MS * SECOND_MS
        p.sap_user_id = f"SAPL{p.learner_id.rsplit('-', 1)[-1]}"
        em.emit(
            EMPLOYMENT_CHANGED,
            p.learner_id,
            effective,
            _snapshot(p, "ACTIVE", effective),
            source="/hris/sap",
            fixed_time=True,
        )
    for p in rng.sample(people, len(people) // 50):  # e-mail address changes
        t = start + int(span * rng.uniform(0.1, 0.9)) + 11
        p.email = f"{p.display_name.split()[0].lower()}.{p.index}@mail.{world.tenant_id}.example"
        em.emit(
            PROFILE_CHANGED, p.learner_id, t, _profile(p), source="/lms/profile", fixed_time=True
        )


def build_world(
    rng: random.Random, em: Emitter, learners: int, courses: int, start: int, end: int
) -> World:
    tag = str(em.seed)
    world = World(
        tenant_id=em.tenant_id,
        start=start,
        end=end,
        courses=[make_course(rng, j, tag) for j in range(courses)],
        people=_make_people(rng, learners, tag, em.tenant_id),
    )
    publish_catalog(rng, em, world.courses, world.start, world.end)
    _publish_org(rng, em, world)
    return world
