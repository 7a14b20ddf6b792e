"""The learner simulator: deterministic, realistic, schema-valid, and in agreement with its own
intentions as read back by the oracle."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from learnstream.ids import epoch_ms
from learnstream.names import ACTIVITY_EVENTS, COURSE_PUBLISHED, EMPLOYMENT_CHANGED, PROFILE_CHANGED
from learnstream.sdk import model_for
from learnstream.serde import AvroSerde, SchemaStore
from learnstream.settings import Settings
from learnstream.simulate import (
    Oracle,
    SimEvent,
    Simulation,
    compute_oracle,
    generate,
    simulate,
)
from learnstream.simulate.runner import TokenBucket, throttled


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(learners=400, courses=12, days=30, seed=11)


@pytest.fixture(scope="module")
def oracle(sim: Simulation) -> Oracle:
    return compute_oracle(sim.events, seed=sim.seed)


@pytest.fixture(scope="module")
def serde() -> AvroSerde:
    return AvroSerde(SchemaStore(Settings().schema_dir))


def _t(event: SimEvent) -> int:
    return epoch_ms(event.record["envelope"]["occurred_at"])


def _encoded(events: list[SimEvent], serde: AvroSerde) -> list[tuple[str, bytes]]:
    return [(e.key, serde.encode(e.event_name, e.record)) for e in events]


# --- determinism --------------------------------------------------------------------------------
def test_same_arguments_give_identical_events_and_oracle(serde: AvroSerde) -> None:
    first, second = generate(60, 6, 14, seed=3), generate(60, 6, 14, seed=3)
    assert first == second
    assert _encoded(first, serde) == _encoded(second, serde)
    assert compute_oracle(first, seed=3).to_json() == compute_oracle(second, seed=3).to_json()


def test_a_different_seed_gives_different_events(serde: AvroSerde) -> None:
    a, b = generate(60, 6, 14, seed=3), generate(60, 6, 14, seed=4)
    assert _encoded(a, serde) != _encoded(b, serde)
    assert {e.event_id for e in a}.isdisjoint({e.event_id for e in b})
    assert compute_oracle(a).to_json() != compute_oracle(b).to_json()


def test_event_ids_are_uuid5_and_the_timeline_starts_at_the_seeds_epoch(sim: Simulation) -> None:
    import uuid

    assert all(uuid.UUID(e.event_id).version == 5 for e in sim.events)
    assert sim.start.weekday() == 0 and sim.start.hour == 0  # a Monday, midnight UTC
    assert min(_t(e) for e in sim.events) >= epoch_ms(sim.start)
    assert max(_t(e) for e in sim.events) < epoch_ms(sim.end)


def test_events_scale_with_learners() -> None:
    small, large = len(generate(100, 20, 30, seed=5)), len(generate(300, 20, 30, seed=5))
    for count, learners in ((small, 100), (large, 300)):
        assert 35 <= count / learners <= 70, count / learners  # ~50: 2000 learners ~ 100k events
    assert 2.4 <= large / small <= 3.6


# --- schema validity ------------------------------------------------------------------------------
def test_every_record_encodes_decodes_and_passes_the_sdk_rules(
    sim: Simulation, serde: AvroSerde
) -> None:
    for event in sim.events:
        data = serde.encode(event.event_name, event.record)
        name, decoded = serde.decode(data)
        assert name == event.event_name
        model = model_for(event.event_name)
        model.from_avro(event.record)  # content rules (ids, ranges, segment bounds, ...)
        assert event.key == str(event.record[model.KEY_FIELD])
        assert decoded["envelope"]["occurred_at"] == event.record["envelope"]["occurred_at"]


def test_the_oracle_of_decoded_events_equals_the_oracle_of_generated_ones(
    sim: Simulation, oracle: Oracle, serde: AvroSerde
) -> None:
    decoded = []
    for event in sim.events:
        _, record = serde.decode(serde.encode(event.event_name, event.record))
        decoded.append(SimEvent(event.event_name, event.key, record))
    assert compute_oracle(decoded, seed=sim.seed).to_json() == oracle.to_json()


# --- the oracle agrees with what the simulator meant ----------------------------------------------
def test_oracle_agrees_with_the_simulators_intent_on_every_pair(
    sim: Simulation, oracle: Oracle
) -> None:
    progress = {(p.learner_id, p.course_id): p for p in oracle.progress}
    certificates: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for c in oracle.certificates:
        certificates[(c.learner_id, c.course_id)].append(c.revoked)
    assert len(progress) == len(sim.intents)
    for intent in sim.intents:
        pair = (intent.learner_id, intent.course_id)
        row = progress[pair]
        assert (row.status == "completed") == intent.completed, intent
        assert len(certificates[pair]) == intent.completions, intent
        assert sum(certificates[pair]) == intent.revocations, intent
        assert (None if row.due_at is None else epoch_ms(row.due_at)) == intent.due_at, intent
        if intent.cancelled:
            assert row.status != "overdue", intent
        if intent.outcome in ("failed", "dropped", "stuck", "revoked", "cancelled"):
            assert row.status != "completed", intent
    outcomes = Counter(i.outcome for i in sim.intents)
    for outcome in ("completed", "failed", "dropped", "cancelled", "stuck", "unfinished"):
        assert outcomes[outcome] > 0, outcomes


# --- realism -------------------------------------------------------------------------------------
def test_learning_behaviour_is_varied(sim: Simulation, oracle: Oracle) -> None:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sim.events:
        records[e.event_name].append(e.record)
    graded = records["org.learnstream.learning.assessment.graded.v1"]
    assert max(r["attempt"] for r in graded) >= 3  # retakes after failing
    assert 0.6 < sum(r["passed"] for r in graded) / len(graded) < 0.95
    corrections = Counter(
        r["action"] for r in records["org.learnstream.learning.grade.corrected.v1"]
    )
    assert corrections["VOIDED"] > 0 and corrections["CORRECTED"] > 0
    assert records["org.learnstream.learning.enrollment.cancelled.v1"]
    assert records["org.learnstream.learning.module.completed.v1"]
    created = records["org.learnstream.learning.enrollment.created.v1"]
    assert any(r["due_at"] is not None for r in created)
    assert any(r["assigned_by"] is not None for r in created)
    assert any(r["assigned_by"] is None for r in created)
    lessons = records["org.learnstream.learning.lesson.completed.v1"]
    assert any(r["time_spent_seconds"] is None for r in lessons)
    beats = records["org.learnstream.learning.video.progressed.v1"]
    assert any(len(r["watched_segments"]) == 2 for r in beats)  # skipped a part mid-heartbeat
    counts = oracle.counts
    assert counts["status"]["overdue"] > 0 and counts["status"]["in_progress"] > 0
    assert counts["revoked"] > 0 and counts["expired"] > 0 and counts["hr_corrections"] > 0
    assert set(counts["notifications"]) == {
        "AT_RISK",
        "CERTIFICATE_ISSUED",
        "COURSE_COMPLETED",
        "OVERDUE",
    }
    partial = [p for p in oracle.progress if 0 < p.percent < 100]
    assert len(partial) > len(oracle.progress) // 10


def test_videos_are_watched_partly_fully_and_again(sim: Simulation) -> None:
    segments: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    duration: dict[tuple[str, str], float] = {}
    for e in sim.events:
        if e.event_name == "org.learnstream.learning.video.progressed.v1":
            key = (e.record["learner_id"], e.record["video_id"])
            segments[key] += [
                (s["start_seconds"], s["end_seconds"]) for s in e.record["watched_segments"]
            ]
            duration[key] = e.record["duration_seconds"]
    ratios = []
    rewatched = 0
    for key, spans in segments.items():
        seconds: set[int] = set()
        for start, end in spans:
            seconds.update(range(int(start), int(end)))
        rewatched += sum(e - s for s, e in spans) > len(seconds)
        ratios.append(len(seconds) / duration[key])
    assert rewatched > 0
    assert any(0.88 <= r < 0.9 for r in ratios) and any(0.9 < r <= 0.92 for r in ratios)
    assert any(r < 0.7 for r in ratios) and any(r == 1.0 for r in ratios)


def test_catalog_and_org_chart(sim: Simulation) -> None:
    published = [e.record for e in sim.events if e.event_name == COURSE_PUBLISHED]
    versions = Counter((r["course_id"], r["version"]) for r in published)
    assert any(v == 2 for _, v in versions)  # republished mid-simulation
    assert any(n == 2 for (_, v), n in versions.items() if v == 1)  # a stale replay of v1
    first = {r["course_id"]: r for r in published if r["version"] == 1}
    assert len(first) == sim.courses
    for r in first.values():
        assert 3 <= len(r["modules"]) <= 6
        assert 0.6 <= r["pass_mark"] <= 0.8
        assert all(p < r["course_id"] for p in r["prerequisites"])  # a DAG over courses
    assert any(r["due_days"] is None for r in first.values())
    assert any(r["certificate_validity_days"] is None for r in first.values())
    assert any(not m["required"] for r in first.values() for m in r["modules"])
    employment = [e.record for e in sim.events if e.event_name == EMPLOYMENT_CHANGED]
    initial = {r["learner_id"]: r for r in employment[::-1]}  # first snapshot per learner
    workday = sum(r["hr_worker_id"] is not None for r in initial.values()) / len(initial)
    sap = sum(r["sap_user_id"] is not None for r in initial.values()) / len(initial)
    assert 0.5 < workday < 0.7 and 0.3 < sap < 0.5
    managers = {r["manager_id"] for r in employment if r["manager_id"]}
    assert managers <= {r["learner_id"] for r in employment}  # managers are learners too
    assert any(r["employment_status"] == "TERMINATED" for r in employment)
    per_learner = Counter(r["learner_id"] for r in employment)
    assert sum(n > 1 for n in per_learner.values()) >= 5  # manager changes, terminations


def test_pii_only_in_profile_events(sim: Simulation) -> None:
    profiles = [e.record for e in sim.events if e.event_name == PROFILE_CHANGED]
    assert all("@" in r["email"] for r in profiles if not r["erased"])
    for e in sim.events:
        if e.event_name != PROFILE_CHANGED:
            text = json.dumps(e.record, default=str)
            assert "email" not in text and "display_name" not in text and "@" not in text


def test_late_deliveries_and_exact_resends(sim: Simulation) -> None:
    events = sim.events
    activity = [e for e in events if e.event_name in ACTIVITY_EVENTS]
    seen: dict[str, SimEvent] = {}
    resends = 0
    for e in events:
        if e.event_id in seen:
            assert seen[e.event_id] == e  # an exact copy
            resends += 1
        seen[e.event_id] = e
    assert 0.002 < resends / len(activity) < 0.01
    late, newest = 0, 0
    for e in events:
        late += _t(e) < newest
        newest = max(newest, _t(e))
    assert 0.004 < late / len(activity) < 0.03
    by_learner: dict[str, list[int]] = defaultdict(list)
    for e in seen.values():
        if e.event_name in ACTIVITY_EVENTS:
            by_learner[e.key].append(_t(e))
    for times in by_learner.values():
        assert len(times) == len(set(times))  # no two events of a learner share a millisecond


# --- runner pieces -------------------------------------------------------------------------------
def test_token_bucket_limits_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(100.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(1000):
        bucket.take()
    assert 9.8 <= now[0] <= 10.0  # 1000 tokens at 100/s, after a burst of 10
    assert list(throttled(range(5), None)) == [0, 1, 2, 3, 4]


def test_cli_dry_run_writes_the_oracle(tmp_path: Path) -> None:
    from learnstream_cli.commands.simulate import app

    target = tmp_path / "oracle.json"
    result = CliRunner().invoke(
        app,
        [
            "--learners",
            "30",
            "--courses",
            "4",
            "--days",
            "10",
            "--seed",
            "9",
            "--dry-run",
            "--oracle",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    loaded = Oracle.load(target)
    assert loaded.seed == 9
    assert loaded.to_json() == compute_oracle(generate(30, 4, 10, seed=9), seed=9).to_json()
    assert "expected completions" in result.output
