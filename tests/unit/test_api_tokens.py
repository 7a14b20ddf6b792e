"""Token subjects the read API cannot use are refused as 401, not sent to Postgres as 500."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from learnstream.sections import ApiSettings
from sinks.api import mint_token
from sinks.api.auth import decode_token
from sinks.api.errors import Unauthorized

SETTINGS = ApiSettings(jwt_secret=SecretStr("unit-test-secret-of-32-bytes-or-more!"))


def test_a_signed_token_with_a_usable_subject_is_accepted() -> None:
    principal = decode_token(SETTINGS, mint_token(SETTINGS, "m-1", ["manager"], 60))
    assert principal.sub == "m-1" and principal.roles == frozenset({"manager"})


@pytest.mark.parametrize("subject", ["", "m\x001"])
def test_a_signed_token_with_an_unusable_subject_is_refused(subject: str) -> None:
    with pytest.raises(Unauthorized, match="subject"):
        decode_token(SETTINGS, mint_token(SETTINGS, subject, ["manager"], 60))
