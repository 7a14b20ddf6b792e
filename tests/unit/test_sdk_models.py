"""The SDK models against the Avro schemas: same shape (checked recursively from the .avsc
JSON, not from a list kept by hand), lossless round trips, and readable content-rule errors."""

from __future__ import annotations

import enum
import json
import pickle
import types
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import AwareDatetime, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from learnstream.sdk import (
    EVENT_MODELS,
    AssessmentGraded,
    CoursePublished,
    Event,
    EventValidationError,
    ModuleCompleted,
    model_for,
)
from learnstream.serde import AvroSerde, SchemaStore
from learnstream.settings import Settings
from learnstream.topology import load_topology

SETTINGS = Settings()
ENVELOPE_FILE = "org.learnstream.common.envelope.avsc"
serde = AvroSerde(SchemaStore(SETTINGS.schema_dir))


def _event_schemas() -> dict[str, dict[str, Any]]:
    files = sorted(Path(SETTINGS.schema_dir).glob("org.learnstream.*.avsc"))
    return {
        p.name.removesuffix(".avsc"): json.loads(p.read_text())
        for p in files
        if p.name != ENVELOPE_FILE
    }


SCHEMAS = _event_schemas()
ENVELOPE = json.loads((Path(SETTINGS.schema_dir) / ENVELOPE_FILE).read_text())
NAMED = {f"{ENVELOPE['namespace']}.{ENVELOPE['name']}": ENVELOPE}
PRIMITIVES: dict[str, type] = {
    "string": str,
    "int": int,
    "long": int,
    "double": float,
    "float": float,
    "boolean": bool,
}


# --- shape: a recursive comparison of pydantic fields with the Avro JSON ----------------------
def _strip(annotation: Any) -> Any:
    """Drop Annotated[...] layers: constraints are not part of the Avro shape."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _upper_bounds(annotation: Any, metadata: list[Any]) -> list[Any]:
    """Every `le`/`lt` bound on a field, from Field(...) and Annotated[...] layers alike."""
    found = list(metadata)
    while typing.get_origin(annotation) is typing.Annotated:
        found.extend(annotation.__metadata__)
        annotation = typing.get_args(annotation)[0]
    flat = [m for item in found for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
    return [m for m in flat if isinstance(m, annotated_types.Le | annotated_types.Lt)]


def _nullable_inner(annotation: Any) -> Any | None:
    """T for Optional[T], None when the annotation does not admit None."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(annotation)
    if type(None) not in args:
        return None
    rest = [arg for arg in args if arg is not type(None)]
    assert len(rest) == 1, f"only [null, T] unions are used, got {annotation}"
    return rest[0]


def _check_type(annotation: Any, avro: Any, path: str, metadata: list[Any] | None = None) -> None:
    bounds = _upper_bounds(annotation, metadata or [])
    annotation = _strip(annotation)
    if isinstance(avro, str) and avro in NAMED:
        avro = NAMED[avro]
    if isinstance(avro, str):
        assert annotation is PRIMITIVES[avro], f"{path}: {annotation} is not Avro {avro}"
        if avro == "int":  # otherwise a too-big value passes the model and fails at encode
            limits = [b.le if isinstance(b, annotated_types.Le) else b.lt for b in bounds]
            assert any(limit <= 2**31 for limit in limits), (
                f"{path}: Avro int needs a 32-bit upper bound in the model"
            )
        return
    assert isinstance(avro, dict), f"{path}: unexpected Avro type {avro!r}"
    kind, logical = avro["type"], avro.get("logicalType")
    if logical == "uuid":
        assert annotation is uuid.UUID, f"{path}: uuid must be uuid.UUID, got {annotation}"
    elif logical == "timestamp-millis":
        assert annotation in (datetime, AwareDatetime), f"{path}: timestamp, got {annotation}"
    elif kind == "array":
        assert typing.get_origin(annotation) is list, f"{path}: array must be list"
        _check_type(typing.get_args(annotation)[0], avro["items"], f"{path}[]")
    elif kind == "map":
        assert typing.get_origin(annotation) is dict, f"{path}: map must be dict"
        key, value = typing.get_args(annotation)
        assert _strip(key) is str, f"{path}: map keys are strings"
        _check_type(value, avro["values"], f"{path}{{}}")
    elif kind == "record":
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), path
        _check_record(annotation, avro, path)
    elif kind == "enum":
        _check_enum(annotation, avro, path)
    else:
        _check_type(annotation, kind, path)


