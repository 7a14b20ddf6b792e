"""docker-compose.kafka.yml checked against Settings, without Docker.

The compose file cannot be run on every machine, so it is kept correct by construction: its
service graph, the LEARNSTREAM_* variables it sets, its published ports and its Kafka version
are compared with what `learnstream.settings.Settings` actually declares.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from learnstream.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.kafka.yml"
ENV_PREFIX = "LEARNSTREAM_"

INFRA = ("kafka", "schema-registry", "postgres", "redis")
LEARNSTREAM_SERVICES = ("worker", "api")
KNOWN_FIELDS = frozenset(Settings.model_fields)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose.get("services")
    assert isinstance(found, dict), f"{COMPOSE_FILE.name} has no `services:` mapping"
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whichever of the two compose syntaxes it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) pairs, from short ("[ip:]host:container[/proto]") or long
    (`published`/`target`) syntax. Ports without a host side are not published and skipped."""
    pairs = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/", 1)[0].rsplit(":", 2)
        if len(parts) >= 2:
            pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def default(field: str) -> Any:
    assert field in Settings.model_fields, f"Settings has no field {field!r}"
    return Settings.model_fields[field].default


def kafka_listeners(value: str) -> dict[str, tuple[str, int]]:
    """'NAME://host:port,...' as {NAME: (host, port)}."""
    listeners = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = re.fullmatch(r"([A-Za-z0-9_]+)://([^:,]*):(\d+)", item)
        assert match, f"unparseable Kafka listener {item!r} in {value!r}"
        listeners[match.group(1)] = (match.group(2), int(match.group(3)))
    return listeners


def host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    assert host and port.isdigit(), f"{address!r} is not host:port"
    return host, int(port)


# --- service graph -------------------------------------------------------------------------


def test_compose_spec_without_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the compose spec has no top-level `version:` key; drop it"


def test_expected_services_exist(services: dict[str, Any]) -> None:
    missing = sorted(set(INFRA + LEARNSTREAM_SERVICES) - set(services))
    assert not missing, f"{COMPOSE_FILE.name} lacks services {missing}; has {sorted(services)}"


def test_every_infra_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    unchecked = [
        name
        for name, service in services.items()
        if name not in LEARNSTREAM_SERVICES
        and (
            not (service.get("healthcheck") or {}).get("test")
            or service["healthcheck"].get("disable")
        )
    ]
    assert not unchecked, (
        f"services without a healthcheck: {unchecked}; worker/api wait on service_healthy, "
        "so a service without one would never let them start"
    )


@pytest.mark.parametrize("name", LEARNSTREAM_SERVICES)
def test_learnstream_services_wait_for_healthy_infra(services: dict[str, Any], name: str) -> None:
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), (
        f"{name}.depends_on must be the long form with `condition: service_healthy`, "
        f"got {depends_on!r}"
    )
    for infra in INFRA:
        condition = (depends_on.get(infra) or {}).get("condition")
        assert condition == "service_healthy", (
            f"{name} must depend on {infra} with condition service_healthy, got {condition!r}"
        )


def test_schema_registry_waits_for_healthy_kafka(services: dict[str, Any]) -> None:
    condition = ((services["schema-registry"].get("depends_on") or {}).get("kafka") or {}).get(
        "condition"
    )
    assert condition == "service_healthy", (
        f"schema-registry must wait for a healthy kafka, got condition {condition!r}"
    )


@pytest.mark.parametrize("name", LEARNSTREAM_SERVICES)
def test_learnstream_services_are_built_from_the_repo_dockerfile(
    services: dict[str, Any], name: str
) -> None:
    build = services[name].get("build")
    assert isinstance(build, dict), f"{name}.build must be {{context, dockerfile}}, got {build!r}"
    context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
    assert context == REPO, f"{name} build context {context} is not the repository {REPO}"
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    assert dockerfile.is_file(), f"{name} builds from {dockerfile}, which does not exist"


# --- environment against Settings ------------------------------------------------------------


