"""Derived ids are UUIDv5 in the learnstream namespace (docs/domain-rules.md): the fast path
must give exactly what the standard library gives, for any name."""

from __future__ import annotations

import random
import uuid

from learnstream import ids


def test_v5_equals_the_standard_library_for_any_name() -> None:
    rng = random.Random(7)
    alphabet = "abcXYZ019:-_/. é✓😀\x00"
    names = ["", "event:org.learnstream.learning.progress.changed.v1:x"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(5000)
    ]
    for name in names:
        assert ids.v5(name) == str(uuid.uuid5(ids.LEARNSTREAM_NS, name)), name


def test_v5_gives_a_canonical_version_5_uuid() -> None:
    value = uuid.UUID(ids.completion_id("acme", "l-1", "c-1", 1))
    assert (value.version, value.variant) == (5, uuid.RFC_4122)
    assert str(value) == ids.completion_id("acme", "l-1", "c-1", 1)
