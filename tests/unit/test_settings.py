from __future__ import annotations

import os

import pytest

from learnstream.sections import SettingsError
from learnstream.settings import Settings, child_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LEARNSTREAM_"):
            monkeypatch.delenv(name)


def test_unset_services_are_embedded_on_loopback() -> None:
    settings = Settings()
    assert (settings.kafka_embedded, settings.postgres_embedded, settings.redis_embedded) == (
        True,
        True,
        True,
    )
    assert settings.bootstrap_servers == f"127.0.0.1:{settings.kafka_port}"
    assert settings.postgres_url.startswith("postgresql://learnstream:")
    assert "@127.0.0.1:" in settings.postgres_url
    assert settings.redis_address == f"redis://127.0.0.1:{settings.redis_port}/0"


def test_given_services_are_external_and_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("LEARNSTREAM_POSTGRES_DSN", "postgresql://u:p@db:5432/views")
    monkeypatch.setenv("LEARNSTREAM_REDIS_URL", "rediss://cache:6380/2")
    settings = Settings()
    assert not (settings.kafka_embedded or settings.postgres_embedded or settings.redis_embedded)
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.postgres_url == "postgresql://u:p@db:5432/views"
    assert settings.redis_address == "rediss://cache:6380/2"


def test_sasl_and_ssl_pass_through_to_kafka_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS", "broker:9096")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SSL_CA_LOCATION", "/etc/ssl/ca.pem")
    settings = Settings()
    assert settings.kafka_client_config() == {
        "bootstrap.servers": "broker:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "log_level": 4,
    }
    assert "s3cret" not in repr(settings)  # secrets never reach logs


def test_unknown_security_protocol_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAIN")
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings()


def test_topic_prefix_isolates_names() -> None:
    assert Settings(topic_prefix="t1.").topic("learning.activity") == "t1.learning.activity"


def test_sections_read_their_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSTREAM_HR_SAP_BASE_URL", "https://sap.example")
    monkeypatch.setenv("LEARNSTREAM_HR_WORKDAY_NO_UPDATE_TENANTS", '["acme", "globex"]')
    monkeypatch.setenv("LEARNSTREAM_NOTIFY_WEBHOOK_URL", "https://hooks.example/x")
    monkeypatch.setenv("LEARNSTREAM_API_JWT_SECRET", "s" * 32)
    monkeypatch.setenv("LEARNSTREAM_WORKER_BATCH_SIZE", "123")
    settings = Settings()
    assert settings.hr.sap_enabled and settings.hr.sap_base_url == "https://sap.example"
    assert settings.hr.workday_no_update_tenants == frozenset({"acme", "globex"})
    assert settings.notify.webhook_enabled and not settings.notify.smtp_enabled
    assert settings.api.jwt_secret is not None
    assert settings.worker.batch_size == 123 and settings.worker.web_port == 6066


def test_a_misspelt_section_variable_is_an_error_not_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEARNSTREAM_HR_SAP_BASEURL", "https://sap.example")  # _BASE_URL
    with pytest.raises(ValueError, match="sap_baseurl"):
        Settings()
    monkeypatch.delenv("LEARNSTREAM_HR_SAP_BASEURL")
    monkeypatch.setenv("LEARNSTREAM_WORKER_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="batch_size"):
        Settings()


def test_the_api_key_is_required_by_the_api_not_by_every_process() -> None:
    settings = Settings()  # no LEARNSTREAM_API_JWT_SECRET: a worker still starts
    with pytest.raises(SettingsError, match="LEARNSTREAM_API_JWT_SECRET"):
        settings.api.require_signing_key()


def test_child_env_reproduces_the_settings_in_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSTREAM_HR_WORKDAY_NO_UPDATE_TENANTS", '["acme"]')
    monkeypatch.setenv("LEARNSTREAM_NOTIFY_WEBHOOK_SECRET", "hmac-secret")
    monkeypatch.setenv("LEARNSTREAM_KAFKA_SASL_PASSWORD", "kafka-secret")
    parent = Settings(topic_prefix="p.").with_worker(batch_size=77, fetch_wait_ms=5)
    env = child_env(parent)
    for name in list(os.environ):
        if name.startswith("LEARNSTREAM_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings()
    # The embedded services' addresses travel resolved: the child uses them, starts none.
    assert child.kafka_bootstrap_servers == parent.bootstrap_servers
    assert child.postgres_url == parent.postgres_url and child.redis_address == parent.redis_address
    assert child.log_json is True
    same = {"kafka_bootstrap_servers", "postgres_dsn", "redis_url", "log_json"}
    assert child.model_dump(exclude=same) == parent.model_dump(exclude=same)
    assert child.notify.webhook_secret is not None
    assert child.notify.webhook_secret.get_secret_value() == "hmac-secret"
    assert child.kafka_sasl_password is not None
    assert child.kafka_sasl_password.get_secret_value() == "kafka-secret"
