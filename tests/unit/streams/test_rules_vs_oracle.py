"""The stream's pure rules, folded per pair, reproduce the simulator's oracle exactly.

The oracle (learnstream.simulate) folds all events of the world at once; the rules fold one
pair's facts with its course's catalog versions, as the progress agent does. Both implement
docs/domain-rules.md independently.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

import pytest

from learnstream import ids
from learnstream.simulate import compute_oracle, generate
from learnstream.simulate.model import SimEvent
from learnstream.simulate.oracle_model import Oracle
from streams.catalog import CourseRules, course_rules
from streams.progress.rules import Fact, to_fact
from streams.progress.timeline import Timeline, fold, progress_as_of
from tests.unit.test_oracle import Scenario, named_versions, recertified_course, republished_course

CATALOG = "org.learnstream.catalog.course.published.v1"


@pytest.fixture(scope="module", params=[3, 11])
def world(request: pytest.FixtureRequest) -> tuple[list[SimEvent], Oracle]:
    events = generate(learners=150, courses=6, days=40, seed=request.param)
    return events, compute_oracle(events)


def _fold_all(
    events: Iterable[SimEvent],
) -> tuple[dict[tuple[str, str], Timeline], dict[tuple[str, str], str]]:
    facts: dict[tuple[str, str], dict[str, Fact]] = defaultdict(dict)
    tenants: dict[tuple[str, str], str] = {}
    versions: dict[str, list[CourseRules]] = defaultdict(list)
    for e in events:
        t = ids.epoch_ms(e.record["envelope"]["occurred_at"])
        if e.event_name == CATALOG:
            versions[e.record["course_id"]].append(course_rules(e.record, t, e.event_id))
            continue
        fact = to_fact(e.event_name, e.record, t, e.event_id)
        if fact is not None:
            pair = (e.record["learner_id"], e.record["course_id"])
            facts[pair].setdefault(fact["id"], fact)  # duplicates: first copy wins
            tenants[pair] = e.record["envelope"]["tenant_id"]
    seen_versions: dict[str, list[CourseRules]] = {}
    for course, vs in versions.items():
        seen_versions[course] = list({(v.version, v.event_id): v for v in vs}.values())
    return {
        p: fold(list(f.values()), seen_versions.get(p[1], [])) for p, f in facts.items()
    }, tenants


def test_progress_rows_match(world: tuple[list[SimEvent], Oracle]) -> None:
    events, oracle = world
    timelines, _ = _fold_all(events)
    as_of = ids.epoch_ms(oracle.as_of)
    assert {(r.learner_id, r.course_id) for r in oracle.progress} == set(timelines)
    mismatches = []
    for row in oracle.progress:
        p = progress_as_of(timelines[(row.learner_id, row.course_id)], as_of)
        ours = (
            p.status,
            p.required_done,
            p.required_total,
            p.percent,
            None if p.due_at is None else ids.from_epoch_ms(p.due_at),
            None if p.last_activity_at is None else ids.from_epoch_ms(p.last_activity_at),
        )
        theirs = (
            row.status,
            row.required_done,
            row.required_total,
            row.percent,
            row.due_at,
            row.last_activity_at,
        )
        if ours != theirs or not math.isclose(
            p.time_spent_seconds, row.time_spent_seconds, abs_tol=1e-6
        ):
            mismatches.append((row.learner_id, row.course_id, ours, theirs))
        assert p.best_scores.keys() == row.best_scores.keys()
        for key, value in row.best_scores.items():
            assert math.isclose(p.best_scores[key], value, abs_tol=1e-9)
    assert not mismatches, mismatches[:5]


def test_completions_and_certificates_match(world: tuple[list[SimEvent], Oracle]) -> None:
    events, oracle = world
    timelines, tenants = _fold_all(events)
    ours = {}
    for (learner, course), timeline in timelines.items():
        for c in timeline.completions:
            key = ids.certificate_id(tenants[(learner, course)], learner, course, c.attempt)
            ours[key] = (
                c.attempt,
                ids.from_epoch_ms(c.completed_at),
                None if c.revoked_at is None else ids.from_epoch_ms(c.revoked_at),
                None if c.expires_at is None else ids.from_epoch_ms(c.expires_at),
            )
    theirs = {
        c.certificate_id: (c.attempt, c.issued_at, c.revoked_at, c.expires_at)
        for c in oracle.certificates
    }
    assert ours == theirs
    assert any(c.revoked for c in oracle.certificates)  # the world exercises revocation
    scores = {c.completion_id: c.score for c in oracle.completions}
    for (learner, course), timeline in timelines.items():
        for c in timeline.completions:
            cid = ids.completion_id(tenants[(learner, course)], learner, course, c.attempt)
            expected = scores[cid]
            assert (c.score is None) == (expected is None)
            if expected is not None:
                assert c.score is not None and math.isclose(c.score, expected, abs_tol=1e-9)


@pytest.mark.parametrize("scenario", [republished_course, recertified_course, named_versions])
def test_catalog_republish_scenarios_match(scenario: Callable[[], Scenario]) -> None:
    """Pinned versions and recertification: the same certificates, expiries and statuses."""
    events = scenario().events
    oracle = compute_oracle(events)
    timelines, tenants = _fold_all(events)
    as_of = ids.epoch_ms(oracle.as_of)
    ours = {
        (learner, course): progress_as_of(t, as_of).status
        for (learner, course), t in timelines.items()
    }
    assert ours == {(r.learner_id, r.course_id): r.status for r in oracle.progress}
    certificates = {
        (learner, c.attempt, c.revoked_at, c.expires_at, c.course_version)
        for (learner, _), t in timelines.items()
        for c in t.completions
    }
    assert certificates == {
        (
            c.learner_id,
            c.attempt,
            None if c.revoked_at is None else ids.epoch_ms(c.revoked_at),
            None if c.expires_at is None else ids.epoch_ms(c.expires_at),
            next(x.course_version for x in oracle.completions if x.completion_id == cid),
        )
        for c in oracle.certificates
        for cid in [
            ids.completion_id(
                tenants[(c.learner_id, c.course_id)], c.learner_id, c.course_id, c.attempt
            )
        ]
    }
