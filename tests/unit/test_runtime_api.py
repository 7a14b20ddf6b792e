"""The runtime's public API for handlers is its package's `__all__`, pinned here (as httpx pins
its own in tests/test_exported_members.py): adding or removing a name is a deliberate change."""

from __future__ import annotations

from types import ModuleType

import streams.runtime as runtime

PUBLIC = [
    "BatchProcessor",
    "BatchStats",
    "DeadLetter",
    "Event",
    "Handler",
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
