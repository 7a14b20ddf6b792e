"""The read API against real Postgres and Redis: a migrated database with hand-written view
rows (tests/support/read_model.py, whose docstring describes the org chart), FastAPI's
TestClient over create_app, JWTs minted with PyJWT."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import psycopg
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from learnstream.sections import ApiSettings
from learnstream.settings import Settings
from sinks.api import create_app
from tests.conftest import free_port
from tests.support.read_model import SECRET, auth, seed
from tests.support.read_model import api_settings as read_model_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def db(pg_url: str, stack_settings: Settings) -> str:
    seed(pg_url, stack_settings)
    return pg_url


@pytest.fixture
def api_settings(
    db: str, stack_settings: Settings, redis_client: tuple[redis.Redis, str]
) -> ApiSettings:
    return read_model_settings(db, stack_settings, redis_client[1])


@pytest.fixture
def client(api_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


# --- RBAC ------------------------------------------------------------------------------------
def test_learner_reads_only_their_own_resources(
    client: TestClient, api_settings: ApiSettings
) -> None:
    me = auth(api_settings, "l1", "learner")
    response = client.get("/learners/l1/progress", headers=me)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["learner_id"] == "l1"
    assert [(c["course_id"], c["status"], c["percent"]) for c in body["courses"]] == [
        ("c1", "in_progress", 50.0),
        ("c2", "completed", 100.0),
    ]
    assert body["courses"][0]["best_scores"] == {"q1": 0.8}

    certificates = client.get("/learners/l1/certificates", headers=me).json()["certificates"]
    assert sorted((c["course_id"], c["status"]) for c in certificates) == [
        ("c0", "revoked"),
        ("c2", "valid"),
        ("c9", "expired"),
    ]

    for path in ("progress", "certificates", "recommendations"):
        other = client.get(f"/learners/l2/{path}", headers=me)
        assert other.status_code == 403, path
        assert other.json() == {"error": "forbidden", "message": "l1 may not read learner l2"}
    assert client.get("/managers/l1/team", headers=me).status_code == 403
    assert client.get("/courses/c1/stats", headers=me).status_code == 403


def test_manager_reads_current_direct_reports_only(
    client: TestClient, api_settings: ApiSettings
) -> None:
    m1 = auth(api_settings, "m1", "manager")
    for learner in ("l1", "l2"):  # current reports (l2's future move to m9 is not in effect)
        assert client.get(f"/learners/{learner}/progress", headers=m1).status_code == 200
        assert client.get(f"/learners/{learner}/certificates", headers=m1).status_code == 200
    for learner in ("l3", "l4", "nobody"):  # moved away, terminated, unknown
        response = client.get(f"/learners/{learner}/progress", headers=m1)
        assert response.status_code == 403, learner
        assert response.json()["error"] == "forbidden"
    m2 = auth(api_settings, "m2", "manager")
    assert client.get("/learners/l3/progress", headers=m2).status_code == 200
    assert client.get("/learners/l1/progress", headers=m2).status_code == 403

    team = client.get("/managers/m1/team", headers=m1)
    assert team.status_code == 200, team.text
    body = team.json()
    assert [m["learner_id"] for m in body["members"]] == ["l1", "l2"]
    assert (body["reports"], body["assignments"], body["completed"]) == (2, 3, 1)
    assert (body["in_progress"], body["overdue"], body["overdue_reports"]) == (1, 1, ["l2"])
    assert body["members"][1]["overdue_courses"] == ["c1"]
    assert client.get("/managers/m2/team", headers=m1).status_code == 403

    stats = client.get("/courses/c1/stats", headers=m1)
    assert stats.status_code == 200
    assert stats.json()["enrolments"] == 4


def test_admin_reads_everything_and_unknown_ids_are_404(
    client: TestClient, api_settings: ApiSettings
) -> None:
    admin = auth(api_settings, "root", "admin")
    assert client.get("/learners/l3/progress", headers=admin).status_code == 200
    assert client.get("/learners/l4/certificates", headers=admin).json()["certificates"] == []
    assert client.get("/managers/m2/team", headers=admin).json()["overdue_reports"] == []

    stats = client.get("/courses/c1/stats", headers=admin).json()
    assert stats["title"] == "C1"
    assert (stats["enrolments"], stats["completions"], stats["completion_rate"]) == (4, 1, 0.25)
    assert stats["median_time_to_complete_s"] == pytest.approx(18 * 86_400)
    assert stats["funnel"] == {
        "enrolled": 4,
        "started": 3,
        "half_done": 2,
        "completed": 1,
        "certified": 0,
    }

    for path in (
        "/learners/nobody/progress",
        "/learners/nobody/certificates",
        "/learners/nobody/recommendations",
        "/managers/nobody/team",
        "/courses/nope/stats",
    ):
        response = client.get(path, headers=admin)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    # known but without progress (only in the org chart): an empty dashboard, not a 404
    m1_progress = client.get("/learners/m1/progress", headers=admin)
    assert m1_progress.status_code == 200
    assert m1_progress.json()["courses"] == []


def test_recommendations(client: TestClient, api_settings: ApiSettings) -> None:
    def recommended(learner: str) -> list[tuple[str, str]]:
        response = client.get(
            f"/learners/{learner}/recommendations", headers=auth(api_settings, learner, "learner")
        )
        assert response.status_code == 200, response.text
        return [(r["kind"], r["course_id"]) for r in response.json()["recommendations"]]

    assert recommended("l4") == [("course", "c1"), ("course", "c2")]
    assert recommended("l1") == [("course", "c1")]  # c2 is completed: not recommended again
    limited = client.get(
        "/learners/l4/recommendations?limit=1", headers=auth(api_settings, "l4", "learner")
    )
    assert len(limited.json()["recommendations"]) == 1


# --- authentication --------------------------------------------------------------------------
def _forged(settings: ApiSettings, **changes: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "l1",
        "roles": ["learner"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    key = changes.pop("key", SECRET)
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, "HS256")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "missing bearer token"),
        ("not a jwt", "token is invalid"),
        ("expired", "token has expired"),
        ("wrong audience", "token audience is not accepted"),
        ("wrong issuer", "token issuer is not accepted"),
        ("wrong signature", "token signature is invalid"),
        ("no expiry", "token is invalid"),
        ("basic auth", "missing bearer token"),
    ],
)
def test_bad_credentials_are_401(
    client: TestClient, api_settings: ApiSettings, case: str, message: str
) -> None:
    s = api_settings
    headers = {
        "missing": {},
        "not a jwt": {"Authorization": "Bearer not.a.jwt"},
        "expired": {"Authorization": f"Bearer {_forged(s, exp=1_000_000)}"},
        "wrong audience": {"Authorization": f"Bearer {_forged(s, aud='someone-else')}"},
        "wrong issuer": {"Authorization": f"Bearer {_forged(s, iss='evil')}"},
        "wrong signature": {"Authorization": f"Bearer {_forged(s, key='x' * 40)}"},
        "no expiry": {"Authorization": f"Bearer {_forged(s, exp=None)}"},
        "basic auth": {"Authorization": "Basic bDE6cGFzcw=="},
    }[case]
    response = client.get("/learners/l1/progress", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] in {"missing_token", "invalid_token"}
    assert response.json()["message"].startswith(message)
    # the same forged claims with the right key work: the 401 is about the case, not the setup
    assert client.get("/learners/l1/progress", headers=auth(s, "l1", "learner")).status_code == 200


def test_rs256(api_settings: ApiSettings, rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    settings = api_settings.model_copy(
        update={
            "jwt_algorithm": "RS256",
            "jwt_public_key": public,
            "jwt_private_key": SecretStr(private),
            "jwt_secret": None,
        }
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with TestClient(create_app(settings)) as client:
        ok = client.get("/learners/l1/progress", headers=auth(settings, "l1", "learner"))
        assert ok.status_code == 200, ok.text
        forged = client.get(
            "/learners/l1/progress", headers=auth(settings, "l1", "learner", key=other_pem)
        )
        assert forged.status_code == 401
        assert forged.json()["message"] == "token signature is invalid"
        # an HS256 token (here with the API's shared secret) is refused: one algorithm only
        hs = client.get("/learners/l1/progress", headers=auth(api_settings, "l1", "learner"))
        assert hs.status_code == 401


# --- cache and fallbacks ---------------------------------------------------------------------
def test_dashboard_cache_read_through_and_refill_after_flush(
    client: TestClient,
    api_settings: ApiSettings,
    db: str,
    redis_client: tuple[redis.Redis, str],
) -> None:
    cache, prefix = redis_client
    key = f"{prefix}dashboard:l1"
    me = auth(api_settings, "l1", "learner")
    first = client.get("/learners/l1/progress", headers=me)
    assert first.headers["X-Learnstream-Cache"] == "miss"
    assert cache.exists(key)
    assert 0 < cache.ttl(key) <= api_settings.cache_ttl_s

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE learner_course_progress SET percent = 75.0 "
            "WHERE learner_id = 'l1' AND course_id = 'c1'"
        )
    second = client.get("/learners/l1/progress", headers=me)
    assert second.headers["X-Learnstream-Cache"] == "hit"
    assert second.json() == first.json()  # served from Redis: the update is not seen yet

    for stale in cache.scan_iter(f"{prefix}*"):  # Redis flushed (only this test's keys)
        cache.delete(stale)
    third = client.get("/learners/l1/progress", headers=me)
    assert third.headers["X-Learnstream-Cache"] == "miss"
    assert third.json()["courses"][0]["percent"] == 75.0  # Postgres, the truth
    assert cache.exists(key), "the cache is refilled on read-through"
    fourth = client.get("/learners/l1/progress", headers=me)
    assert fourth.headers["X-Learnstream-Cache"] == "hit"
    assert fourth.json() == third.json()


def test_redis_down_serves_from_postgres(api_settings: ApiSettings) -> None:
    settings = api_settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    )
    with TestClient(create_app(settings)) as client:
        me = auth(settings, "l1", "learner")
        response = client.get("/learners/l1/progress", headers=me)
        assert response.status_code == 200
        assert response.headers["X-Learnstream-Cache"] == "miss"
        assert [c["course_id"] for c in response.json()["courses"]] == ["c1", "c2"]
        assert client.get("/learners/l1/recommendations", headers=me).status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"] == "ok"
        assert ready.json()["checks"]["redis"].startswith("error")
        assert client.get("/healthz").status_code == 200


def test_readiness(client: TestClient, api_settings: ApiSettings) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}

    down = api_settings.model_copy(
        update={"postgres_dsn": SecretStr(f"postgresql://x:y@127.0.0.1:{free_port()}/none")}
    )
    with TestClient(create_app(down)) as unready:
        response = unready.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["postgres"].startswith("error")
        assert response.json()["checks"]["redis"] == "ok"
        assert unready.get("/healthz").json() == {"status": "ok", "checks": {}}
        admin = auth(down, "root", "admin")
        assert unready.get("/learners/l1/progress", headers=admin).status_code == 503


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/learners/{learner_id}/progress",
        "/learners/{learner_id}/certificates",
        "/learners/{learner_id}/recommendations",
        "/managers/{manager_id}/team",
        "/courses/{course_id}/stats",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in spec["paths"]["/learners/{learner_id}/progress"]["get"]["responses"]
    assert client.get("/docs").status_code == 200
