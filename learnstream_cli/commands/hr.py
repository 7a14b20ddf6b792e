"""`learnstream hr reconcile | simulators`: HR connector drift report and local HR systems."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="HR connectors (Workday, SAP SuccessFactors): drift report, simulators.")
console = Console()

if TYPE_CHECKING:
    from connectors.reconcile import Drift


@app.command()
def reconcile(
    database_url: str | None = typer.Option(
        None, help="postgresql:// URL of the views database (default: the configured one)"
    ),
) -> None:
    """Compare the hr_sync audit with what each enabled HR system holds; exit 1 on drift.

    Revoked certificates whose HR record still says completed are listed too: as drift when
    learnstream should have updated the record (Workday), as "correction pending" where only
    an administrator can (SAP, or a Workday tenant that cannot be updated)."""
    import psycopg

    from connectors.reconcile import reconcile as find_drift
    from learnstream.settings import get_settings

    hr = get_settings().hr
    if not (hr.sap_enabled or hr.workday_enabled):
        console.print("no HR target configured (LEARNSTREAM_HR_*_BASE_URL): nothing to compare")
        return
    with psycopg.connect(database_url or get_settings().postgres_url) as conn:
        found = find_drift(conn, hr)
    drifts = [d for d in found if not d.pending]
    pending = [d for d in found if d.pending]
    if pending:  # expected until an administrator corrects the record: listed, not drift
        console.print(_table(f"{len(pending)} revoked certificate(s): correction pending", pending))
    if not drifts:
        console.print("[green]no drift[/]: the audit matches every enabled HR system")
        return
    title = f"{len(drifts)} drift(s) between hr_sync_audit and the HR systems"
    console.print(_table(title, drifts))
    raise typer.Exit(1)


def _table(title: str, rows: list[Drift]) -> Table:
    table = Table(title=title)
    for column in ("target", "kind", "remote key", "learner", "course", "completion", "detail"):
        table.add_column(column)
    for d in rows:
        table.add_row(
            d.target,
            d.kind,
            d.remote_key,
            d.learner_id or "",
            d.course_id or "",
            d.completion_id or "",
            d.detail,
        )
    return table


@app.command()
def simulators(
    host: str = typer.Option("127.0.0.1", help="loopback by default: they accept any caller"),
    sap_port: int = typer.Option(18081),
    workday_port: int = typer.Option(18082),
    latency_ms: int = typer.Option(
        0, min=0, help="Delay every request (including 429s and 5xx) by this many ms."
    ),
    fail_5xx: int = typer.Option(
        0, "--5xx-burst", min=0, help="Answer the next N requests with a 5xx, not applied."
    ),
    status_5xx: int = typer.Option(503, min=500, max=599, help="Status of --5xx-burst answers."),
    throttle: int = typer.Option(
        0,
        "--429-storm",
        min=0,
        help="Answer the next N requests with 429 Too Many Requests and Retry-After, not applied.",
    ),
    retry_after_s: int = typer.Option(1, min=1, help="Retry-After (s) sent with every 429."),
    timeout_after_commit: int = typer.Option(
        0,
        min=0,
        help="Apply the next N writes, then answer only after --timeout-sleep-s, so a client "
        "with a shorter timeout gives up although the record exists.",
    ),
    timeout_sleep_s: float = typer.Option(
        3.0, min=0, help="How late a --timeout-after-commit answer comes (s)."
    ),
    only: str | None = typer.Option(
        None, help="Inject the faults into one simulator only: sap or workday (default both)."
    ),
) -> None:
    """Run the SAP and Workday simulators with the configured credentials until Ctrl-C.

    The fault options arm the same switches the reliability suite flips (Faults in
    connectors/simulators/common.py); counted faults hit each simulator's next N requests in
    the order 429, then 5xx, then timeout-after-commit, so an operator can rehearse them."""
    from connectors.simulators.common import Faults, running
    from connectors.simulators.sap import SapSimulator
    from connectors.simulators.workday import WorkdaySimulator
    from learnstream.settings import get_settings

    if only not in (None, "sap", "workday"):
        raise typer.BadParameter("must be sap or workday", param_hint="--only")
    hr = get_settings().hr
    username = hr.workday_username or "isu_learning@learnstream"
    password = hr.workday_password.get_secret_value() if hr.workday_password else "secret"
    sap = SapSimulator(
        client_id=hr.sap_client_id,
        client_secret=hr.sap_client_secret.get_secret_value(),
        company_id=hr.sap_company_id,
    )
    workday = WorkdaySimulator(
        tenant=hr.workday_tenant,
        username=username,
        password=password,
        bearer_tokens={hr.workday_token.get_secret_value()} if hr.workday_token else set(),
    )
    armed = Faults(
        latency_s=latency_ms / 1000,
        timeout_after_commit_next_n=timeout_after_commit,
        timeout_sleep_s=timeout_sleep_s,
        fail_5xx_next_n=fail_5xx,
        status_5xx=status_5xx,
        throttle_next_n=throttle,
        retry_after_s=retry_after_s,
    )
    for name, simulator in (("sap", sap), ("workday", workday)):
        if only in (None, name):
            simulator.faults = armed.copy()
    with (
        running(sap.app, host, sap_port) as sap_url,
        running(workday.app, host, workday_port) as wd,
    ):
        console.print("HR simulators running; point the connectors at them with:")
        console.print(f"  LEARNSTREAM_HR_SAP_BASE_URL={sap_url}", highlight=False)
        console.print(f"  LEARNSTREAM_HR_WORKDAY_BASE_URL={wd}", highlight=False)
        if hr.workday_username is None and hr.workday_token is None:
            console.print(f"  LEARNSTREAM_HR_WORKDAY_USERNAME={username}", highlight=False)
            console.print(f"  LEARNSTREAM_HR_WORKDAY_PASSWORD={password}", highlight=False)
        if armed.any():
            console.print(f"faults armed ({only or 'both'}): {armed.describe()}", highlight=False)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")
