"""Folding a pair's facts batch by batch into the timeline kept in memory (`extend`) gives
exactly what one fold of every fact gives; out-of-order facts and new catalog versions are
refused, so the caller folds again."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from learnstream import ids
from learnstream.simulate import generate
from streams.catalog import course_rules
from streams.progress.rules import to_fact
from streams.progress.timeline import Timeline, extend, fold, progress_as_of

CATALOG = "org.learnstream.catalog.course.published.v1"


def _world(seed: int) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], dict[str, list]]:
    events = generate(learners=60, courses=5, days=40, seed=seed)
    facts: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    versions: dict[str, dict[tuple[int, str], Any]] = defaultdict(dict)
    for e in events:
        t = ids.epoch_ms(e.record["envelope"]["occurred_at"])
        if e.event_name == CATALOG:
            rules = course_rules(e.record, t, e.event_id)
            versions[e.record["course_id"]][(rules.version, rules.event_id)] = rules
            continue
        fact = to_fact(e.event_name, e.record, t, e.event_id)
        if fact is not None:
            facts[(e.record["learner_id"], e.record["course_id"])].setdefault(fact["id"], fact)
    return (
        {pair: list(f.values()) for pair, f in facts.items()},
        {course: list(v.values()) for course, v in versions.items()},
    )


def _summary(timeline: Timeline, as_of: int) -> tuple[Any, ...]:
    return (
        asdict(progress_as_of(timeline, as_of)),
        timeline.completions,
        timeline.completed,
        timeline.last_fact_id,
        timeline.course.version if timeline.course else None,
    )


def test_extending_in_event_time_equals_one_fold() -> None:
    facts, versions = _world(seed=5)
    rng = random.Random(5)
    extended = 0
    for pair, pair_facts in facts.items():
        ordered = sorted(pair_facts, key=lambda f: (f["t"], f["id"]))
        course_versions = versions.get(pair[1], [])
        cut = sorted(rng.sample(range(1, len(ordered) + 1), k=min(3, len(ordered))))
        timeline = fold(ordered[: cut[0]], course_versions)
        for start, end in zip(cut, [*cut[1:], len(ordered)], strict=True):
            batch = ordered[start:end]
            if extend(timeline, batch, course_versions):
                extended += 1
            else:  # a catalog version sorts between: the caller folds everything again
                timeline = fold(ordered[:end], course_versions)
        as_of = ordered[-1]["t"]
        assert _summary(timeline, as_of) == _summary(fold(ordered, course_versions), as_of)
    assert extended > len(facts)  # the in-order path is the one taken, not the fallback


def test_a_late_fact_is_refused() -> None:
    facts, versions = _world(seed=9)
    pair, pair_facts = max(facts.items(), key=lambda item: len(item[1]))
    ordered = sorted(pair_facts, key=lambda f: (f["t"], f["id"]))
    course_versions = versions.get(pair[1], [])
    late = ordered[len(ordered) // 2]
    rest = [f for f in ordered if f is not late]
    timeline = fold(rest, course_versions)
    before = _summary(timeline, ordered[-1]["t"])
    assert not extend(timeline, [late], course_versions)
    assert _summary(timeline, ordered[-1]["t"]) == before  # refused before changing anything


def test_a_new_catalog_version_is_refused() -> None:
    facts, versions = _world(seed=9)
    pair, pair_facts = next((p, f) for p, f in facts.items() if len(versions.get(p[1], [])) > 1)
    course_versions = sorted(versions[pair[1]], key=lambda v: v.version)
    ordered = sorted(pair_facts, key=lambda f: (f["t"], f["id"]))
    timeline = fold(ordered[:-1], course_versions[:-1])
    assert not extend(timeline, ordered[-1:], course_versions)


def test_required_items_kept_up_to_date_fact_by_fact_equal_a_fresh_count() -> None:
    """PairFacts keeps the done required items current as facts arrive; after every fact the
    count equals counting every required item again on a copy that never kept it."""
    from streams.progress.rules import PairFacts

    facts, versions = _world(seed=11)
    checked = 0
    for pair, pair_facts in facts.items():
        course_versions = versions.get(pair[1], [])
        if not course_versions:
            continue
        course = max(course_versions, key=lambda v: v.version)
        kept, plain = PairFacts(), PairFacts()
        kept.required_done(course)  # from here on, kept current fact by fact
        for fact in sorted(pair_facts, key=lambda f: (f["t"], f["id"])):
            kept.learn(fact)
            plain.learn(fact)  # never asked for required_done: counts from scratch below
            fresh = sum(plain.item_done(item, kind, course) for item, kind in course.required)
            assert kept.required_done(course) == (fresh, len(course.required))
            checked += 1
    assert checked > 500
