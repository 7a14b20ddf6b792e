"""The Faust app: one thin agent per topology.yaml agent, each a shell around a BaseHandler.

Faust runs at least once (`processing_guarantee="at_least_once"`, concurrency 1 per agent),
and every effect is idempotent through the BatchProcessor (ADR 0005). Agents never raise:
Faust acks a batch even when its body raises (faust-streaming #527).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import faust
import psycopg
from faust.types import TP

from learnstream.log import get_logger
from learnstream.runtime import metrics, retention
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.outbox import OutboxRelay, prepare_session
from learnstream.runtime.processor import BatchProcessor, BatchStats
from learnstream.runtime.records import InboundRecord
from learnstream.runtime.resume import seek_to_applied
from learnstream.runtime.stages import connect as timed_connect
from learnstream.sections import NotifySettings
from learnstream.serde import build_serde
from learnstream.settings import Settings
from learnstream.topology import AgentSpec, Topology, load_topology
from streams.lane import FastLane, LaneService

log = get_logger(__name__)
AGENT_BATCH_SIZE = 1000
# The workers' statements look rows up by key in tables their own batches keep rewriting: the
# planner, costing random reads at 4x sequential (disk-era default) and often on statistics
# older than the last thousands of writes, chose sequential scans for 30-learner lookups (2 ms
# instead of 0.1-0.5 under live load). The working set is in memory; reads cost about the same.
SESSION_OPTIONS = "-c random_page_cost=1.1"


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")]


def broker_credentials(settings: Settings) -> Any:
    """Pass SASL/SSL settings through to aiokafka, as the confluent clients get them."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        ca = str(settings.kafka_ssl_ca_location) if settings.kafka_ssl_ca_location else None
        ssl_context = faust.SSLCredentials(cafile=ca).context
    if protocol == "SSL":
        return ssl_context
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        ssl_context=ssl_context,
    )


def to_record(event: Any) -> InboundRecord:
    message = event.message
    return InboundRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple((k, v) for k, v in (message.headers or [])),
    )


def load_handler(spec: AgentSpec, settings: Settings) -> BaseHandler:
    module = importlib.import_module(spec.module)
    handler: BaseHandler = module.build_handler(settings)
    return handler


