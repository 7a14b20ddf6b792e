"""Postgres and Redis handles for the API.

Postgres: a psycopg_pool.ConnectionPool when that package is installed, else one connection
per request. Connections are autocommit: every endpoint only reads.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

HAS_POOL = importlib.util.find_spec("psycopg_pool") is not None


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs too (postgresql+psycopg://) and hand libpq a plain one."""
    parsed = make_url(url)
    if "+" not in parsed.drivername:
        return url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class Database:
    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 3.0
    ) -> None:
        self.url = libpq_url(url)
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._opened = False
        if HAS_POOL:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                self.url,
                min_size=min_size,
                max_size=max_size,
                open=False,
                timeout=timeout_s,
                kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout_s))},
                name="learnstream-api",
            )

    def open(self) -> None:
        if self._pool is not None and not self._opened:
            self._opened = True
            self._pool.open(wait=False)  # the API starts (and /readyz answers) without Postgres

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._pool is not None:
            self.open()  # no-op after the app's lifespan opened it
            with self._pool.connection() as conn:
                yield conn
            return
        with psycopg.connect(
            self.url, autocommit=True, connect_timeout=max(1, int(self.timeout_s))
        ) as conn:
            yield conn


def redis_client(url: str, timeout_s: float) -> redis.Redis[str]:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
    )