def _check_enum(annotation: Any, avro: dict[str, Any], path: str) -> None:
    fallback = avro["default"]
    assert fallback in avro["symbols"], f"{path}: the enum default must be one of its symbols"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        symbols = {member.value for member in annotation}
        assert annotation.__name__ == avro["name"].removesuffix("V1"), path
    else:
        assert typing.get_origin(annotation) is typing.Literal, f"{path}: Enum or Literal"
        symbols = set(typing.get_args(annotation))
    # Writers must never be able to send the reader-only fallback symbol.
    assert symbols == set(avro["symbols"]) - {fallback}, f"{path}: {symbols}"


def _check_field(info: FieldInfo, avro_field: dict[str, Any], path: str) -> None:
    avro_type = avro_field["type"]
    inner = _nullable_inner(info.annotation)
    if isinstance(avro_type, list):
        assert avro_type[0] == "null" and len(avro_type) == 2, f"{path}: only [null, T] unions"
        assert avro_field.get("default", "missing") is None, f"{path}: null default in Avro"
        assert inner is not None, f"{path}: nullable in Avro but not Optional in the model"
        assert not info.is_required() and info.get_default() is None, f"{path}: default None"
        _check_type(inner, avro_type[1], path, info.metadata)
        return
    assert inner is None, f"{path}: Optional in the model but not nullable in Avro"
    if "default" in avro_field:
        assert not info.is_required(), f"{path}: has an Avro default, so must be optional"
        default = info.get_default(call_default_factory=True)
        assert default == avro_field["default"], f"{path}: default {default!r}"
    else:
        assert info.is_required(), f"{path}: required in Avro, so required in the model"
    _check_type(info.annotation, avro_type, path, info.metadata)


def _check_record(model: type[BaseModel], avro: dict[str, Any], path: str) -> None:
    record_name = avro["name"]
    expected = record_name if record_name == "Envelope" else record_name.removesuffix("V1")
    assert model.__name__ == expected, f"{path}: model {model.__name__} for {record_name}"
    names = [field["name"] for field in avro["fields"]]
    assert list(model.model_fields) == names, f"{path}: field names/order differ"
    for field in avro["fields"]:
        _check_field(model.model_fields[field["name"]], field, f"{path}.{field['name']}")
    assert model.model_config.get("frozen") is True, f"{path}: models are frozen"
    assert model.model_config.get("extra") == "forbid", f"{path}: extra fields are forbidden"


def test_there_is_a_model_for_every_event_schema() -> None:
    assert len(SCHEMAS) == 19
    assert set(EVENT_MODELS) == set(SCHEMAS)
    for name, model in EVENT_MODELS.items():
        assert name == model.EVENT_NAME
        assert model_for(name) is model
    with pytest.raises(KeyError, match="no SDK model"):
        model_for("org.learnstream.nothing.here.v1")


@pytest.mark.parametrize("event_name", sorted(SCHEMAS))
def test_model_matches_schema(event_name: str) -> None:
    _check_record(model_for(event_name), SCHEMAS[event_name], event_name)


@pytest.mark.parametrize("event_name", sorted(SCHEMAS))
def test_key_field_is_the_topic_key(event_name: str) -> None:
    topology = load_topology(SETTINGS.topology_file)
    topic = topology.topic_for_event(event_name)
    assert topology.topics[topic].key == model_for(event_name).KEY_FIELD


def test_the_shape_check_catches_a_mismatch() -> None:
    """Guard the guard: a schema with one field renamed must fail the comparison."""
    broken = json.loads(json.dumps(SCHEMAS[ModuleCompleted.EVENT_NAME]))
    broken["fields"][-1]["name"] = "module_ref"
    with pytest.raises(AssertionError, match="field names"):
        _check_record(ModuleCompleted, broken, "broken")
    optional = json.loads(json.dumps(SCHEMAS[ModuleCompleted.EVENT_NAME]))
    optional["fields"][-1].update(type=["null", "string"], default=None)
    with pytest.raises(AssertionError, match="nullable in Avro"):
        _check_record(ModuleCompleted, optional, "optional")


