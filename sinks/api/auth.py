"""JWT bearer authentication and role-based access.

Tokens are verified with one configured algorithm (HS256 with a shared secret, or RS256 with a
public key) and must carry `exp`, `sub`, the configured `iss` and `aud`. `sub` is the caller's
learner/manager id; `roles` (a list, or a space-separated string) grants:

* `learner`  - the caller's own learner resources;
* `manager`  - the learner resources of the caller's *current* direct reports (the latest
               org_chart snapshot with effective_at <= now() names the caller as manager and
               says ACTIVE), the caller's own team, and course statistics;
* `admin`    - everything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
import psycopg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from learnstream.sections import ApiSettings
from sinks.api import queries
from sinks.api.errors import Forbidden, Unauthorized

LEARNER, MANAGER, ADMIN = "learner", "manager", "admin"
ROLES = frozenset({LEARNER, MANAGER, ADMIN})

bearer_scheme = HTTPBearer(
    auto_error=False, description="JWT with sub, roles, iss, aud and exp claims"
)


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


def _verification_key(settings: ApiSettings) -> str:
    if settings.jwt_algorithm == "RS256":
        assert settings.jwt_public_key is not None  # ApiSettings validates this
        return settings.jwt_public_key
    assert settings.jwt_secret is not None
    return settings.jwt_secret.get_secret_value()


def _signing_key(settings: ApiSettings) -> str:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key is None:
            raise ValueError("minting RS256 tokens needs LEARNSTREAM_API_JWT_PRIVATE_KEY")
        return settings.jwt_private_key.get_secret_value()
    assert settings.jwt_secret is not None
    return settings.jwt_secret.get_secret_value()


def mint_token(
    settings: ApiSettings,
    sub: str,
    roles: Iterable[str],
    ttl_s: int = 3600,
    *,
    audience: str | None = None,
    issuer: str | None = None,
    key: str | None = None,
) -> str:
    """A signed token for demos and tests (RS256 needs `jwt_private_key` or `key`)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": sorted(roles),
        "iss": issuer if issuer is not None else settings.jwt_issuer,
        "aud": audience if audience is not None else settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, key or _signing_key(settings), algorithm=settings.jwt_algorithm)


def decode_token(settings: ApiSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            _verification_key(settings),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_s,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthorized("token audience is not accepted") from exc
    except jwt.InvalidIssuerError as exc:
        raise Unauthorized("token issuer is not accepted") from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("token signature is invalid") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"token is invalid: {exc}") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or "\x00" in sub:
        raise Unauthorized("token has no usable subject")  # Postgres text cannot hold NUL
    raw = claims.get("roles", [])
    names = raw.split() if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(r, str) for r in names):
        raise Unauthorized("token roles claim must be a list of strings")
    return Principal(sub=sub, roles=frozenset(names) & ROLES)


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """FastAPI dependency: the verified caller, or 401."""
    if credentials is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>)", "missing_token")
    settings: ApiSettings = request.app.state.settings
    return decode_token(settings, credentials.credentials)


def authorize_learner(principal: Principal, learner_id: str, conn: psycopg.Connection) -> None:
    """Raise 403 unless the caller may read this learner's resources."""
    if principal.is_admin:
        return
    if LEARNER in principal.roles and principal.sub == learner_id:
        return
    if MANAGER in principal.roles and queries.is_current_report(conn, principal.sub, learner_id):
        return
    raise Forbidden(f"{principal.sub} may not read learner {learner_id}")


def authorize_manager(principal: Principal, manager_id: str) -> None:
    if principal.is_admin or (MANAGER in principal.roles and principal.sub == manager_id):
        return
    raise Forbidden(f"{principal.sub} may not read the team of {manager_id}")


def authorize_course_stats(principal: Principal) -> None:
    if principal.is_admin or MANAGER in principal.roles:
        return
    raise Forbidden("course statistics need the manager or admin role")