def create_app(settings: Settings, topology: Topology | None = None) -> faust.App:
    topology = topology or load_topology(settings.topology_file)
    app_id = settings.topic("learnstream")
    # Faust's default datadir, "<app id>-data" in the working directory, left one per test
    # world and bench run in the checkout (empty: the store is memory://).
    datadir = settings.state_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes the last level only
    app = faust.App(
        app_id,
        datadir=str(datadir),
        broker=broker_urls(settings),
        broker_credentials=broker_credentials(settings),
        store="memory://",
        processing_guarantee="at_least_once",
        topic_allow_declare=False,  # topics come from `topology apply`, nowhere else
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=500,
        stream_buffer_maxsize=4 * agent_batch_size(settings),
        broker_commit_interval=1.0,
        # Faust's 60 s default stalls a killed worker's partitions for a minute before the
        # group moves them; a processing batch runs off the loop, so heartbeats keep flowing.
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=settings.worker.session_timeout_s / 3,
        web_bind="127.0.0.1",
        web_port=settings.worker.web_port,
        web_host="127.0.0.1",
    )
    serde = build_serde(settings)

    def connect() -> psycopg.Connection:
        return worker_connection(settings)

    relay = OutboxRelay(settings, connect)
    consumers_by_topic: dict[str, list[str]] = {}
    agents = topology.enabled_agents()

    def processor_of(name: str) -> BatchProcessor:
        """A handler and a kept connection of its own: one per thread that runs it. A lane's
        entry agent runs the lane's fused handler for all of its inputs."""
        spec, lane = agents[name], topology.lane_of(name)
        if lane is not None and lane.entry == name:
            handler = importlib.import_module(lane.module).build_handler(settings)
        else:
            handler = load_handler(spec, settings)
        return BatchProcessor(
            settings,
            serde,
            handler,
            spec.dlq,
            connect,
            on_committed=_recorder(name, settings.topic(spec.dlq)),
        )

    processors: list[BatchProcessor] = []
    consumer_of: dict[str, str] = {}  # agent -> its consumer name (offsets, markers)
    for name in agents:
        topics = [settings.topic(t) for t in topology.faust_inputs(name)]
        if not topics:
            continue  # everything it reads arrives through a lane
        processor = processor_of(name)
        consumer_of[name] = processor.handler.consumer
        for topic in topics:
            consumers_by_topic.setdefault(topic, []).append(processor.handler.consumer)
        _attach_agent(app, name, topics, processor, settings)
        processors.append(processor)
    for lane_name, lane in topology.lanes.items():
        if lane.entry in agents:
            member = processor_of(lane.entry)
            topics = [settings.topic(t) for t in lane.inputs]
            # A table waits only when its owner runs here (an agent can be disabled): the
            # lane's own offsets never stand in for it, or the lane would wait for ever.
            owned = {
                t: consumer_of[owner]
                for t in lane.waits_for
                if (owner := topology.table_owner(t)) in consumer_of
            }
            tables = {settings.topic(t): topology.partitions(t) for t in owned}
            owners = {settings.topic(t): consumer for t, consumer in owned.items()}
            lane_service = FastLane(
                settings, lane_name, topics, [member], connect, tables, table_owners=owners
            )
            app.add_dependency(LaneService(lane_service))
            processors.append(member)

    @timer(app, 0.25)
    async def relay_outbox() -> None:
        try:
            sent = await asyncio.to_thread(relay.drain)
        except Exception as exc:  # Postgres or Kafka away: rows stay unsent, the next tick retries
            log.warning("outbox.relay_failed", error=repr(exc))
            return
        if sent:
            metrics.OUTBOX_SENT.inc(sent)

    @timer(app, settings.retention_interval_s)
    async def prune_bookkeeping() -> None:
        markers_before, outbox_before = retention.cutoffs(
            datetime.now(UTC), settings.dedup_retention_hours, settings.outbox_retention_hours
        )
        try:
            pruned = await asyncio.to_thread(
                retention.prune, connect, markers_before=markers_before, outbox_before=outbox_before
            )
        except Exception as exc:  # the rows stay; the next tick tries again
            log.warning("retention.failed", error=repr(exc))
            return
        if pruned is not None and (pruned.markers or pruned.outbox_rows):
            log.info("retention.pruned", markers=pruned.markers, outbox_rows=pruned.outbox_rows)

    deliverer = _deliverer(settings.notify, connect)
    if deliverer is not None:

        @timer(app, 1.0)
        async def deliver_notifications() -> None:
            try:
                await asyncio.to_thread(deliverer.deliver_pending, 200)
            except Exception as exc:  # rows stay pending; the next tick retries
                log.warning("notifications.delivery_failed", error=repr(exc))

    async def seek_to_stored_offsets(_sender: Any, assigned: set[TP], **_: Any) -> None:
        await seek_to_applied(app.consumer, connect, consumers_by_topic, assigned)

    app.on_partitions_assigned.connect(seek_to_stored_offsets)  # type: ignore[arg-type]
    _register_pages(app, processors)
    return app


def worker_connection(settings: Settings) -> psycopg.Connection:
    """A Postgres session of the worker's: timed by stage, planner options of its workload,
    the outbox's stage table made."""
    conn = timed_connect(
        settings.postgres_url, autocommit=False, connect_timeout=5, options=SESSION_OPTIONS
    )
    prepare_session(conn)
    return conn