@pytest.mark.parametrize("name", LEARNSTREAM_SERVICES)
def test_learnstream_env_names_are_settings_fields(services: dict[str, Any], name: str) -> None:
    names = [key for key in environment(services[name]) if key.upper().startswith(ENV_PREFIX)]
    assert names, f"{name} sets no {ENV_PREFIX}* variables at all"
    unknown = [key for key in names if key[len(ENV_PREFIX) :].lower() not in KNOWN_FIELDS]
    assert not unknown, (
        f"{name} sets {unknown}, which match no Settings field (pydantic-settings would "
        f"silently ignore them); known: {sorted(ENV_PREFIX + f.upper() for f in KNOWN_FIELDS)}"
    )


def test_dockerfile_env_names_are_settings_fields() -> None:
    dockerfile = REPO / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile} is missing"
    names = re.findall(rf"\b({ENV_PREFIX}[A-Za-z0-9_]+)=", dockerfile.read_text(), re.IGNORECASE)
    unknown = [key for key in names if key[len(ENV_PREFIX) :].lower() not in KNOWN_FIELDS]
    assert not unknown, f"Dockerfile sets {unknown}, which match no Settings field"


@pytest.mark.parametrize("name", LEARNSTREAM_SERVICES)
def test_learnstream_env_points_at_compose_services(services: dict[str, Any], name: str) -> None:
    env = environment(services[name])

    for host, port in map(host_and_port, env[f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"].split(",")):
        assert host == "kafka", f"{name}: bootstrap server {host}:{port} is not the kafka service"
        advertised = kafka_listeners(
            environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
        ).get("PLAINTEXT")
        assert advertised == (host, port), (
            f"{name} bootstraps from {host}:{port}, but kafka advertises PLAINTEXT as {advertised}"
        )

    dsn = urlsplit(env[f"{ENV_PREFIX}POSTGRES_DSN"])
    pg_env = environment(services["postgres"])
    assert dsn.scheme.startswith("postgresql"), f"{name}: DSN scheme {dsn.scheme!r}"
    assert (dsn.hostname, dsn.port) == ("postgres", 5432), (
        f"{name}: Postgres DSN points at {dsn.hostname}:{dsn.port}, not postgres:5432"
    )
    assert (dsn.username, dsn.password, dsn.path.lstrip("/")) == (
        pg_env.get("POSTGRES_USER"),
        pg_env.get("POSTGRES_PASSWORD"),
        pg_env.get("POSTGRES_DB"),
    ), f"{name}: Postgres DSN credentials/database differ from the postgres service's POSTGRES_*"

    redis = urlsplit(env[f"{ENV_PREFIX}REDIS_URL"])
    assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379), (
        f"{name}: Redis URL {redis.geturl()!r} does not point at redis:6379"
    )

    registry = urlsplit(env[f"{ENV_PREFIX}SCHEMA_REGISTRY_URL"])
    registry_listener = urlsplit(
        environment(services["schema-registry"])["SCHEMA_REGISTRY_LISTENERS"].split(",")[0]
    )
    assert (registry.hostname, registry.port) == ("schema-registry", registry_listener.port), (
        f"{name}: Schema Registry URL {registry.geturl()!r} does not point at "
        f"schema-registry:{registry_listener.port}"
    )


@pytest.mark.parametrize("name", LEARNSTREAM_SERVICES)
def test_settings_build_from_compose_environment(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in list(os.environ):
        if key.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    env = environment(services[name])
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    settings = Settings(_env_file=None)

    assert settings.bootstrap_servers == "kafka:9092", settings.bootstrap_servers
    assert not settings.kafka_embedded, "Kafka must be external in compose"
    assert settings.postgres_url == (
        "postgresql://learnstream:learnstream@postgres:5432/learnstream"
    ), settings.postgres_url
    assert not settings.postgres_embedded, "Postgres must be external in compose"
    assert settings.redis_address == "redis://redis:6379/0", settings.redis_address
    assert not settings.redis_embedded, "Redis must be external in compose"
    assert settings.schema_registry_url == "http://schema-registry:8081"
    assert settings.log_json is True, f"LOG_JSON parsed as {settings.log_json!r}"


def test_worker_and_api_share_one_environment(services: dict[str, Any]) -> None:
    worker, api = (environment(services[name]) for name in LEARNSTREAM_SERVICES)
    assert worker == api, (
        "worker and api must share the x-learnstream-env environment; differences: "
        f"{sorted(set(worker.items()) ^ set(api.items()))}"
    )


# --- ports and versions against Settings defaults ------------------------------------------


@pytest.mark.parametrize(
    ("name", "container_port", "field"),
    [("postgres", 5432, "postgres_port"), ("redis", 6379, "redis_port")],
)
def test_host_ports_equal_embedded_defaults(
    services: dict[str, Any], name: str, container_port: int, field: str
) -> None:
    expected = default(field)
    ports = published_ports(services[name])
    assert (expected, container_port) in ports, (
        f"{name} must publish container port {container_port} on host port {expected} "
        f"(Settings.{field} default), got {ports}"
    )


def test_kafka_host_listener_matches_embedded_default(services: dict[str, Any]) -> None:
    """The host bootstraps at kafka_port and must be sent back an address it can reach there."""
    expected = default("kafka_port")
    kafka_env = environment(services["kafka"])
    listeners = kafka_listeners(kafka_env["KAFKA_LISTENERS"])
    advertised = kafka_listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    external = advertised.get("EXTERNAL")
    assert external is not None, f"kafka advertises no EXTERNAL listener: {advertised}"
    assert external[0] in ("127.0.0.1", "localhost"), f"EXTERNAL advertised as {external}"
    assert external[1] == expected, (
        f"EXTERNAL is advertised on port {external[1]}, not Settings.kafka_port {expected}"
    )
    assert "EXTERNAL" in listeners, f"no EXTERNAL listener in {listeners}"
    ports = published_ports(services["kafka"])
    assert (expected, listeners["EXTERNAL"][1]) in ports, (
        f"kafka must publish the EXTERNAL listener (container port {listeners['EXTERNAL'][1]}) "
        f"on host port {expected} (Settings.kafka_port default), got {ports}"
    )


def test_kafka_kraft_config_is_consistent(services: dict[str, Any]) -> None:
    env = environment(services["kafka"])
    listeners = kafka_listeners(env["KAFKA_LISTENERS"])
    protocol_map = dict(
        item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocol_map), (
        f"listeners {sorted(listeners)} missing from the security protocol map {protocol_map}"
    )
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners, f"controller listener {controller} is not in {listeners}"
    voter_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == str(env["KAFKA_NODE_ID"]), (
        f"quorum voter id {voter_id} differs from KAFKA_NODE_ID {env['KAFKA_NODE_ID']}"
    )
    assert host_and_port(voter) == ("kafka", listeners[controller][1]), (
        f"quorum voter {voter} is not kafka:<{controller} port {listeners[controller][1]}>"
    )
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    ):
        assert env.get(key) == "1", f"{key} must be 1 on a single node, got {env.get(key)!r}"
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"


def test_kafka_image_matches_settings_kafka_version(services: dict[str, Any]) -> None:
    image = services["kafka"].get("image", "")
    repository, _, tag = image.rpartition(":")
    assert repository == "apache/kafka", f"kafka image is {image!r}, expected apache/kafka:<tag>"
    assert re.fullmatch(r"4\.\d+\.\d+", tag), f"kafka image tag {tag!r} is not a 4.x release"
    expected = default("kafka_version")
    assert tag == expected, (
        f"kafka image tag {tag} differs from Settings.kafka_version default {expected}: "
        "the embedded broker and the compose broker would run different versions"
    )


def test_api_port_command_and_healthcheck_agree(services: dict[str, Any]) -> None:
    api = services["api"]
    command = api["command"]
    assert "--port" in command, f"api command {command} does not set --port"
    port = int(command[command.index("--port") + 1])
    assert port in [target for _, target in published_ports(api)], (
        f"api listens on {port} but publishes {published_ports(api)}"
    )
    probe = " ".join(api["healthcheck"]["test"])
    assert f"localhost:{port}/healthz" in probe, f"api healthcheck {probe!r} does not probe :{port}"
