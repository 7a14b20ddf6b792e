"""HR connector settings, read from `LEARNSTREAM_HR_*` environment variables (or `.env`).

A target whose base URL is unset is disabled: the handler reports SKIPPED instead of failing,
so the worker runs the same way on a laptop without any HR tenant.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class HrSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEARNSTREAM_HR_", env_file=".env", extra="ignore", frozen=True
    )

    # --- SAP SuccessFactors Learning ------------------------------------------------------
    sap_base_url: str | None = Field(None, description="e.g. https://<tenant>.plateau.com")
    sap_client_id: str = "learnstream"
    sap_client_secret: SecretStr = SecretStr("")
    sap_company_id: str = "learnstream"
    sap_user_id: str = Field("sfadmin", description="API user in the token scope")
    sap_user_type: str = "admin"
    sap_provider_id: str = Field("LEARNSTREAM", description="OCN providerID of our content")
    sap_total_hours: float = Field(1.0, ge=0, description="totalHours sent per completion")
    sap_credit_hours: float = Field(0.0, ge=0, description="creditHours sent per completion")
    sap_batch_size: int = Field(10, ge=1, le=10, description="records per call (SAP max 10)")
    sap_calls_per_minute: int = Field(100, ge=1, le=100, description="SAP max 100 calls/min")

    # --- Workday Learning (SOAP) ----------------------------------------------------------
    workday_base_url: str | None = Field(None, description="e.g. https://wd2-impl-services1…")
    workday_tenant: str = "learnstream"
    workday_username: str | None = Field(None, description="WS-Security user (user@tenant)")
    workday_password: SecretStr | None = None
    workday_token: SecretStr | None = Field(None, description="OAuth2 bearer; wins over user")
    workday_version: str = "v44.0"
    workday_requests_per_second: float = Field(5.0, gt=0, le=10)
    # A revocation updates the Workday enrolment in place (ADR 0011). Some tenants forbid
    # integrations to edit a completed enrolment; for those an administrator must, so the
    # handler emits hr.correction.required instead, as for SAP.
    workday_updates_enabled: bool = Field(True, description="False: no tenant may be updated")
    workday_no_update_tenants: frozenset[str] = Field(
        frozenset(), description='tenants whose Workday cannot be updated, JSON: ["acme"]'
    )

    # --- Both -------------------------------------------------------------------------------
    http_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = Field(6, ge=1, description="per call, before the batch is retried")
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    retry_after_max_s: float = Field(120.0, ge=0, description="cap on a server's Retry-After")

    @property
    def sap_enabled(self) -> bool:
        return bool(self.sap_base_url)

    @property
    def workday_enabled(self) -> bool:
        return bool(self.workday_base_url)

    def workday_can_update(self, tenant_id: str) -> bool:
        """May a revocation update this tenant's Workday enrolment, or must an admin?"""
        return self.workday_updates_enabled and tenant_id not in self.workday_no_update_tenants
