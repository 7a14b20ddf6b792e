"""A lane batch is applied in slices of no more distinct learners than its state caches keep,
so a large world's backlog never holds more learners in memory than the bound."""

from __future__ import annotations

from learnstream.runtime.records import InboundRecord
from streams.lane import by_keys


def records(keys: str) -> list[InboundRecord]:
    return [InboundRecord("t", 0, i, k.encode(), None) for i, k in enumerate(keys)]


def test_slices_hold_at_most_the_bound_of_distinct_keys_and_keep_order() -> None:
    batch = records("aabacbdde")
    slices = by_keys(batch, 2)
    assert [[r.key.decode() for r in s if r.key] for s in slices] == [
        ["a", "a", "b", "a"],
        ["c", "b"],
        ["d", "d", "e"],
    ]
    assert [r for s in slices for r in s] == batch  # nothing lost, nothing reordered


def test_no_bound_or_few_keys_is_one_slice() -> None:
    batch = records("abcabc")
    assert by_keys(batch, 0) == [batch]
    assert by_keys(batch, 3) == [batch]
    assert by_keys([], 2) == []
