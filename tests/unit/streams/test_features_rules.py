"""Recommendation features and next-best-content: hand-built scenarios, exact numbers."""

from __future__ import annotations

import pytest

from learnstream.clock import DAY_MS
from streams.features.rules import (
    CatalogCourse,
    CatalogItem,
    CoursePopularity,
    GradeFact,
    LearnerCourse,
    LearnerState,
    PairStatus,
    ScoredAttempt,
    catalog_course,
    course_popularity,
    days_since,
    effective_attempts,
    events_per_day,
    learner_features,
    next_best_content,
    skill_mastery,
)

HOUR = 3_600_000
AS_OF = 100 * DAY_MS + 12 * HOUR  # noon of UTC day 100


def graded(
    event_id: str, t: int, score: float, *, course: str = "c1", item: str = "q1", attempt: int = 1
) -> GradeFact:
    return GradeFact(event_id, t, "graded", course, item, attempt, score=score, max_score=10.0)


def corrected(
    event_id: str, t: int, action: str, new_score: float | None = None, *, attempt: int = 1
) -> GradeFact:
    return GradeFact(
        event_id, t, "corrected", "c1", "q1", attempt, action=action, new_score=new_score
    )


def scored(t: int, ratio: float, course: str = "c1") -> ScoredAttempt:
    return ScoredAttempt(t, f"e{t}", course, "q", t, ratio)


# --- rolling windows -------------------------------------------------------------------------
def test_windows_are_whole_utc_days_ending_on_as_of_day() -> None:
    daily = {100: 7, 94: 7, 93: 100, 71: 30, 70: 1000, 101: 50}
    # 7 days = days 94..100; day 93 is outside, day 101 is after as_of
    assert events_per_day(daily, AS_OF, 7) == 14 / 7
    # 30 days = days 71..100; day 70 is outside
    assert events_per_day(daily, AS_OF, 30) == (7 + 7 + 100 + 30) / 30


def test_window_boundary_moves_at_utc_midnight() -> None:
    daily = {94: 7}
    assert events_per_day(daily, 101 * DAY_MS - 1, 7) == 1.0  # last ms of day 100
    assert events_per_day(daily, 101 * DAY_MS, 7) == 0.0  # day 101: day 94 drops out


def test_days_since_last_activity() -> None:
    assert days_since(AS_OF - 36 * HOUR, AS_OF) == 1.5
    assert days_since(AS_OF, AS_OF) == 0.0
    assert days_since(AS_OF + HOUR, AS_OF) == 0.0  # never negative
    assert days_since(None, AS_OF) is None


# --- grades and mastery ----------------------------------------------------------------------
def test_effective_attempts_apply_corrections_in_event_time_order() -> None:
    facts = [
        graded("g1", 10, 5.0, attempt=1),
        corrected("k1", 20, "CORRECTED", 8.0, attempt=1),
        graded("g2", 30, 9.0, attempt=2),
        corrected("k2", 40, "VOIDED", attempt=2),
        corrected("k3", 45, "CORRECTED", 2.0, attempt=3),  # overtook its grade
        graded("g3", 50, 10.0, attempt=3),
    ]
    attempts = effective_attempts(reversed(facts))  # arrival order does not matter
    assert [(a.attempt, a.ratio) for a in attempts] == [(1, 0.8), (3, 0.2)]


def test_mastery_is_an_exponentially_weighted_mean() -> None:
    skills = {"c1": [("sql", 1.0)]}
    assert skill_mastery([scored(1, 0.5)], skills) == {"sql": 0.5}
    # newer attempt weighs 1, older 0.5: (0.5*0.5 + 1*1.0) / 1.5
    assert skill_mastery([scored(1, 0.5), scored(2, 1.0)], skills)["sql"] == pytest.approx(
        1.25 / 1.5
    )


def test_mastery_moves_up_with_good_scores_and_down_with_bad() -> None:
    skills = {"c1": [("sql", 1.0)]}
    history = [scored(1, 0.6), scored(2, 0.6)]
    base = skill_mastery(history, skills)["sql"]
    assert base == pytest.approx(0.6)
    assert skill_mastery([*history, scored(3, 1.0)], skills)["sql"] > base
    assert skill_mastery([*history, scored(3, 0.0)], skills)["sql"] < base
    assert skill_mastery([scored(1, 1.0), scored(2, 0.0)], skills)["sql"] == pytest.approx(1 / 3)