# --- round trips ------------------------------------------------------------------------------
T0 = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
U1 = uuid.UUID("6f1c3c1e-2b7a-4c55-9d2e-1a2b3c4d5e6f")
ENV: dict[str, Any] = {
    "tenant_id": "acme",
    "source": "/tests/sdk",
    "occurred_at": T0,
    "correlation_id": "corr-1",
    "causation_id": "cause-1",
    "minor_version": 0,
}
LC: dict[str, Any] = {"learner_id": "l-1", "course_id": "c-1"}
SAMPLES: dict[str, dict[str, Any]] = {
    "org.learnstream.learning.enrollment.created.v1": {
        **LC,
        "enrollment_id": "e-1",
        "course_version": 3,
        "assigned_by": "mgr-1",
        "due_at": T0 + timedelta(days=30),
    },
    "org.learnstream.learning.enrollment.cancelled.v1": {
        **LC,
        "enrollment_id": "e-1",
        "cancelled_by": "mgr-1",
        "reason": "UNASSIGNED",
    },
    "org.learnstream.learning.lesson.completed.v1": {
        **LC,
        "module_id": "m-1",
        "lesson_id": "i-1",
        "time_spent_seconds": 120.5,
    },
    "org.learnstream.learning.module.completed.v1": {**LC, "module_id": "m-1"},
    "org.learnstream.learning.video.progressed.v1": {
        **LC,
        "module_id": "m-1",
        "video_id": "v-1",
        "position_seconds": 60.0,
        "duration_seconds": 300.0,
        "watched_segments": [
            {"start_seconds": 0.0, "end_seconds": 30.0},
            {"start_seconds": 30.0, "end_seconds": 60.0},
        ],
    },
    "org.learnstream.learning.assessment.submitted.v1": {
        **LC,
        "module_id": "m-2",
        "assessment_id": "a-1",
        "attempt": 1,
        "answers_count": 10,
        "time_spent_seconds": 600.0,
    },
    "org.learnstream.learning.assessment.graded.v1": {
        **LC,
        "module_id": "m-2",
        "assessment_id": "a-1",
        "attempt": 1,
        "score": 8.0,
        "max_score": 10.0,
        "pass_mark": 0.7,
        "passed": True,
    },
    "org.learnstream.learning.grade.corrected.v1": {
        **LC,
        "assessment_id": "a-1",
        "attempt": 1,
        "action": "CORRECTED",
        "new_score": 6.0,
        "new_passed": False,
        "corrected_by": "admin-1",
        "reason": "GRADING_ERROR",
    },
    "org.learnstream.learning.course.completed.v1": {
        **LC,
        "completion_id": U1,
        "course_version": 3,
        "attempt": 1,
        "completed_at": T0,
        "score": 0.8,
        "time_spent_seconds": 3600.0,
    },
    "org.learnstream.learning.recertification.required.v1": {
        **LC,
        "certificate_id": U1,
        "completion_id": U1,
        "attempt": 1,
        "certified_version": 1,
        "required_version": 2,
        "published_at": T0,
        "expires_at": T0,
    },
    "org.learnstream.learning.progress.changed.v1": {
        **LC,
        "required_done": 3,
        "required_total": 4,
        "percent": 75.0,
        "time_spent_seconds": 900.0,
        "best_scores": {"a-1": 0.8},
        "status": "in_progress",
        "last_activity_at": T0,
    },
    "org.learnstream.catalog.course.published.v1": {
        "course_id": "c-1",
        "title": "Safety 101",
        "version": 3,
        "pass_mark": 0.7,
        "due_days": 30,
        "certificate_validity_days": 365,
        "prerequisites": ["c-0"],
        "skills": [{"skill": "safety", "weight": 1.0}],
        "recertify_on_publish": True,
        "recertify_by": T0,
        "modules": [
            {
                "module_id": "m-1",
                "title": "Basics",
                "required": True,
                "items": [
                    {"item_id": "i-1", "kind": "LESSON", "required": True},
                    {"item_id": "v-1", "kind": "VIDEO", "required": False},
                ],
            },
            {
                "module_id": "m-2",
                "title": "Quiz",
                "required": True,
                "items": [{"item_id": "a-1", "kind": "ASSESSMENT", "required": True}],
            },
        ],
    },
    "org.learnstream.org.employment.changed.v1": {
        "learner_id": "l-1",
        "manager_id": "mgr-1",
        "department": "ops",
        "hr_worker_id": "W-1",
        "sap_user_id": "S-1",
        "employment_status": "ACTIVE",
        "effective_at": T0,
    },
    "org.learnstream.learner.profile.changed.v1": {
        "learner_id": "l-1",
        "display_name": "Ada L.",
        "email": "ada@example.org",
        "locale": "de-DE",
        "erased": False,
    },
    "org.learnstream.credential.certificate.issued.v1": {
        **LC,
        "certificate_id": U1,
        "attempt": 1,
        "score": 0.8,
        "issued_at": T0,
        "expires_at": T0 + timedelta(days=365),
    },
    "org.learnstream.credential.certificate.revoked.v1": {
        **LC,
        "certificate_id": U1,
        "reason": "grade_corrected",
        "revoked_at": T0,
    },
    "org.learnstream.notification.notification.requested.v1": {
        "notification_id": U1,
        "recipient_id": "mgr-1",
        "subject_learner_id": "l-1",
        "course_id": "c-1",
        "kind": "CERTIFICATE_ISSUED",
        "channel": "WEBHOOK",
        "payload_json": '{"score": 0.8}',
    },
    "org.learnstream.hr.sync.result.v1": {
        **LC,
        "target": "WORKDAY",
        "completion_id": U1,
        "status": "SENT",
        "attempts": 1,
        "remote_ref": "WD-9",
        "payload_hash": "ab" * 32,
    },
    "org.learnstream.hr.correction.required.v1": {
        **LC,
        "target": "SAP",
        "certificate_id": U1,
        "reason": "CERTIFICATE_REVOKED",
        "remote_ref": "SAP-7",
    },
}


