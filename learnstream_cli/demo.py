"""The main job behind `make run`: a simulated learning platform through the whole pipeline.

Stack up → migrate + topics → simulate learners into Kafka → a worker process drains them →
views are compared with the simulator's oracle → a summary of what the backbone produced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response

from learnstream.infra.process import stop_process_group
from learnstream.settings import Settings
from learnstream.simulate.runner import RunReport, run_simulation
from learnstream.topology import load_topology


@dataclass
class DemoResult:
    report: RunReport
    drain_seconds: float
    equal: bool
    differences: dict[str, int]
    summary: dict[str, list[tuple[Any, ...]]]


def start_worker(
    settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "learnstream_cli", "worker"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "LEARNSTREAM_LOG_JSON": "true", **(extra_env or {})},
    )


@contextmanager
def webhook_receiver() -> Iterator[tuple[dict[str, str], list[str]]]:
    """A manager-notification receiver on loopback that checks every signature; yields the
    LEARNSTREAM_NOTIFY_* environment and the notification ids it accepted."""
    import secrets

    from connectors.simulators.common import running
    from streams.notifications.delivery.webhook import verify_signature

    secret = secrets.token_urlsafe(32)
    accepted: list[str] = []
    app = FastAPI()

    @app.post("/hooks/learnstream")
    async def receive(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        timestamp = headers.get("X-Learnstream-Timestamp", "")
        if not verify_signature(
            secret, timestamp, body, headers.get("X-Learnstream-Signature", "")
        ):
            return Response(status_code=401)
        accepted.append(headers.get("Idempotency-Key", ""))
        return Response(status_code=204)

    with running(app) as url:
        yield (
            {
                "LEARNSTREAM_NOTIFY_WEBHOOK_URL": f"{url}/hooks/learnstream",
                "LEARNSTREAM_NOTIFY_WEBHOOK_SECRET": secret,
            },
            accepted,
        )


@contextmanager
def hr_simulators() -> Iterator[dict[str, str]]:
    """Local Workday and SAP SuccessFactors that enforce the real contracts (no SaaS here);
    yields the LEARNSTREAM_HR_* environment that points the connectors at them."""
    from connectors.simulators.common import running
    from connectors.simulators.sap import SapSimulator
    from connectors.simulators.workday import WorkdaySimulator

    username, password = "isu_learning@learnstream", "demo-secret"
    sap = SapSimulator(client_secret=password)
    workday = WorkdaySimulator(username=username, password=password)
    with running(sap.app) as sap_url, running(workday.app) as workday_url:
        yield {
            "LEARNSTREAM_HR_SAP_BASE_URL": sap_url,
            "LEARNSTREAM_HR_SAP_CLIENT_SECRET": password,
            "LEARNSTREAM_HR_WORKDAY_BASE_URL": workday_url,
            "LEARNSTREAM_HR_WORKDAY_USERNAME": username,
            "LEARNSTREAM_HR_WORKDAY_PASSWORD": password,
        }


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    stop_process_group(proc, 30.0)


SUMMARY_QUERIES = {
    "progress": "SELECT status, count(*) FROM learner_course_progress GROUP BY 1 ORDER BY 1",
    "certificates": "SELECT CASE WHEN revoked_at IS NULL THEN 'issued' ELSE 'revoked' END, "
    "count(*) FROM certificates GROUP BY 1 ORDER BY 1",
    "notifications": "SELECT kind, count(*) FROM notifications GROUP BY 1 ORDER BY 1",
    "HR sync": "SELECT target || ' ' || status, count(*) FROM hr_sync_status GROUP BY 1 ORDER BY 1",
}


def summarize(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(settings.postgres_url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in SUMMARY_QUERIES.items()}


def run_demo(
    settings: Settings,
    *,
    learners: int,
    courses: int,
    days: int,
    seed: int,
    on_progress: Any = None,
) -> DemoResult:
    from learnstream.runtime.drain import wait_until_drained
    from learnstream.simulate.compare import compare_with_oracle
    from learnstream_cli.worker import prepare

    prepare(settings)
    report = run_simulation(
        settings,
        learners=learners,
        courses=courses,
        days=days,
        seed=seed,
        on_progress=on_progress,
    )
    with hr_simulators() as hr_env, webhook_receiver() as (notify_env, accepted):
        os.environ.update(notify_env)  # the drain check waits for deliveries too
        log = settings.state_dir.resolve() / "logs" / "worker.log"
        worker = start_worker(settings, log, {**hr_env, **notify_env})
        began = time.monotonic()
        try:
            wait_until_drained(settings, load_topology(settings.topology_file), timeout_s=900)
            drained = time.monotonic() - began
            with psycopg.connect(settings.postgres_url) as conn:
                comparison = compare_with_oracle(conn, report.oracle, hr=True)
            summary = summarize(settings)
            summary["webhook receiver"] = [
                ("signed deliveries accepted", len(accepted)),
                ("distinct notifications", len(set(accepted))),
            ]
        finally:
            stop_worker(worker)
    return DemoResult(
        report,
        drained,
        comparison.equal,
        {k: len(v) for k, v in comparison.differences.items()},
        summary,
    )


@dataclass
class ApiExample:
    url: str
    curl: str
    status: int
    body: str


def api_example(settings: Settings) -> ApiExample:
    """Serve the read API for a moment and make one authenticated call, as a client would."""
    import secrets

    import httpx

    from connectors.simulators.common import running
    from learnstream.sections import ApiSettings
    from sinks.api import create_app, mint_token

    api_settings = ApiSettings(
        jwt_secret=os.environ.get("LEARNSTREAM_API_JWT_SECRET") or secrets.token_urlsafe(32)
    )
    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute(
            "SELECT manager_id FROM org_chart WHERE manager_id IS NOT NULL "
            "GROUP BY manager_id ORDER BY count(*) DESC, manager_id LIMIT 1"
        ).fetchone()
    manager = row[0] if row else "unknown"
    token = mint_token(api_settings, manager, ["manager"], 600)
    with running(create_app(api_settings, settings)) as url:
        path = f"/managers/{manager}/team"
        response = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    curl = (
        f'curl -H "Authorization: Bearer $(learnstream api-token {manager} --role manager)"'
        f" http://127.0.0.1:8000{path}"
    )
    return ApiExample(url, curl, response.status_code, response.text[:300])
