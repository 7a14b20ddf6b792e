"""Read-API latency under concurrent load: `learnstream api` as a subprocess on the world's
database, N asyncio tasks of httpx requests with valid tokens over a mix of endpoints.

Every request is one a real client may make (its own learner token, or a manager token for team
and course endpoints), so every answer should be 2xx; anything else is counted and reported.
The load generator runs on the same machine and competes with the API for CPU.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from learnstream.log import get_logger
from learnstream_cli.bench.procfs import CpuSampler
from learnstream_cli.bench.stats import summarize
from learnstream_cli.bench.world import World, free_port, log_tail, spawn, stop

log = get_logger(__name__)
# endpoint -> weight in the mix
MIX = {
    "progress": 30,
    "certificates": 15,
    "recommendations": 20,
    "team": 10,
    "course_stats": 15,
    "leaderboard": 10,
}


@dataclass
class Subjects:
    """Ids that exist in the world, and a valid token for each caller (managers are learners
    too: one token per role)."""

    learners: list[str]
    managers: list[str]
    courses: list[str]
    learner_tokens: dict[str, str] = field(default_factory=dict)
    manager_tokens: dict[str, str] = field(default_factory=dict)

    def request(self, rng: random.Random) -> tuple[str, str, str]:
        """(endpoint, path, token) for one request of the mix."""
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind in ("progress", "certificates", "recommendations"):
            learner = rng.choice(self.learners)
            return kind, f"/learners/{learner}/{kind}", self.learner_tokens[learner]
        manager = rng.choice(self.managers)
        if kind == "team":
            return kind, f"/managers/{manager}/team", self.manager_tokens[manager]
        course = rng.choice(self.courses)
        suffix = "stats" if kind == "course_stats" else "leaderboard"
        return kind, f"/courses/{course}/{suffix}", self.manager_tokens[manager]


def pick_subjects(postgres_url: str, secret: str, limit: int = 200) -> Subjects:
    from learnstream.sections import ApiSettings
    from sinks.api import mint_token

    with psycopg.connect(postgres_url) as conn:

        def ids(query: str) -> list[str]:
            return [str(r[0]) for r in conn.execute(query, (limit,)).fetchall()]

        learners = ids(
            "SELECT learner_id FROM learner_course_progress GROUP BY learner_id "
            "ORDER BY md5(learner_id) LIMIT %s"
        )
        managers = ids(
            "SELECT manager_id FROM org_chart WHERE manager_id IS NOT NULL GROUP BY manager_id "
            "ORDER BY md5(manager_id) LIMIT %s"
        )
        courses = ids("SELECT course_id FROM analytics.course_stats ORDER BY course_id LIMIT %s")
    if not (learners and managers and courses):
        raise RuntimeError(
            f"world too small for the API mix: {len(learners)} learners, "
            f"{len(managers)} managers, {len(courses)} courses"
        )
    settings = ApiSettings(jwt_secret=SecretStr(secret), jwt_algorithm="HS256")
    subjects = Subjects(learners, managers, courses)
    subjects.learner_tokens.update({s: mint_token(settings, s, ["learner"]) for s in learners})
    subjects.manager_tokens.update({s: mint_token(settings, s, ["manager"]) for s in managers})
    return subjects


@contextmanager
def running_api(world: World, secret: str, timeout_s: float = 60) -> Iterator[tuple[str, int]]:
    """Start `learnstream api` on a free port; yield (base url, pid) once /readyz says ready."""
    port = free_port()
    proc = spawn(
        world,
        ["api", "--host", "127.0.0.1", "--port", str(port)],
        "api.log",
        {
            "LEARNSTREAM_API_JWT_SECRET": secret,
            "LEARNSTREAM_API_JWT_ALGORITHM": "HS256",
            "LEARNSTREAM_API_REDIS_KEY_PREFIX": world.redis_prefix,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(world, proc, url, timeout_s)
        yield url, proc.pid
    finally:
        stop(proc)


def _wait_ready(world: World, proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited with {proc.returncode}:\n{log_tail(world, 'api.log')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise TimeoutError(f"API not ready after {timeout_s}s:\n{log_tail(world, 'api.log')}")


async def _load(
    url: str, subjects: Subjects, concurrency: int, seconds: float, seed: int
) -> tuple[list[tuple[str, int, float]], float, list[str]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for kind in MIX:  # warm-up: one of each, not timed (pools, caches, imports)
            rng = random.Random(kind)
            while True:
                got, path, token = subjects.request(rng)
                if got == kind:
                    await client.get(path, headers={"Authorization": f"Bearer {token}"})
                    break
        results: list[tuple[str, int, float]] = []
        failures: list[str] = []  # the first few non-2xx answers, for the report
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while time.perf_counter() < deadline:
                kind, path, token = subjects.request(rng)
                began = time.perf_counter()
                try:
                    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                    status, body = response.status_code, response.text
                except httpx.HTTPError as exc:
                    status, body = 0, repr(exc)  # no answer at all
                if not 200 <= status < 300 and len(failures) < 5:
                    failures.append(f"{status} GET {path}: {body[:200]}")
                results.append((kind, status, 1000 * (time.perf_counter() - began)))

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return results, time.perf_counter() - began, failures


def measure_api(
    world: World, *, concurrency: int = 32, seconds: float = 15, seed: int = 1
) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    subjects = pick_subjects(world.settings.postgres_url, secret)
    with running_api(world, secret) as (url, pid), CpuSampler(pid) as cpu:
        began, client_began = time.time(), time.process_time()
        results, elapsed, failures = asyncio.run(_load(url, subjects, concurrency, seconds, seed))
        api_cpu = cpu.window(began, time.time())
        client_cpu = 100 * (time.process_time() - client_began) / (time.time() - began)
    statuses = Counter(status for _, status, _ in results)
    by_endpoint: dict[str, Any] = {}
    for kind in MIX:
        times = [ms for k, _, ms in results if k == kind]
        bad = sum(1 for k, status, _ in results if k == kind and not 200 <= status < 300)
        by_endpoint[kind] = {"requests": len(times), "non_2xx": bad, **summarize(times)}
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    result = {
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(results),
        "req_per_s": round(len(results) / elapsed, 1) if elapsed else 0.0,
        **summarize([ms for _, _, ms in results]),
        "non_2xx": non_2xx,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failure_samples": failures,
        "endpoints": by_endpoint,
        "api_cpu": api_cpu,
        "load_generator_cpu_percent": round(client_cpu, 1),  # this process, same machine
        "subjects": {
            "learners": len(subjects.learners),
            "managers": len(subjects.managers),
            "courses": len(subjects.courses),
        },
    }
    log.info("bench.api.done", requests=len(results), non_2xx=non_2xx, p99_ms=result["p99_ms"])
    return result
