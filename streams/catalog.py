"""A published course version, reduced to what the progress and certification rules need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnstream.ids import epoch_ms

COUNTED_KINDS = ("LESSON", "VIDEO", "ASSESSMENT")  # a future kind never counts until known


@dataclass(frozen=True)
class CourseRules:
    course_id: str
    version: int
    published_at: int  # event time, ms
    event_id: str
    pass_mark: float
    due_days: int | None
    validity_days: int | None
    module_of: dict[str, str]  # item_id -> module_id
    required: tuple[tuple[str, str], ...]  # (item_id, kind) of required items in required modules
    # The owner's explicit "everyone re-certifies": certificates of earlier versions expire at
    # recertify_by (or at publication), instead of a silent re-evaluation that would revoke.
    recertify_on_publish: bool = False
    recertify_by: int | None = None  # event time, ms

    @property
    def recertify_deadline(self) -> int:
        """When certificates of earlier versions expire (never before the publication)."""
        return max(self.published_at, self.recertify_by or self.published_at)

    @property
    def required_assessments(self) -> list[str]:
        return [item for item, kind in self.required if kind == "ASSESSMENT"]

    def to_json(self) -> dict[str, Any]:
        return {
            "course_id": self.course_id,
            "version": self.version,
            "published_at": self.published_at,
            "event_id": self.event_id,
            "pass_mark": self.pass_mark,
            "due_days": self.due_days,
            "validity_days": self.validity_days,
            "module_of": self.module_of,
            "required": [list(r) for r in self.required],
            "recertify_on_publish": self.recertify_on_publish,
            "recertify_by": self.recertify_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CourseRules:
        return cls(**{**data, "required": tuple(tuple(r) for r in data["required"])})


def course_rules(record: dict[str, Any], published_at: int, event_id: str) -> CourseRules:
    """From a catalog.course.published record."""
    module_of: dict[str, str] = {}
    required: list[tuple[str, str]] = []
    for module in record.get("modules", []):
        for item in module.get("items", []):
            module_of[item["item_id"]] = module["module_id"]
            if module["required"] and item["required"] and item["kind"] in COUNTED_KINDS:
                required.append((item["item_id"], item["kind"]))
    return CourseRules(
        course_id=record["course_id"],
        version=int(record["version"]),
        published_at=published_at,
        event_id=event_id,
        pass_mark=float(record["pass_mark"]),
        due_days=record.get("due_days"),
        validity_days=record.get("certificate_validity_days"),
        module_of=module_of,
        required=tuple(required),
        recertify_on_publish=bool(record.get("recertify_on_publish", False)),
        recertify_by=_opt_ms(record.get("recertify_by")),
    )


def _opt_ms(value: Any) -> int | None:
    return None if value is None else epoch_ms(value)
