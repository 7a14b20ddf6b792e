"""Facts a consumer needs travel in schema fields, never in Kafka headers: the headers of a
derived event are the CloudEvents ones its envelope makes (learnstream.events.ce_headers) and
nothing else. Pure: the progress stage's emissions and the due sweep's alerts, without Kafka."""

from __future__ import annotations

import ast
import dataclasses

from learnstream import names
from learnstream.runtime.records import Outbound
from learnstream.settings import PROJECT_ROOT
from streams.catalog import CourseRules, course_rules
from streams.progress.due_sweep import alert
from streams.progress.events import emissions
from streams.progress.timeline import fold, progress_as_of

PRODUCTION = ["learnstream", "learnstream_cli", "streams", "sinks", "connectors"]
DAY = 86_400_000


def course(validity_days: int | None) -> CourseRules:
    record = {
        "course_id": "c-1",
        "version": 1,
        "pass_mark": 0.7,
        "due_days": None,
        "certificate_validity_days": validity_days,
        "modules": [
            {
                "module_id": "m-1",
                "required": True,
                "items": [{"item_id": "l-1", "kind": "LESSON", "required": True}],
            }
        ],
    }
    return course_rules(record, published_at=0, event_id="cat-1")


def facts() -> list[dict[str, object]]:
    return [
        {"t": 1_000, "id": "e-1", "kind": "enrolled", "due": 30 * DAY, "version": 1},
        {"t": 2_000, "id": "e-2", "kind": "lesson", "item": "l-1", "spent": 60.0},
    ]


def test_a_completion_and_its_snapshot_carry_their_facts_as_fields() -> None:
    rules = course(validity_days=365)
    timeline = fold(facts(), [rules])
    state: dict[str, object] = {"tenant_id": "acme", "facts": facts(), "emitted": {}}
    out = emissions(("l-1", "c-1"), state, timeline, progress_as_of(timeline, 10_000))
    by_name = {o.event_name: o for o in out}
    completed = by_name[names.COURSE_COMPLETED]
    assert completed.record["expires_at"] is not None
    assert completed.record["envelope"]["minor_version"] == 1
    snapshot = by_name[names.PROGRESS_CHANGED]
    assert snapshot.record["transition"] == "snapshot"
    assert snapshot.record["uncompleted_attempt"] is None and snapshot.record["due_at"] is None


def test_a_due_alert_names_its_transition_and_due_date_in_fields() -> None:
    timeline = fold(facts()[:1], [course(validity_days=None)])
    then = progress_as_of(timeline, 29 * DAY)
    out = alert(("l-1", "c-1"), "acme", "at_risk", 30 * DAY, 23 * DAY, then)
    assert out.record["transition"] == "at_risk"
    assert out.record["due_at"] is not None


def test_a_derived_event_has_no_place_for_headers() -> None:
    """The outbox writes the envelope's CloudEvents headers; a handler cannot add any."""
    assert [f.name for f in dataclasses.fields(Outbound)] == ["event_name", "key", "record"]


def test_no_module_sets_a_domain_header() -> None:
    """The old domain headers all began with "ls-"; no literal of that shape may come back."""
    found = {
        str(path.relative_to(PROJECT_ROOT)): node.value
        for root in PRODUCTION
        for path in (PROJECT_ROOT / root).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("ls-")
    }
    assert found == {}
