"""One error family for everything a consumer cannot decode; each one is dead-lettered."""

from __future__ import annotations

from learnstream.errors import PermanentError


class SerdeError(PermanentError):
    """Permanent: retrying the same bytes can never succeed, so they go to the DLQ."""


class UndecodableError(SerdeError):
    """Bad magic byte, truncated frame or bytes that are not Avro of the named schema."""


class UnknownSchemaError(SerdeError):
    """A fingerprint or registry id that no known schema has."""


class InvalidRecordError(SerdeError):
    """A record that does not match its schema (on encode) or breaks a content rule."""
