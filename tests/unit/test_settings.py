from __future__ import annotations

import pytest

from learnstream.settings import Settings


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
