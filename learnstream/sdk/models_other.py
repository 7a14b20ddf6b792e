"""Models outside the learning domain: catalog, org chart, learner profile, credentials,
notifications and HR sync.

As in models_learning, enums leave out the fallback symbol UNKNOWN, which only readers use.
"""

from __future__ import annotations

import enum
import json
import uuid
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, Field, model_validator

from learnstream import names
from learnstream.sdk.models_base import (
    INT32_MAX,
    Attempt,
    Count,
    Event,
    Frozen,
    Id,
    Ratio,
    Text,
    Timestamp,
    Version,
    rule_violation,
)

Days = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveDays = Annotated[int, Field(ge=1, le=INT32_MAX)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]  # BCP 47 shape
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def _json_object(value: str) -> str:
    # Notification templates index into the payload; anything but an object breaks them.
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"must be a JSON object string ({exc})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"must be a JSON object string (got a {type(parsed).__name__})")
    return value


class ItemKind(enum.StrEnum):
    LESSON = "LESSON"
    VIDEO = "VIDEO"
    ASSESSMENT = "ASSESSMENT"


class EmploymentStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    TERMINATED = "TERMINATED"


class NotificationKind(enum.StrEnum):
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    COURSE_COMPLETED = "COURSE_COMPLETED"
    OVERDUE = "OVERDUE"
    AT_RISK = "AT_RISK"
    RECERTIFICATION_REQUIRED = "RECERTIFICATION_REQUIRED"
    DIGEST = "DIGEST"


class NotificationChannel(enum.StrEnum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class HrTarget(enum.StrEnum):
    WORKDAY = "WORKDAY"
    SAP = "SAP"


class HrSyncStatus(enum.StrEnum):
    SENT = "SENT"
    ALREADY_RECORDED = "ALREADY_RECORDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class HrChange(enum.StrEnum):
    COMPLETION = "COMPLETION"
    REVOCATION = "REVOCATION"


class CourseItem(Frozen):
    item_id: Id
    kind: ItemKind
    required: bool


class CourseModule(Frozen):
    module_id: Id
    title: Text
    required: bool
    items: list[CourseItem] = Field(default_factory=list)


class SkillWeight(Frozen):
    skill: Id
    weight: Ratio


class CoursePublished(Event):
    EVENT_NAME: ClassVar[str] = names.COURSE_PUBLISHED
    KEY_FIELD: ClassVar[str] = "course_id"

    course_id: Id
    title: Text
    version: Version
    modules: list[CourseModule] = Field(default_factory=list)
    pass_mark: Ratio
    due_days: Days | None = None
    certificate_validity_days: PositiveDays | None = None
    prerequisites: list[Id] = Field(default_factory=list)
    skills: list[SkillWeight] = Field(default_factory=list)
    recertify_on_publish: bool = False
    recertify_by: Timestamp | None = None

    @model_validator(mode="after")
    def _ids_unique_within_the_course(self) -> Self:
        # Progress looks items up by id alone; a duplicate would count one item twice.
        seen_modules: set[str] = set()
        seen_items: set[str] = set()
        for m_index, module in enumerate(self.modules):
            if module.module_id in seen_modules:
                raise rule_violation(
                    f"modules.{m_index}.module_id", f"duplicate module_id {module.module_id!r}"
                )
            seen_modules.add(module.module_id)
            for i_index, item in enumerate(module.items):
                if item.item_id in seen_items:
                    raise rule_violation(
                        f"modules.{m_index}.items.{i_index}.item_id",
                        f"duplicate item_id {item.item_id!r} (unique within the course)",
                    )
                seen_items.add(item.item_id)
        if self.course_id in self.prerequisites:
            raise rule_violation("prerequisites", "must not contain the course itself")
        if self.recertify_by is not None and not self.recertify_on_publish:
            raise rule_violation("recertify_by", "is only meaningful with recertify_on_publish")
        return self


class EmploymentChanged(Event):
    EVENT_NAME: ClassVar[str] = names.EMPLOYMENT_CHANGED

    learner_id: Id
    manager_id: Id | None = None
    department: Id | None = None
    hr_worker_id: Id | None = None
    sap_user_id: Id | None = None
    employment_status: EmploymentStatus
    effective_at: Timestamp


class ProfileChanged(Event):
    EVENT_NAME: ClassVar[str] = names.PROFILE_CHANGED

    learner_id: Id
    display_name: Text | None = None
    email: Email | None = None
    locale: Locale | None = None
    erased: bool = False

    @model_validator(mode="after")
    def _erased_means_no_pii(self) -> Self:
        if self.erased:
            for name in ("display_name", "email"):
                if getattr(self, name) is not None:
                    raise rule_violation(name, "must be null when erased is true")
        return self


class CertificateIssued(Event):
    EVENT_NAME: ClassVar[str] = names.CERTIFICATE_ISSUED

    certificate_id: uuid.UUID
    learner_id: Id
    course_id: Id
    attempt: Attempt
    score: Ratio
    issued_at: Timestamp
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _expires_after_issue(self) -> Self:
        if self.expires_at is not None and self.expires_at <= self.issued_at:
            raise rule_violation(
                "expires_at",
                f"must be after issued_at (got {self.expires_at.isoformat()} <= "
                f"{self.issued_at.isoformat()})",
            )
        return self


class CertificateRevoked(Event):
    EVENT_NAME: ClassVar[str] = names.CERTIFICATE_REVOKED

    certificate_id: uuid.UUID
    learner_id: Id
    course_id: Id
    reason: Id
    revoked_at: Timestamp


class NotificationRequested(Event):
    EVENT_NAME: ClassVar[str] = names.NOTIFICATION_REQUESTED
    KEY_FIELD: ClassVar[str] = "recipient_id"

    notification_id: uuid.UUID
    recipient_id: Id
    subject_learner_id: Id
    course_id: Id | None = None
    kind: NotificationKind
    channel: NotificationChannel
    payload_json: Annotated[str, AfterValidator(_json_object)]


class SyncResult(Event):
    EVENT_NAME: ClassVar[str] = names.HR_SYNC_RESULT

    target: HrTarget
    learner_id: Id
    course_id: Id
    completion_id: uuid.UUID
    status: HrSyncStatus
    attempts: Count
    error: Text | None = None
    remote_ref: Id | None = None
    payload_hash: Sha256Hex
    change: HrChange | None = None  # null in results written before revocations were synced

    @model_validator(mode="after")
    def _failure_says_why(self) -> Self:
        if self.status is HrSyncStatus.FAILED and self.error is None:
            raise rule_violation("error", "is required when status is FAILED")
        return self


class CorrectionRequired(Event):
    EVENT_NAME: ClassVar[str] = names.HR_CORRECTION_REQUIRED

    target: HrTarget
    learner_id: Id
    course_id: Id
    certificate_id: uuid.UUID
    reason: Id
    remote_ref: Id | None = None