def sample(event_name: str, **overrides: Any) -> Event:
    return model_for(event_name).new(**{**ENV, **SAMPLES[event_name], **overrides})


def _plain(value: Any) -> None:
    """to_avro must hand fastavro plain values: no UUID or Enum objects, aware datetimes."""
    if isinstance(value, dict):
        for item in value.values():
            _plain(item)
    elif isinstance(value, list):
        for item in value:
            _plain(item)
    else:
        assert type(value) in (str, int, float, bool, type(None), datetime), repr(value)
        assert not isinstance(value, datetime) or value.tzinfo is not None


def test_every_model_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_MODELS)


@pytest.mark.parametrize("event_name", sorted(SCHEMAS))
def test_sample_round_trips_through_avro(event_name: str) -> None:
    event = sample(event_name)
    record = event.to_avro()
    _plain(record)
    assert record["envelope"]["event_id"] == str(event.envelope.event_id)
    name, decoded = serde.decode(serde.encode(event_name, record))
    assert name == event_name
    assert model_for(name).from_avro(decoded) == event


def test_new_fills_the_envelope_and_times_are_utc_millis() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    event = ModuleCompleted.new(tenant_id="acme", source="/app", **LC, module_id="m-1")
    assert event.envelope.event_type == ModuleCompleted.EVENT_NAME
    assert event.envelope.event_id.version == 4
    assert event.envelope.occurred_at >= before
    cest = datetime(2026, 3, 4, 7, 6, 7, 891234, tzinfo=timezone(timedelta(hours=2)))
    event = ModuleCompleted.new(**{**ENV, "occurred_at": cest}, **LC, module_id="m-1")
    assert event.envelope.occurred_at == T0 and event.envelope.occurred_at.tzinfo is UTC
    assert event.key() == "l-1"


def test_models_are_frozen() -> None:
    event = sample(ModuleCompleted.EVENT_NAME)
    assert isinstance(event, ModuleCompleted)
    with pytest.raises(ValidationError, match="frozen"):
        event.learner_id = "l-2"  # type: ignore[misc]  # read-only: the runtime refusal is tested


# --- content rules: the message names the field and the rule ----------------------------------
GRADED = AssessmentGraded.EVENT_NAME


