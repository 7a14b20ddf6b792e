"""`learnstream dlq list | show | redrive`: inspect dead letters and send them back after a fix.
The redrive logic is in learnstream.redrive; this module only prints."""

from __future__ import annotations

import typer
from confluent_kafka import Consumer, Message, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from learnstream.redrive import (
    LedgerMissing,
    RedriveFailed,
    Redriver,
    RedriveRunning,
    Report,
)
from learnstream.redrive.letters import DLQ_HEADER_PREFIX, message_headers
from learnstream.settings import get_settings
from learnstream.topology import dlq_topics, load_topology

app = typer.Typer(help="Dead-letter topics: list them, show records, redrive after a fix.")
console = Console()


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
        headers = {k: v.decode(errors="replace") for k, v in message_headers(msg)}
        console.print(f"[bold]{topic}[{msg.partition()}]@{msg.offset()}[/] key={msg.key()!r}")
        for key in sorted(h for h in headers if h.startswith(DLQ_HEADER_PREFIX)):
            console.print(f"  {key} = {headers[key]}", highlight=False)
        console.print(f"  value = {(msg.value() or b'')[:48].hex()}…", highlight=False)


REDRIVE_HELP = """Send dead letters back to their original topic (__dlq.topic) after a fix.

\b
* Bounded: the DLQ's end offsets are taken at the start and the run stops there, so letters
  a running worker adds meanwhile (copies that fail again) wait for the next run.
* Once: every letter sent is recorded in Postgres (dlq_redrives) after the broker acked it.
  A later run skips it, and also skips any other copy of the same original record: a copy
  in the other DLQ of the same topic, or the redriven copy dead-lettered again. --force
  sends such a copy once more. A crash between the ack and the record can send a letter
  twice; consumers drop the duplicate by its event_id.
* Checked: a letter whose value still does not decode (or is not an event of its topic) is
  refused and listed, unless --force.
* The copy keeps the original key, value and headers, without the __dlq.* error headers."""


@app.command(help=REDRIVE_HELP)
def redrive(
    topic: str = typer.Argument(..., help="the DLQ, e.g. learning.activity.dlq"),
    dry_run: bool = typer.Option(False, help="decide and count, send and record nothing"),
    limit: int | None = typer.Option(None, min=1, help="send at most this many letters"),
    force: bool = typer.Option(
        False, help="also send letters that fail to decode or whose original was redriven"
    ),
) -> None:
    settings = get_settings()
    try:
        redriver = Redriver(settings, topic, force=force, dry_run=dry_run, limit=limit)
        snapshot = redriver.snapshot()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"redriving {redriver.topic}", total=snapshot.total)
            report = redriver.run(snapshot, lambda n: bar.advance(task, n))
    except RedriveFailed as exc:
        _summary(exc.report)
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    except (ValueError, LedgerMissing, RedriveRunning) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    _summary(report)


def _summary(report: Report) -> None:
    verb = "would redrive" if report.dry_run else "redriven"
    table = Table()
    table.add_column(f"redrive of {report.snapshot.topic}")
    table.add_column("letters", justify="right")
    table.add_row("in the DLQ at the start", str(report.snapshot.total))
    table.add_row(verb, str(report.redriven))
    for target, count in sorted(report.targets.items()):
        table.add_row(f"  to {target}", str(count))
    if report.forced:
        table.add_row("  of them with --force", str(report.forced))
    table.add_row("skipped (redriven before)", str(report.skipped + report.skipped_legacy))
    table.add_row("refused (would fail again)", str(report.refused))
    console.print(table)
    for (_, partition, offset), reason in report.examples:
        console.print(
            f"  refused [{partition}]@{offset}: {reason}", highlight=False, soft_wrap=True
        )
    if report.refused:
        console.print("  fix them, or send them anyway with --force", highlight=False)
    if report.limited:
        console.print(f"stopped at --limit after {report.read} letter(s)", highlight=False)
    console.print(
        f"{verb} {report.redriven}, skipped {report.skipped + report.skipped_legacy}, "
        f"refused {report.refused}",
        highlight=False,
    )
