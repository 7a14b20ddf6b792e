"""Publish → view latency at a paced rate, against a running, drained worker.

Fresh lesson.completed events for lessons learners of the world really did (so each one updates
a real progress row) are produced at `rate` events/s, in 5 ms ticks. `sent_at` is time.time()
just before the event is produced (all are encoded before the clock); the delivery report
gives its partition and offset. An observer thread polls the progress consumer's
`stream_offsets` rows of the activity topic (six rows, autocommit, every 10 ms): an event is
visible once its partition's stored next offset is past its offset, and `visible_at` is the
end of that poll (see observer.py).

Why offsets and not `processed_events.processed_at`: processed_at is `now()`, the start of the
worker's batch transaction, not its commit, so it understates latency by the transaction's
length. The stored offset is advanced in the same transaction as the view rows
(learner_course_progress) and the processed_events row, so it turns visible exactly when the
view does; the poll errs upwards by at most one interval plus one query. Polling six rows keeps
the observer's cost flat even when the worker falls behind (polling the event ids themselves
grows with the backlog and slows the database it measures). At the end every event is checked in
processed_events (it was applied, not dead-lettered), and `processed_at - sent_at` is reported
as a lower bound.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

import psycopg

from learnstream.events import ce_headers, make_envelope
from learnstream.ids import epoch_ms, from_epoch_ms
from learnstream.log import get_logger
from learnstream.names import LESSON_COMPLETED
from learnstream.settings import Settings
from learnstream.simulate.model import SimEvent
from learnstream.topology import activity_topic
from learnstream_cli.bench.observer import Observer
from learnstream_cli.bench.procfs import CpuSampler
from learnstream_cli.bench.stats import summarize

log = get_logger(__name__)
GOAL_MS = 250.0
WARM_UP_TOPIC = "bench.warm-up"
TICK_S = 0.005  # the generator's pacing step: an event leaves at most this much after its time
Target = tuple[str, str, str, str | None, str]  # tenant, learner, course, module, lesson


def latency_targets(events: Sequence[SimEvent], seed: int = 1) -> list[Target]:
    """Distinct (learner, course, lesson) the world's learners completed, in a seeded order."""
    found: dict[Target, None] = {}
    for e in events:
        if e.event_name == LESSON_COMPLETED:
            r = e.record
            found[
                (
                    r["envelope"]["tenant_id"],
                    r["learner_id"],
                    r["course_id"],
                    r["module_id"],
                    r["lesson_id"],
                )
            ] = None
    targets = list(found)
    random.Random(seed).shuffle(targets)
    return targets


Prepared = tuple[str, bytes, bytes, list[tuple[str, str | bytes | None]]]  # id, key, value, headers


def _prepare(
    settings: Settings, targets: Sequence[Target], rate: float, seconds: float, event_epoch: int
) -> tuple[list[Prepared], int]:
    """Every event of the phase, encoded before the clock starts: the load generator shares the
    machine with the system it measures, and encoding while sending cost it a third of a core.
    Event n's time is its planned send time on the world's timeline (sends keep to the plan)."""
    from learnstream.serde import build_serde

    serde = build_serde(settings)
    prepared: list[Prepared] = []
    last_ms = event_epoch
    for n in range(max(1, math.ceil(rate * seconds))):
        tenant, learner, course, module, lesson = targets[n % len(targets)]
        at = max(last_ms + 1, event_epoch + int(n * 1000 / rate))
        at += at % 1000 == 0  # activity never sits on a whole second (as in the simulator)
        event_id, last_ms = uuid.uuid4(), at
        envelope = make_envelope(
            LESSON_COMPLETED,
            tenant_id=tenant,
            source="/bench/latency",
            event_id=event_id,
            occurred_at=from_epoch_ms(at),
        )
        record = {
            "envelope": envelope,
            "learner_id": learner,
            "course_id": course,
            "module_id": module,
            "lesson_id": lesson,
            "time_spent_seconds": 30.0,
        }
        value = serde.encode(LESSON_COMPLETED, record)
        prepared.append((str(event_id), learner.encode(), value, ce_headers(envelope)))
    return prepared, last_ms


def _produce(
    settings: Settings,
    targets: Sequence[Target],
    observer: Observer,
    rate: float,
    seconds: float,
    event_epoch: int,
) -> tuple[int, float, int]:
    """Events at `rate`, sent in 5 ms ticks (serving delivery reports between ticks); event
    time continues the world's timeline at wall-clock speed. Returns (events produced, seconds
    taken, the last event time)."""
    from learnstream.sdk.publisher import build_producer

    prepared, last_ms = _prepare(settings, targets, rate, seconds, event_epoch)
    producer, _ = build_producer(settings, delivery_timeout_s=30)
    _warm_up(settings, producer)
    topic = settings.topic(activity_topic(settings))
    began = time.monotonic()
    n = 0
    while n < len(prepared):
        # Every tick sends the events whose time has come, each stamped just before its own
        # produce: a sleep per event (4,600 a second at half load) cost the generator 52 µs
        # of CPU per event instead of 27, taken from the two cores the worker it measures has.
        due = min(len(prepared), int((time.monotonic() - began) * rate) + 1)
        for event_id, key, value, headers in prepared[n:due]:
            with observer.lock:
                observer.sent[event_id] = time.time()
            _send(producer, topic, key, value, headers, observer.on_delivery(event_id))
        n = max(n, due)
        producer.poll(0)
        if n < len(prepared):
            time.sleep(max(TICK_S, began + n / rate - time.monotonic()))
    elapsed = time.monotonic() - began
    producer.flush(35)
    return n, elapsed, last_ms