@pytest.mark.parametrize(
    ("event_name", "overrides", "expected"),
    [
        (GRADED, {"score": -1.0}, "score: Input should be greater than or equal to 0 (got -1.0)"),
        (GRADED, {"score": 12.0}, "score: must be <= max_score (got 12.0 > 10.0)"),
        (GRADED, {"max_score": 0.0}, "max_score: Input should be greater than 0"),
        (GRADED, {"pass_mark": 70}, "pass_mark: Input should be less than or equal to 1"),
        (GRADED, {"attempt": 0}, "attempt: Input should be greater than or equal to 1"),
        (GRADED, {"learner_id": ""}, "learner_id: String should have at least 1 character"),
        (GRADED, {"learner_id": " l-1"}, "learner_id: must not have leading or trailing"),
        (GRADED, {"tenant_id": ""}, "envelope.tenant_id: String should have at least 1"),
        (
            GRADED,
            {"occurred_at": datetime(2026, 1, 1)},
            "envelope.occurred_at: Input should have timezone info",
        ),
        (GRADED, {"grade": "A"}, "grade: Extra inputs are not permitted"),
        (
            "org.learnstream.learning.grade.corrected.v1",
            {"action": "UNKNOWN"},
            "action: Input should be 'VOIDED' or 'CORRECTED' (got 'UNKNOWN')",
        ),
        (
            "org.learnstream.learning.grade.corrected.v1",
            {"action": "VOIDED"},
            "new_score: must be null when action is VOIDED",
        ),
        (
            "org.learnstream.learning.progress.changed.v1",
            {"status": "unknown"},
            "status: Input should be 'not_started', 'in_progress', 'completed' or 'overdue'",
        ),
        (
            "org.learnstream.learning.progress.changed.v1",
            {"percent": 100.5},
            "percent: Input should be less than or equal to 100",
        ),
        (
            "org.learnstream.learning.progress.changed.v1",
            {"required_done": 5},
            "required_done: must be <= required_total (got 5 > 4)",
        ),
        (
            "org.learnstream.learning.progress.changed.v1",
            {"best_scores": {"a-1": 8.0}},
            "best_scores.a-1: Input should be less than or equal to 1",
        ),
        (
            "org.learnstream.learning.video.progressed.v1",
            {"position_seconds": 301.0},
            "position_seconds: must be <= duration_seconds (got 301.0 > 300.0)",
        ),
        (
            "org.learnstream.learning.video.progressed.v1",
            {"watched_segments": [{"start_seconds": 50.0, "end_seconds": 40.0}]},
            "watched_segments.0.end_seconds: must be >= start_seconds (got 40.0 < 50.0)",
        ),
        (
            CoursePublished.EVENT_NAME,
            {
                "modules": [
                    {
                        "module_id": "m",
                        "title": "M",
                        "required": True,
                        "items": [{"item_id": "i", "kind": "UNKNOWN", "required": True}],
                    }
                ]
            },
            "modules.0.items.0.kind: Input should be 'LESSON', 'VIDEO' or 'ASSESSMENT'",
        ),
        (
            CoursePublished.EVENT_NAME,
            {"prerequisites": ["c-1"]},
            "prerequisites: must not contain the course itself",
        ),
        (
            "org.learnstream.learner.profile.changed.v1",
            {"erased": True},
            "display_name: must be null when erased is true",
        ),
        (
            "org.learnstream.notification.notification.requested.v1",
            {"payload_json": "[1]"},
            "payload_json: must be a JSON object string (got a list)",
        ),
        (
            "org.learnstream.hr.sync.result.v1",
            {"payload_hash": "xyz"},
            "payload_hash: String should match pattern",
        ),
    ],
)
def test_validation_error_names_field_and_rule(
    event_name: str, overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(EventValidationError) as caught:
        sample(event_name, **overrides)
    short = ".".join(event_name.split(".")[3:])
    assert f"{short}: {expected}" in str(caught.value).splitlines()[0]
    assert isinstance(caught.value, ValueError)
    assert caught.value.event_name == event_name


def test_every_problem_is_listed() -> None:
    with pytest.raises(EventValidationError) as caught:
        sample(GRADED, learner_id="", attempt=0, score=-2.0)
    assert [path for path, _ in caught.value.problems] == ["learner_id", "attempt", "score"]


def test_pii_is_not_echoed_and_errors_pickle() -> None:
    with pytest.raises(EventValidationError) as caught:
        sample("org.learnstream.learner.profile.changed.v1", email="ada at example.org")
    assert "email: String should match pattern" in str(caught.value)
    assert "ada at" not in str(caught.value)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.problems) == (str(caught.value), caught.value.problems)


def test_wrong_event_type_in_envelope_is_rejected() -> None:
    record = sample(ModuleCompleted.EVENT_NAME).to_avro()
    record["envelope"]["event_type"] = GRADED
    with pytest.raises(EventValidationError, match=r"envelope\.event_type: must be"):
        ModuleCompleted.from_avro(record)


def test_from_avro_rejects_the_reader_fallback_symbol() -> None:
    record = sample("org.learnstream.learning.grade.corrected.v1").to_avro()
    record["action"] = "UNKNOWN"
    with pytest.raises(EventValidationError, match="action: Input should be"):
        model_for("org.learnstream.learning.grade.corrected.v1").from_avro(record)


def test_revalidated_catches_events_that_skipped_validation() -> None:
    good = sample(GRADED)
    bad = good.model_copy(update={"score": 99.0})  # model_copy does not validate
    with pytest.raises(EventValidationError, match="score: must be <= max_score"):
        bad.revalidated()
    assert good.revalidated() == good