def test_mastery_weights_evidence_by_the_course_skill_weight() -> None:
    skills = {"c1": [("sql", 1.0), ("py", 0.5)], "c2": [("sql", 0.25)], "c3": [("go", 0.0)]}
    mastery = skill_mastery(
        [scored(1, 1.0, "c1"), scored(2, 0.0, "c2"), scored(3, 0.0, "c3")], skills
    )
    # sql: (0.5 * 1.0*1.0 + 0.25*0.0) / (0.5*1.0 + 0.25); py only saw the c1 attempt
    assert mastery == {"py": 1.0, "sql": pytest.approx(0.5 / 0.75)}
    assert all(0.0 <= v <= 1.0 for v in mastery.values())


def test_learner_features_combines_everything() -> None:
    features = learner_features(
        "l1",
        AS_OF,
        daily_events={100: 14, 80: 16},
        last_activity_at=AS_OF - 3 * DAY_MS,
        pairs=[
            PairStatus("c1", "completed", enrolled=True),
            PairStatus("c2", "in_progress", enrolled=True),
            PairStatus("c3", "overdue", enrolled=True),
            PairStatus("c4", "completed", enrolled=False),  # completed without enrolment
        ],
        grades=[graded("g1", 1, 6.0, course="c1"), graded("g2", 2, 9.0, course="c2", item="q2")],
        skills_of={"c1": [("sql", 1.0)]},
    )
    assert features.events_per_day_7d == 2.0
    assert features.events_per_day_30d == 1.0
    assert features.days_since_last_activity == 3.0
    assert (features.enrolled_courses, features.completed_courses) == (3, 1)
    assert features.completion_rate == pytest.approx(1 / 3)
    assert features.graded_attempts == 2
    assert features.mean_score == pytest.approx(0.75)
    assert features.mastery == {"sql": pytest.approx(0.6)}


def test_a_learner_without_history_has_empty_features() -> None:
    features = learner_features("l1", AS_OF, {}, None, [], [], {})
    assert features.events_per_day_7d == features.events_per_day_30d == 0.0
    assert features.days_since_last_activity is None
    assert features.completion_rate is None and features.mean_score is None
    assert features.mastery == {}


def test_course_popularity_counts_enrolments_of_the_last_30_days() -> None:
    popularity = course_popularity(
        {"c1": {100: 2, 71: 3, 70: 50}, "c2": {60: 9}}, {"c2": 4, "c3": 1}, AS_OF
    )
    assert popularity == {
        "c1": CoursePopularity("c1", 5, 0),
        "c2": CoursePopularity("c2", 0, 4),
        "c3": CoursePopularity("c3", 0, 1),
    }


# --- next best content -----------------------------------------------------------------------
def course(
    course_id: str,
    items: tuple[str, ...] = (),
    prerequisites: tuple[str, ...] = (),
    skills: tuple[tuple[str, float], ...] = (),
) -> CatalogCourse:
    return CatalogCourse(
        course_id,
        course_id.upper(),
        tuple(CatalogItem(i, "LESSON", "m1", True) for i in items),
        prerequisites,
        skills,
    )


def test_catalog_course_reads_required_items_as_the_domain_rules_define_them() -> None:
    record = {
        "course_id": "c1",
        "title": "SQL",
        "modules": [
            {
                "module_id": "m1",
                "required": True,
                "items": [
                    {"item_id": "a", "kind": "LESSON", "required": True},
                    {"item_id": "b", "kind": "VIDEO", "required": False},
                    {"item_id": "c", "kind": "UNKNOWN", "required": True},
                ],
            },
            {
                "module_id": "m2",
                "required": False,
                "items": [{"item_id": "d", "kind": "ASSESSMENT", "required": True}],
            },
        ],
        "prerequisites": ["c0"],
        "skills": [{"skill": "sql", "weight": 0.75}],
    }
    parsed = catalog_course(record)
    assert [i.item_id for i in parsed.required_items] == ["a"]
    assert [i.item_id for i in parsed.items] == ["a", "b", "c", "d"]
    assert parsed.prerequisites == ("c0",)
    assert parsed.skills == (("sql", 0.75),)


