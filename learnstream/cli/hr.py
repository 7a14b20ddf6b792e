"""`learnstream hr reconcile | simulators`: HR connector drift report and local HR systems."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="HR connectors (Workday, SAP SuccessFactors): drift report, simulators.")
console = Console()


@app.command()
def reconcile(
    database_url: str | None = typer.Option(
        None, help="postgresql:// URL of the views database (default: the configured one)"
    ),
) -> None:
    """Compare the hr_sync audit with what each enabled HR system holds; exit 1 on drift."""
    import psycopg

    from connectors.config import HrSettings
    from connectors.reconcile import reconcile as find_drift
    from learnstream.settings import get_settings

    hr = HrSettings()
    if not (hr.sap_enabled or hr.workday_enabled):
        console.print("no HR target configured (LEARNSTREAM_HR_*_BASE_URL): nothing to compare")
        return
    with psycopg.connect(database_url or get_settings().postgres_url) as conn:
        drifts = find_drift(conn, hr)
    if not drifts:
        console.print("[green]no drift[/]: the audit matches every enabled HR system")
        return
    table = Table(title=f"{len(drifts)} drift(s) between hr_sync_audit and the HR systems")
    for column in ("target", "kind", "remote key", "learner", "course", "completion", "detail"):
        table.add_column(column)
    for d in drifts:
        table.add_row(
            d.target,
            d.kind,
            d.remote_key,
            d.learner_id or "",
            d.course_id or "",
            d.completion_id or "",
            d.detail,
        )
    console.print(table)
    raise typer.Exit(1)


@app.command()
def simulators(
    host: str = typer.Option("127.0.0.1", help="loopback by default: they accept any caller"),
    sap_port: int = typer.Option(18081),
    workday_port: int = typer.Option(18082),
) -> None:
    """Run the SAP and Workday simulators with the configured credentials until Ctrl-C."""
    from connectors.config import HrSettings
    from connectors.simulators.common import running
    from connectors.simulators.sap import SapSimulator
    from connectors.simulators.workday import WorkdaySimulator

    hr = HrSettings()
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
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")
