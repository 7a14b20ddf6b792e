from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from learnstream.settings import Settings
from learnstream_cli.worker import prepare
from tests.conftest import free_port


@pytest.fixture
def world(kafka_settings: Settings, pg_url: str) -> Iterator[Settings]:
    """A private pipeline: own topic prefix, own migrated database, own worker metrics port."""
    settings = kafka_settings.model_copy(update={"postgres_dsn": SecretStr(pg_url)}).with_worker(
        web_port=free_port()
    )
    prepare(settings)
    yield settings