CATALOG = [
    course("a", items=("a1", "a2", "a3"), skills=(("x", 1.0),)),
    course("b", items=("b1", "b2")),
    course("c", items=("c1",), prerequisites=("a",)),  # a not completed: never
    course("d", prerequisites=("p",), skills=(("y", 1.0),)),  # gap 1.0
    course("e", prerequisites=("p",), skills=(("x", 1.0), ("y", 0.5))),  # gap 0.2 + 0.5
    course("f", skills=(("z", 0.5),)),  # gap 0.5, popular
    course("g", skills=(("z", 0.5),)),  # gap 0.5, less popular
    course("h", prerequisites=("q",)),  # q never completed: never
    course("k", items=("k1",), skills=(("z", 0.5),)),  # enrolled then cancelled
    course("n", items=("n1",)),  # enrolled, no due date
    course("p", items=("p1",)),  # completed
    course("q", items=("q1",), prerequisites=("zz",)),
]
POPULARITY = {
    "f": CoursePopularity("f", 10, 0),
    "g": CoursePopularity("g", 2, 50),
    "k": CoursePopularity("k", 2, 1),
}
LEARNER = LearnerState(
    "l1",
    courses=(
        LearnerCourse("a", "in_progress", True, due_at=200 * DAY_MS, done_items=frozenset({"a2"})),
        LearnerCourse("b", "overdue", True, due_at=90 * DAY_MS, done_items=frozenset({"b1"})),
        LearnerCourse("n", "not_started", True),
        LearnerCourse("k", "in_progress", False),
        LearnerCourse("p", "completed", True, done_items=frozenset({"p1"})),
    ),
    mastery={"x": 0.8},
)


def test_unfinished_required_items_first_by_due_date_then_courses_by_gap_and_popularity() -> None:
    recs = next_best_content(LEARNER, CATALOG, POPULARITY)
    assert [(r.kind, r.course_id, r.item_id) for r in recs] == [
        ("item", "b", "b2"),  # due day 90 (overdue) before a, due day 200
        ("item", "a", "a1"),  # a's items in catalog order; a2 is done
        ("item", "a", "a3"),
        ("item", "n", "n1"),  # no due date: last among started courses
        ("course", "d", None),  # gap 1.0
        ("course", "e", None),  # gap 1.0 * (1 - 0.8) + 0.5 = 0.7
        ("course", "f", None),  # gap 0.5, 10 enrolments
        ("course", "g", None),  # gap 0.5, 2 enrolments, 50 completions
        ("course", "k", None),  # gap 0.5, 2 enrolments, 1 completion; cancelled = not enrolled
    ]
    assert recs[4].skill_gap == pytest.approx(1.0)
    assert recs[5].skill_gap == pytest.approx(0.7)
    assert "overdue since 1970-04-01" in recs[0].reason
    assert "due 1970-07-20" in recs[1].reason
    assert recs[4].reason.startswith("prerequisites met; skill gap 1.00 (y)")
    assert "no prerequisites" in recs[6].reason and "10 enrolments in 30 days" in recs[6].reason


def test_never_recommends_unmet_prerequisites_or_completed_or_enrolled_courses() -> None:
    recs = next_best_content(LEARNER, CATALOG, POPULARITY)
    offered = {r.course_id for r in recs if r.kind == "course"}
    assert offered.isdisjoint({"c", "h", "q"})  # prerequisites a, q, zz not completed
    assert "p" not in {r.course_id for r in recs}  # completed
    assert offered.isdisjoint({"a", "b", "n"})  # already enrolled


def test_completing_a_prerequisite_unlocks_the_course() -> None:
    done_a = LearnerCourse("a", "completed", True, done_items=frozenset({"a1", "a2", "a3"}))
    learner = LearnerState("l1", courses=(done_a,), mastery={})
    offered = [r.course_id for r in next_best_content(learner, CATALOG, {})]
    assert "c" in offered and "a" not in offered
    assert "d" not in offered  # p not completed here


def test_ordering_is_deterministic_under_input_order() -> None:
    shuffled = LearnerState("l1", tuple(reversed(LEARNER.courses)), LEARNER.mastery)
    assert next_best_content(shuffled, CATALOG, POPULARITY) == next_best_content(
        LEARNER, CATALOG, POPULARITY
    )
