"""Which delivered events a consumer has made visible: an observer thread polls the consumer's
stored offsets of one topic (one row per partition, autocommit, every 10 ms) and stamps each
delivered (partition, offset) with the end of the first poll whose next offset is past it.

The stored offset advances in the same transaction as the consumer's view rows, so it turns
visible exactly when the view does. Polling a handful of offset rows keeps the observer's cost
flat however far the worker falls behind."""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any

import psycopg

from learnstream.settings import Settings

POLL_S = 0.01


class Observer(threading.Thread):
    """Turns delivered (partition, offset)s of `topic` into visible_at times."""

    def __init__(self, settings: Settings, consumer: str, topic: str) -> None:
        super().__init__(name="latency-observer", daemon=True)
        self.settings, self.consumer, self.topic = settings, consumer, topic
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}  # event id -> sent_at
        self.waiting: dict[int, list[tuple[int, str]]] = {}  # partition -> heap (offset, id)
        self.visible: dict[str, float] = {}
        self.failed: list[str] = []
        self.polls = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def on_delivery(self, event_id: str) -> Any:
        def report(err: Any, msg: Any) -> None:
            with self.lock:
                if err is not None:
                    self.failed.append(f"{event_id}: {err}")
                else:
                    heapq.heappush(
                        self.waiting.setdefault(msg.partition(), []), (msg.offset(), event_id)
                    )

        return report

    def outstanding(self) -> int:
        with self.lock:
            return len(self.sent) - len(self.visible) - len(self.failed)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        topic = self.settings.topic(self.topic)
        try:
            with psycopg.connect(self.settings.postgres_url, autocommit=True) as conn:
                while not self._halt.is_set():
                    with self.lock:
                        waiting = any(self.waiting.values())
                    if waiting:
                        rows = conn.execute(
                            "SELECT partition, next_offset FROM stream_offsets "
                            "WHERE consumer = %s AND topic = %s",
                            (self.consumer, topic),
                        ).fetchall()
                        seen_at = time.time()  # after the snapshot: never before the commit
                        self.polls += 1
                        with self.lock:
                            for partition, next_offset in rows:
                                heap = self.waiting.get(partition, [])
                                while heap and heap[0][0] < next_offset:
                                    self.visible[heapq.heappop(heap)[1]] = seen_at
                    self._halt.wait(POLL_S)
        except BaseException as exc:  # surfaced by measure_latency
            self.error = exc
