"""What tests/integration/test_api_fuzz.py fuzzes the read API with: its OpenAPI schema loaded
into schemathesis, the ids it puts in paths, the credentials that must not work, the settings
that keep a run small and reproducible."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jwt
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from learnstream.sections import ApiSettings
from sinks.api import create_app
from tests.support.read_model import LEARNERS, SECRET, auth

# The OpenAPI document does not depend on where Postgres and Redis are: nothing connects here.
_OFFLINE = ApiSettings(
    jwt_secret=SecretStr(SECRET),
    postgres_dsn=SecretStr("postgresql://127.0.0.1:1/none"),
    redis_url=SecretStr("redis://127.0.0.1:1/0"),
)
SPEC: dict[str, Any] = create_app(_OFFLINE).openapi()
SCHEMA = schemathesis.openapi.from_dict(SPEC)
# Each test sends the credentials it is about, so no random "Bearer <junk>" values, nor requests
# that leave the header out: the unauthenticated test sends those explicitly.
# Unknown query parameters are ignored, as HTTP APIs generally do: rejecting them is not part of
# this API's contract, so schemathesis should not send them expecting a 4xx.
SCHEMA.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
# Operations without a security requirement (the test pins which ones they are).
PUBLIC = {
    (method.upper(), path)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if not operation.get("security", SPEC.get("security"))
}

ME = "l1"  # owner of the learner token: seeded, with progress and certificates
SEEDED_IDS = (*LEARNERS, "m1", "m2", "c1", "c2")
AWKWARD_IDS = ("\x00", "l1\x00", " l1", "L1", "l1%00", "*", "'; --", "\\", "x" * 2000)


def path_ids(*favourites: str) -> st.SearchStrategy[str | None]:
    """The id to put in the path: schemathesis' own (None; its path strings never hold NUL), a
    favourite, one that exists (random strings almost never do, and then no 200 body would be
    checked), one from a dictionary of awkward ids, or any text Hypothesis likes. Never "/",
    "." or "..": no client can send those as a path segment."""
    return st.one_of(
        st.none(),
        *(st.just(favourite) for favourite in favourites),
        st.sampled_from(SEEDED_IDS),
        st.sampled_from(AWKWARD_IDS),
        st.text(min_size=1, max_size=24).filter(
            lambda text: "/" not in text and text not in {".", ".."}
        ),
    )


# derandomize, and no example database: every run, locally and in CI, sends the same requests.
# The function-scoped app fixture is meant: one app per test item, shared by its examples as a
# server is shared by requests.
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Schemathesis' coverage cases (boundary values, missing parameters, methods the path lacks) run
# in the explicit phase and only in tests without @given, so they get tests of their own.
COVERAGE = settings(FUZZ, phases=[Phase.explicit])


def use_id(case: schemathesis.Case, value: str | None) -> bool:
    """Put `value` in the path in place of schemathesis' id; whether it did."""
    if value is None or not case.path_parameters:
        return False
    for name in case.path_parameters:  # quoted, as schemathesis quotes its own
        case.path_parameters[name] = quote(value, safe="")
    return True


def is_public(case: schemathesis.Case) -> bool:
    return (case.operation.method.upper(), case.operation.path) in PUBLIC


def wrong_method(case: schemathesis.Case) -> bool:
    """A coverage case for a method the path does not have: the router answers 405 first."""
    return case.method.upper() != case.operation.method.upper()


def valid_case(case: schemathesis.Case) -> bool:
    """Schemathesis' verdict: generated to satisfy the schema (positive) or to violate it."""
    return case.meta is None or case.meta.generation.mode.is_positive


def bad_credentials(api: ApiSettings) -> dict[str, str | None]:
    """Authorization values that must not authenticate; all claim admin, the worst case."""

    def admin(**kwargs: Any) -> str:
        return auth(api, "root", "admin", **kwargs)["Authorization"]

    claims = {"sub": "root", "roles": ["admin"], "iss": api.jwt_issuer, "aud": api.jwt_audience}
    unsigned = jwt.encode({**claims, "exp": int(time.time()) + 600}, "", algorithm="none")
    return {
        "no token": None,
        "garbage": "Bearer not-a-jwt",
        "wrong key": admin(key="another-secret-that-is-long-enough!"),
        "expired": admin(ttl_s=-60),
        "unsigned": f"Bearer {unsigned}",
    }