def _send(producer: Any, topic: str, key: bytes, value: bytes, headers: Any, report: Any) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
            return
        except BufferError:  # the local queue is full: serve delivery reports, then retry
            producer.poll(0.01)


def _warm_up(settings: Settings, producer: Any) -> None:
    """A new idempotent producer holds its first records until the broker has given it a
    producer id: 0.5-1 s on this machine, which the first events of the phase would carry as
    latency (a client's start-up, not the pipeline's; a publishing app keeps its producer).
    One record to a topic of the world's own, delivered before the clock starts, makes the
    producer ready. The topic goes with the world (its prefix)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    from learnstream.kafka_admin import admin_client

    topic = settings.topic(WARM_UP_TOPIC)
    new = NewTopic(topic, num_partitions=1, replication_factor=settings.kafka_replication_factor)
    admin = admin_client(settings)  # kept until the futures are done: they die with it
    for future in admin.create_topics([new], operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # made by an earlier phase
                raise
    producer.produce(topic, value=b"warm-up")
    if producer.flush(30):
        raise TimeoutError(f"the latency producer could not deliver to {topic}")


def _applied_at(settings: Settings, consumer: str, ids: list[str]) -> dict[str, float]:
    """processed_at (batch transaction start) of the events the consumer applied."""
    found: dict[str, float] = {}
    with psycopg.connect(settings.postgres_url) as conn:
        for i in range(0, len(ids), 5000):
            rows = conn.execute(
                "SELECT event_id::text, processed_at FROM processed_events "
                "WHERE consumer = %s AND event_id = ANY(%s::uuid[])",
                (consumer, ids[i : i + 5000]),
            ).fetchall()
            found.update({event_id: at.timestamp() for event_id, at in rows})
    return found


def _windows(rows: list[tuple[float, float]], began: float, width_s: float = 5.0) -> list[Any]:
    """Visible latency per `width_s` of send time: a steady state, or a growing queue?"""
    buckets: dict[int, list[float]] = {}
    for sent_at, visible_ms in rows:
        buckets.setdefault(int((sent_at - began) // width_s), []).append(visible_ms)
    return [
        {"from_s": k * width_s, "sent": len(v), **summarize(v)} for k, v in sorted(buckets.items())
    ]


def measure_latency(
    settings: Settings,
    targets: Sequence[Target],
    *,
    rate: float,
    seconds: float,
    world_end: datetime,
    consumer: str = "progress",
    settle_timeout_s: float = 120,
    worker_pid: int | None = None,
) -> dict[str, Any]:
    """Produce at `rate` for `seconds`, wait until every event is visible (or the timeout);
    latency percentiles in ms, overall and per 5 s of sending, and the worker's CPU."""
    if not targets:
        raise ValueError("no lesson completions in the world to repeat")
    observer = Observer(settings, consumer, activity_topic(settings))
    observer.start()
    cpu = CpuSampler(worker_pid) if worker_pid is not None else None
    began = time.time()
    try:
        with cpu or nullcontext():
            sent, send_seconds, last_ms = _produce(
                settings,
                targets,
                observer,
                rate,
                seconds,
                epoch_ms(world_end + timedelta(seconds=1)),
            )
        deadline = time.monotonic() + settle_timeout_s
        while observer.outstanding() and time.monotonic() < deadline and observer.error is None:
            time.sleep(0.05)
    finally:
        observer.stop()
    if observer.error is not None:
        raise observer.error
    applied = _applied_at(settings, consumer, list(observer.sent))
    rows = [(observer.sent[i], v) for i, v in observer.visible.items() if i in applied]
    visible = [1000 * (v - s) for s, v in rows]
    lower = [1000 * (applied[i] - observer.sent[i]) for i in observer.visible if i in applied]
    result: dict[str, Any] = {
        "method": "sent_at = before produce; visible_at = first 10 ms poll of stream_offsets "
        "past the event's offset (same transaction as the view)",
        "target_rate": round(rate, 1),
        "achieved_rate": round(sent / send_seconds, 1) if send_seconds else 0.0,
        "seconds": round(send_seconds, 2),
        # The next phase continues event time from here: live traffic never goes back in time
        # (starting again at the world's end made every pair's next event a late one).
        "last_event_ms": last_ms,
        "sent": sent,
        "delivery_failed": len(observer.failed),
        "observed": len(rows),
        "unobserved": sent - len(rows),
        "visible_not_applied": len(observer.visible) - len(rows),  # e.g. dead-lettered
        "consumer": consumer,
        "polls": observer.polls,
        "visible": summarize(visible),
        "txn_start_lower_bound": summarize(lower),
        "windows": _windows([(s, 1000 * (v - s)) for s, v in rows], began),
        "worker_cpu": cpu.window(began, began + send_seconds) if cpu else None,
        "goal_ms": GOAL_MS,
        "within_goal_fraction": round(sum(v <= GOAL_MS for v in visible) / len(visible), 4)
        if visible
        else 0.0,
    }
    log.info("bench.latency.done", sent=sent, observed=len(rows), **result["visible"])
    return result
