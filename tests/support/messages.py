"""A consumed record's headers, typed: confluent-kafka declares them optional, as a dict or a
list of pairs with str, bytes or None values; a consumer hands back a list with bytes values."""

from __future__ import annotations

from confluent_kafka import Message


def header_pairs(msg: Message) -> list[tuple[str, bytes]]:
    """The headers in order ([] when the record has none); each value must be bytes."""
    headers = msg.headers()
    if headers is None:
        return []
    assert isinstance(headers, list), headers
    pairs: list[tuple[str, bytes]] = []
    for key, value in headers:
        assert isinstance(value, bytes), (key, value)
        pairs.append((key, value))
    return pairs
