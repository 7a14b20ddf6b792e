"""A Postgres connection kept across batches and timer ticks (opening one each time costs the
server a backend fork several times a second), and replaced once it breaks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg


class KeptConnection:
    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self.connect = connect
        self._conn: psycopg.Connection | None = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """The kept connection inside one transaction; replaced after it breaks."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self.connect()
        conn = self._conn
        try:
            with conn.transaction():
                yield conn
        except BaseException:
            if conn.broken or conn.closed:
                self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
