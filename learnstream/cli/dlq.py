"""`learnstream dlq list | show | redrive`: inspect dead letters and send them back after a fix."""

from __future__ import annotations

from typing import Any

import typer
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from learnstream.kafka_clients import producer_config
from learnstream.settings import get_settings
from learnstream.topology import dlq_topics, load_topology

app = typer.Typer(help="Dead-letter topics: list them, show records, redrive after a fix.")
console = Console()
DLQ_HEADER_PREFIX = "__dlq."


def _headers(msg: Message) -> list[tuple[str, bytes]]:
    raw: Any = msg.headers() or []
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in raw]


def _consumer(group: str, offset_reset: str = "earliest") -> Consumer:
    settings = get_settings()
    return Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": group,
            "auto.offset.reset": offset_reset,
            "enable.auto.commit": False,
        }
    )


def _sizes(topic: str) -> dict[int, tuple[int, int]]:
    consumer = _consumer("learnstream.dlq.inspect")
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in metadata.partitions
        }
    finally:
        consumer.close()


@app.command("list")
def list_() -> None:
    """Every agent's DLQ with how many records it holds."""
    settings = get_settings()
    table = Table(title="dead-letter topics")
    for column in ("DLQ", "mirrors", "records"):
        table.add_column(column)
    for dlq, source in dlq_topics(load_topology(settings.topology_file)).items():
        topic = settings.topic(dlq)
        total = sum(high - low for low, high in _sizes(topic).values())
        table.add_row(topic, settings.topic(source), str(total))
    console.print(table)


def _read(topic: str, group: str, limit: int | None) -> list[Message]:
    consumer = _consumer(group)
    consumer.subscribe([topic])
    messages: list[Message] = []
    try:
        idle = 0
        while idle < 5 and (limit is None or len(messages) < limit):
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                continue
            if not msg.error():
                messages.append(msg)
    finally:
        consumer.close()
    return messages


@app.command()
def show(topic: str, limit: int = typer.Option(20, "-n", help="records to show")) -> None:
    """The first records of a DLQ topic with their error headers."""
    for msg in _read(topic, f"learnstream.dlq.show.{id(topic)}", limit):
        headers = {k: v.decode(errors="replace") for k, v in _headers(msg)}
        console.print(f"[bold]{topic}[{msg.partition()}]@{msg.offset()}[/] key={msg.key()!r}")
        for key in sorted(h for h in headers if h.startswith(DLQ_HEADER_PREFIX)):
            console.print(f"  {key} = {headers[key]}", highlight=False)
        console.print(f"  value = {(msg.value() or b'')[:48].hex()}…", highlight=False)


@app.command()
def redrive(
    topic: str, dry_run: bool = typer.Option(False, help="count only, send nothing")
) -> None:
    """Republish dead letters to their original topic (from __dlq.topic), without the error
    headers. A consumer group remembers what was redriven, so running it again sends only new
    letters; consumers drop any duplicate by its event_id."""
    group = f"learnstream.redrive.{topic}"
    consumer = _consumer(group)
    consumer.subscribe([topic])
    producer = Producer(producer_config(get_settings()))
    sent = 0
    try:
        with Progress(console=console) as bar:
            task = bar.add_task(f"redriving {topic}", total=None)
            idle = 0
            while idle < 5:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    idle += msg is None
                    continue
                headers = _headers(msg)
                target = dict(headers).get("__dlq.topic")
                if target is None:
                    continue
                if not dry_run:
                    kept: list[tuple[str, str | bytes | None]] = [
                        (k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)
                    ]
                    producer.produce(
                        target.decode(), key=msg.key(), value=msg.value(), headers=kept
                    )
                    if producer.flush(30):
                        raise typer.Exit(1)
                    consumer.commit(message=msg, asynchronous=False)
                sent += 1
                bar.update(task, completed=sent)
    finally:
        consumer.close()
    console.print(f"{'would redrive' if dry_run else 'redrove'} {sent} record(s) from {topic}")
