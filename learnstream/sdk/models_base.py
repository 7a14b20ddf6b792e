"""The building blocks of the SDK's event models: constrained types, the envelope, the base class.

The models mirror schemas/avro field for field, so that a valid model always encodes and a
decoded record always loads. Content rules that Avro cannot express (non-empty ids, score
ranges) live here as pydantic constraints, so a client app learns about a bad event before it
reaches Kafka rather than from a dead-letter queue.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from learnstream.errors import PermanentError
from learnstream.events import make_envelope

PII_FIELDS = frozenset({"display_name", "email"})  # learner.profile.changed.v1 only
INT32_MAX = 2**31 - 1  # Avro int is 32-bit; a bigger value would only fail at encode time


class EventValidationError(PermanentError, ValueError):
    """An event breaks its schema or a content rule; `problems` lists (field path, rule)."""

    def __init__(self, event_name: str, problems: list[tuple[str, str]]) -> None:
        self.event_name = event_name
        self.problems = problems
        lines = [
            f"{short_name(event_name)}: {path + ': ' if path else ''}{rule}"
            for path, rule in problems
        ]
        super().__init__("\n".join(lines))

    @classmethod
    def from_pydantic(cls, event_name: str, exc: ValidationError) -> EventValidationError:
        problems = []
        for error in exc.errors(include_url=False):
            loc = [str(part) for part in error["loc"]]
            ctx = error.get("ctx") or {}
            if error["type"] == "content_rule":
                # Cross-field rules run on the whole model; their ctx names the field.
                problems.append((".".join([*loc, ctx["field"]]), ctx["rule"]))
                continue
            rule = error["msg"].removeprefix("Value error, ")
            given = error.get("input")
            # Echo scalar inputs so the rule can be checked against the value that broke it,
            # except PII: error messages end up in logs.
            if loc and loc[-1] in PII_FIELDS:
                pass
            elif isinstance(given, datetime):
                rule = f"{rule} (got {given.isoformat()})"
            elif error["type"] != "missing" and isinstance(given, str | int | float):
                rule = f"{rule} (got {given!r})"
            problems.append((".".join(loc), rule))
        return cls(event_name, problems)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes despite __init__
        return type(self), (self.event_name, self.problems)


def short_name(event_name: str) -> str:
    """org.learnstream.learning.assessment.graded.v1 -> assessment.graded.v1 (for messages)."""
    parts = event_name.split(".")
    return ".".join(parts[3:]) if len(parts) > 4 and parts[0] == "org" else event_name


def rule_violation(field: str, rule: str) -> PydanticCustomError:
    """A cross-field rule failure whose message starts with the field it is about."""
    return PydanticCustomError("content_rule", "{field}: {rule}", {"field": field, "rule": rule})


def _no_surrounding_whitespace(value: str) -> str:
    # Ids are join keys; " l-1" and "l-1" would silently be two learners.
    if value != value.strip():
        raise ValueError("must not have leading or trailing whitespace")
    return value


def _utc_millis(value: datetime) -> datetime:
    # The wire carries UTC milliseconds; normalising here makes a decoded event equal the sent one.
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


Id = Annotated[str, Field(min_length=1), AfterValidator(_no_surrounding_whitespace)]
Text = Annotated[str, Field(min_length=1)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_millis)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Points = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Attempt = Annotated[int, Field(ge=1, le=INT32_MAX)]
Version = Annotated[int, Field(ge=0, le=INT32_MAX)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Frozen):
    """Mirror of org.learnstream.common.Envelope."""

    event_id: uuid.UUID
    event_type: Id
    minor_version: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    source: Id
    occurred_at: Timestamp
    tenant_id: Id
    correlation_id: Id | None = None
    causation_id: Id | None = None


def _avro_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _avro_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_avro_value(item) for item in value]
    return value


class Event(Frozen):
    """Base of every event model. Subclasses set EVENT_NAME and, unless it is learner_id,
    KEY_FIELD; their fields follow the Avro record's order after `envelope`."""

    EVENT_NAME: ClassVar[str]
    KEY_FIELD: ClassVar[str] = "learner_id"

    envelope: Envelope

    def __init__(self, **data: Any) -> None:
        # One error type for client code, whether the event was built, loaded or published.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            name = getattr(type(self), "EVENT_NAME", type(self).__name__)
            raise EventValidationError.from_pydantic(name, exc) from None

    @model_validator(mode="after")
    def _envelope_names_this_event(self) -> Self:
        if self.envelope.event_type != self.EVENT_NAME:
            got = self.envelope.event_type
            raise rule_violation("envelope.event_type", f"must be {self.EVENT_NAME} (got {got})")
        return self

    @classmethod
    def new(
        cls,
        *,
        tenant_id: str,
        source: str,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        minor_version: int = 0,
        **fields: Any,
    ) -> Self:
        """Build the event and its envelope; a retry must pass the first attempt's event_id."""
        envelope = make_envelope(
            cls.EVENT_NAME,
            tenant_id=tenant_id,
            source=source,
            event_id=event_id,
            occurred_at=occurred_at,
            minor_version=minor_version,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        return cls(envelope=envelope, **fields)

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> Self:
        """Load a decoded record. Fallback enum symbols (UNKNOWN) are rejected like on write:
        a consumer that must tolerate newer symbols should work on the plain record."""
        try:
            return cls.model_validate(record)
        except ValidationError as exc:
            raise EventValidationError.from_pydantic(cls.EVENT_NAME, exc) from None

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro writes it: UUIDs as str, enums as symbols, aware datetimes."""
        result: dict[str, Any] = _avro_value(self.model_dump())
        return result

    def key(self) -> str:
        """The Kafka partition key (KEY_FIELD's value)."""
        return str(getattr(self, self.KEY_FIELD))

    def revalidated(self) -> Self:
        """A fully validated copy; catches instances made with model_construct or copy."""
        try:
            return type(self).model_validate(self.model_dump())
        except ValidationError as exc:
            raise EventValidationError.from_pydantic(self.EVENT_NAME, exc) from None
