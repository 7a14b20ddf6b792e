"""The runtime's public API for handlers is its package's `__all__`, pinned here (as httpx pins
its own in tests/test_exported_members.py): adding or removing a name is a deliberate change."""

from __future__ import annotations

from types import ModuleType

import pytest

import learnstream.runtime as runtime
from learnstream.runtime.handler import overrides

PUBLIC = [
    "BaseHandler",
    "BatchProcessor",
    "BatchStats",
    "DeadLetter",
    "Event",
    "InboundRecord",
    "InvalidContent",
    "Outbound",
    "TransientError",
    "is_transient",
    "lock_learners",
    "stage",
]


def test_the_public_api_is_pinned() -> None:
    assert runtime.__all__ == PUBLIC


def test_every_public_name_is_exported_and_nothing_else() -> None:
    exported = sorted(
        name
        for name, value in vars(runtime).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)  # submodules
    )
    assert exported == sorted(runtime.__all__)
    assert all(getattr(runtime, name) is not None for name in runtime.__all__)


def test_the_hooks_a_handler_does_not_override_do_nothing() -> None:
    class Minimal(runtime.BaseHandler):
        consumer = "minimal"

        def apply(self, conn: object, events: list[runtime.Event]) -> list[runtime.Outbound]:
            return []

    handler = Minimal()
    assert handler.relevant(object()) is True  # type: ignore[arg-type]
    assert handler.punctuate(None, set(), dict) == ([], False)  # type: ignore[arg-type]
    assert handler.backlog(None, {}) == {}  # type: ignore[arg-type]
    assert handler.backlog_topics() == []
    assert not overrides(handler, "punctuate") and not overrides(handler, "materialize")


def test_a_handler_must_implement_apply() -> None:
    class Incomplete(runtime.BaseHandler):
        consumer = "incomplete"

    with pytest.raises(TypeError, match="apply"):
        Incomplete()  # type: ignore[abstract]