def _deliverer(notify: NotifySettings, connect: Any) -> Any:
    """Webhook/SMTP delivery of the notifications outbox, when a channel is configured."""
    from streams.notifications.delivery import NotificationDeliverer

    if not (notify.webhook_enabled or notify.smtp_enabled):
        log.info(
            "notifications.delivery_off", hint="set LEARNSTREAM_NOTIFY_WEBHOOK_URL or _SMTP_HOST"
        )
        return None
    return NotificationDeliverer(notify, connect)


Tick = Callable[[], Awaitable[None]]


def timer(app: faust.App, interval_s: float) -> Callable[[Tick], Tick]:
    """Faust's `app.timer`, typed: Faust's decorator is not, and would make the tick untyped."""
    decorate: Callable[[Tick], Tick] = app.timer(interval_s)
    return decorate


def agent_batch_size(settings: Settings) -> int:
    """Faust agents carry the low-volume flows, and Faust buffers four of their batches per
    stream in memory: they keep batches of at most AGENT_BATCH_SIZE where a lane's may be
    larger (a lane's backlog gains from larger batches; an agent's has little to coalesce)."""
    return min(settings.worker.batch_size, AGENT_BATCH_SIZE)


def _attach_agent(
    app: faust.App, name: str, topics: list[str], processor: BatchProcessor, settings: Settings
) -> None:
    channel = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    async def shell(stream: Any) -> None:  # a faust.Stream (StreamT lacks take_events)
        async for events in stream.take_events(
            agent_batch_size(settings), within=settings.worker.batch_linger_s
        ):
            records = [to_record(e) for e in events]
            try:
                # Blocking Postgres work runs off the event loop so heartbeats keep flowing.
                await asyncio.to_thread(processor.process, records)
            except asyncio.CancelledError:
                raise  # shutdown: Faust may ack this batch, but Postgres offsets did not move
            except BaseException as exc:
                # A bug outside the handler (the runtime itself). Carrying on would let Faust
                # ack records that were never applied; stopping makes the restart resume from
                # the offsets stored in Postgres, so nothing is skipped.
                log.critical("agent.fail_stop", agent=name, error=repr(exc))
                os._exit(70)

    shell.__name__ = name
    app.agent(channel, name=f"learnstream.{name}", concurrency=1)(shell)


def _recorder(agent: str, dlq_topic: str) -> Any:
    def record(stats: BatchStats) -> None:
        metrics.EVENTS_PROCESSED.labels(agent).inc(stats.applied)
        metrics.EVENTS_SKIPPED.labels(agent).inc(stats.skipped)
        metrics.EVENTS_FAILED.labels(agent).inc(stats.dead_lettered)
        metrics.DLQ_RECORDS.labels(dlq_topic).inc(stats.dead_lettered)
        metrics.DERIVED_EVENTS.labels(agent).inc(stats.derived)
        metrics.BATCH_SECONDS.labels(agent).observe(stats.seconds)
        metrics.BATCH_RETRIES.labels(agent).inc(stats.attempts - 1)
        metrics.LAST_BATCH_AT.labels(agent).set(time.time())

    return record


def _register_pages(app: faust.App, processors: list[BatchProcessor]) -> None:
    from prometheus_client import generate_latest

    @app.page("/metrics")
    async def metrics_page(_web: Any, _request: Any) -> Any:
        await _update_lag(app, processors)
        return _web.bytes(generate_latest(metrics.REGISTRY), content_type="text/plain")

    @app.page("/healthz")
    async def health(_web: Any, _request: Any) -> Any:
        return _web.json({"status": "ok", "assigned": len(app.assignor.assigned_actives())})


async def _update_lag(app: faust.App, processors: list[BatchProcessor]) -> None:
    """Lag per partition: high watermark minus the slowest agent's next offset."""
    for tp in app.assignor.assigned_actives():
        highwater = app.consumer.highwater(tp)
        positions = [
            p.next_offsets[(tp.topic, tp.partition)]
            for p in processors
            if (tp.topic, tp.partition) in p.next_offsets
        ]
        if highwater is not None and positions:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(highwater - min(positions))
