"""The simulated course catalog and its catalog.course.published events.

Courses have 3-6 modules of lessons, videos and (mostly) an assessment, some optional modules and
items, pass marks 0.6-0.8, optional due dates and certificate validities (some short enough to
expire within a simulation), prerequisites (a DAG: always earlier courses) and weighted skills.

A few courses are republished mid-simulation as version 2, and one old version 1 is replayed
later (it must be ignored). The required structure never changes on a republish (only titles,
skills and optional items do), so a republish cannot un-complete a pair: per
docs/domain-rules.md only grade corrections revoke.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from learnstream.clock import SECOND_MS
from learnstream.names import COURSE_PUBLISHED
from learnstream.simulate.model import Emitter

# fmt: off
SKILLS = [
    "data-privacy", "information-security", "sql", "python", "cloud-fundamentals",
    "leadership", "communication", "project-management", "excel", "negotiation",
    "customer-service", "compliance", "machine-learning", "accessibility", "finance-basics",
    "workplace-safety",
]
TOPICS = [
    "Data Privacy", "Secure Coding", "SQL", "Python", "Cloud", "Leadership", "Feedback",
    "Project Delivery", "Spreadsheets", "Negotiation", "Customer Care", "Anti-Bribery",
    "Machine Learning", "Accessible Design", "Budgeting", "Workplace Safety",
    "Incident Response", "Remote Collaboration", "Code Review", "Presenting",
]
# fmt: on
LEVELS = ["Essentials", "Foundations", "in Practice", "Deep Dive", "for Managers", "Refresher"]
PASS_MARKS = [0.6, 0.65, 0.7, 0.75, 0.8]
DUE_DAYS = [None, None, 7, 14, 21, 30, 45]
VALIDITY_DAYS = [None, None, 365, 180, 90, 30, 14, 7]
MAX_SCORES = [10, 20, 25, 50, 100]


@dataclass
class Item:
    item_id: str
    kind: str  # LESSON | VIDEO | ASSESSMENT
    required: bool
    module_id: str
    duration_s: int = 0  # VIDEO: whole seconds
    max_score: int = 0  # ASSESSMENT
    difficulty: float = 0.0


@dataclass
class Module:
    module_id: str
    title: str
    required: bool
    items: list[Item]


@dataclass
class Course:
    index: int
    course_id: str
    title: str
    modules: list[Module]
    pass_mark: float
    due_days: int | None
    validity_days: int | None
    prerequisites: list[str]
    skills: list[tuple[str, float]]
    difficulty: float

    @property
    def required_items(self) -> list[Item]:
        return [i for m in self.modules if m.required for i in m.items if i.required]

    def record_body(
        self, version: int, title: str, skills: list[tuple[str, float]], extra: Item | None
    ) -> dict[str, Any]:
        modules = []
        for m in self.modules:
            items = [
                {"item_id": i.item_id, "kind": i.kind, "required": i.required} for i in m.items
            ]
            if extra is not None and extra.module_id == m.module_id:
                items.append({"item_id": extra.item_id, "kind": extra.kind, "required": False})
            modules.append(
                {"module_id": m.module_id, "title": m.title, "required": m.required, "items": items}
            )
        return {
            "course_id": self.course_id,
            "title": title,
            "version": version,
            "modules": modules,
            "pass_mark": self.pass_mark,
            "due_days": self.due_days,
            "certificate_validity_days": self.validity_days,
            "prerequisites": list(self.prerequisites),
            "skills": [{"skill": s, "weight": w} for s, w in skills],
        }


def _skill_weights(rng: random.Random, skills: list[str]) -> list[tuple[str, float]]:
    raw = [rng.uniform(0.2, 1.0) for _ in skills]
    total = sum(raw)
    return [(s, round(r / total, 2)) for s, r in zip(skills, raw, strict=True)]


def make_course(rng: random.Random, index: int, tag: str) -> Course:
    course_id = f"course-{tag}-{index:03d}"
    difficulty = rng.gauss(0.0, 0.5)
    modules: list[Module] = []
    for k in range(1, rng.randint(3, 6) + 1):
        module_id = f"{course_id}.m{k}"
        items: list[Item] = []
        kinds = ["LESSON"] * rng.randint(1, 2) + ["VIDEO"] * rng.choice([0, 1, 1, 1, 2])
        rng.shuffle(kinds)
        if rng.random() < 0.85:
            kinds.append("ASSESSMENT")
        for n, kind in enumerate(kinds, start=1):
            item = Item(f"{module_id}.{kind.lower()}{n}", kind, rng.random() > 0.08, module_id)
            if kind == "VIDEO":
                item.duration_s = rng.randint(90, 840)
            elif kind == "ASSESSMENT":
                item.max_score = rng.choice(MAX_SCORES)
                item.difficulty = rng.gauss(difficulty, 0.3)
            items.append(item)
        required = k == 1 or rng.random() > 0.15
        modules.append(Module(module_id, f"Module {k}", required, items))
    modules[0].items[0].required = True  # every course has at least one required item
    topic = TOPICS[index % len(TOPICS)]
    return Course(
        index=index,
        course_id=course_id,
        title=f"{topic} {rng.choice(LEVELS)}",
        modules=modules,
        pass_mark=rng.choice(PASS_MARKS),
        due_days=rng.choice(DUE_DAYS),
        validity_days=rng.choice(VALIDITY_DAYS),
        prerequisites=[],
        skills=_skill_weights(rng, rng.sample(SKILLS, rng.randint(1, 3))),
        difficulty=difficulty,
    )


def publish_catalog(
    rng: random.Random, em: Emitter, courses: list[Course], start: int, end: int
) -> None:
    """Publish `courses` (with prerequisites drawn) between `start` and `end` (ms)."""
    for c in courses:  # a prerequisite is always an earlier course: a DAG
        if c.index >= 1 and rng.random() < 0.3:
            picks = rng.sample(courses[: c.index], min(c.index, rng.randint(1, 2)))
            c.prerequisites = sorted(p.course_id for p in picks)
    for c in courses:
        t = start + c.index * 7 * SECOND_MS + rng.randint(1, 999)
        em.emit(
            COURSE_PUBLISHED,
            c.course_id,
            t,
            c.record_body(1, c.title, c.skills, None),
            source="/catalog/authoring",
            fixed_time=True,
        )
    span = end - start
    republished = rng.sample(courses, min(len(courses), max(1, len(courses) // 7)))
    for n, c in enumerate(sorted(republished, key=lambda x: x.index)):
        t = start + int(span * rng.uniform(0.35, 0.65)) + rng.randint(1, 999)
        last = c.modules[-1]
        extra = Item(f"{last.module_id}.bonus", "LESSON", False, last.module_id)
        skills = _skill_weights(rng, [s for s, _ in c.skills])
        body = c.record_body(2, f"{c.title} (2026 edition)", skills, extra)
        em.emit(
            COURSE_PUBLISHED, c.course_id, t, body, source="/catalog/authoring", fixed_time=True
        )
        if n == 0:  # a catalog replay re-sends the old version later: it must be ignored
            stale = c.record_body(1, c.title, c.skills, None)
            em.emit(
                COURSE_PUBLISHED,
                c.course_id,
                t + int((end - t) * rng.uniform(0.2, 0.8)),  # always before the end
                stale,
                source="/catalog/replay",
                fixed_time=True,
            )
