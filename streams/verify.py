"""Checks used by tests, `make run` and the reliability suite: is the pipeline drained, and do
the views equal the simulator's oracle?"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import KafkaException
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from learnstream.settings import Settings
from learnstream.simulate.oracle_model import Oracle
from learnstream.topology import Topology
from streams.runtime.end_offsets import EndOffsets


@retry(
    retry=retry_if_exception_type(KafkaException),
    wait=wait_random_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(30),
    reraise=True,
)
def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """High watermarks per partition, from a short-lived client (tools and tests)."""
    offsets = EndOffsets(settings)
    try:
        return offsets.of(topics)
    finally:
        offsets.close()


def consumer_names(settings: Settings, topology: Topology) -> dict[str, str]:
    """Agent name -> the consumer name its handler records offsets under."""
    names = {}
    for name, agent in topology.enabled_agents().items():
        module = __import__(agent.module, fromlist=["build_handler"])
        names[name] = module.build_handler(settings).consumer
    return names


def backlog(
    settings: Settings,
    topology: Topology,
    conn: psycopg.Connection,
    consumers: dict[str, str] | None = None,
) -> dict[str, int]:
    """Records each agent has not applied yet, plus unsent outbox rows and due decisions."""
    from streams.progress.handler import build_handler

    consumers = consumers or consumer_names(settings, topology)
    clock = build_handler(settings)
    agents = topology.enabled_agents()
    topics = {settings.topic(t) for a in agents.values() for t in [*a.inputs, *a.tables]}
    ends = end_offsets(settings, sorted(topics | set(clock.clock_topics())))
    stored = {
        (c, t, p): o
        for c, t, p, o in conn.execute(
            "SELECT consumer, topic, partition, next_offset FROM stream_offsets"
        ).fetchall()
    }
    result: dict[str, int] = {}
    for name in agents:
        # A laned input is applied under the lane entry's consumer; a fused one never is.
        lane = topology.lane_of(name)
        owner = {settings.topic(t): consumers[name] for t in topology.faust_inputs(name)}
        if lane is not None:
            owner |= {settings.topic(t): consumers[lane.entry] for t in lane.inputs}
        result[name] = sum(
            max(0, end - stored.get((owner[t], t, p), 0))
            for (t, p), end in ends.items()
            if t in owner
        )
    row = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    result["outbox"] = int(row[0]) if row else 0
    from streams.notifications.delivery import NotifySettings

    notify = NotifySettings()
    if notify.webhook_enabled or notify.smtp_enabled:
        undelivered = conn.execute(
            "SELECT count(*) FROM notifications WHERE NOT delivered AND attempts < %s "
            "AND coalesce(last_error, '') NOT LIKE 'permanent:%%'",
            (notify.max_attempts,),
        ).fetchone()
        result["undelivered"] = int(undelivered[0]) if undelivered else 0
    from streams.progress.due_sweep import pending

    result["due_sweep"] = len(pending(conn, clock, ends)[1])
    return result


def wait_until_drained(
    settings: Settings, topology: Topology, timeout_s: float = 180, settle_s: float = 3.0
) -> dict[str, int]:
    """Block until nothing is left to do (and stays so for `settle_s`); return the last backlog."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    last: dict[str, int] = {}
    consumers = consumer_names(settings, topology)  # handlers are built once, not per poll
    while time.monotonic() < deadline:
        with psycopg.connect(settings.postgres_url) as conn:
            last = backlog(settings, topology, conn, consumers)
        if not any(last.values()):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle_s:
                return last
        else:
            quiet_since = None
        time.sleep(0.5)
    raise TimeoutError(f"pipeline not drained after {timeout_s}s: {last}")


@dataclass
class Comparison:
    checked: dict[str, int] = field(default_factory=dict)
    differences: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not any(self.differences.values())


# The audit payload's status of a revoked Workday enrolment (connectors.workday.NOT_COMPLETED;
# tests/unit/connectors/test_workday_update_contract.py pins the two equal). Spelled here so the
# streams never import the connectors above them.
REVOKED_IN_WORKDAY = "Not_Completed"


def compare_hr(conn: psycopg.Connection, oracle: Oracle, result: Comparison) -> None:
    """HR records recorded as delivered, in the state delivered (a Workday enrolment updated
    after a revocation is REVOKED), against the records the oracle says are owed."""
    got = set(conn.execute(
        "SELECT target, hr_user_id, learner_id, course_id, completion_id::text, "
        "CASE WHEN payload->>'completion_status' = %s THEN 'REVOKED' ELSE 'COMPLETED' END "
        "FROM hr_sync_audit WHERE status IN ('SENT', 'ALREADY_RECORDED')",
        (REVOKED_IN_WORKDAY,)).fetchall())  # fmt: skip
    want = {(r.target, r.hr_user_id, r.learner_id, r.course_id, r.completion_id, r.state)
            for r in oracle.hr_records}  # fmt: skip
    result.checked["hr_records"] = len(want)
    result.differences["hr_records"] = sorted(
        [("missing", *r) for r in want - got] + [("extra", *r) for r in got - want]
    )


# Notification kinds docs/domain-rules.md decides (the oracle knows no digests).
RULED_KINDS = (
    "CERTIFICATE_ISSUED",
    "COURSE_COMPLETED",
    "OVERDUE",
    "AT_RISK",
    "RECERTIFICATION_REQUIRED",
)


def compare_with_oracle(
    conn: psycopg.Connection, oracle: Oracle, *, hr: bool = False
) -> Comparison:
    result = Comparison()
    if hr:
        compare_hr(conn, oracle, result)
    views = {
        (r[0], r[1]): r[2:]
        for r in conn.execute(
            "SELECT learner_id, course_id, status, required_done, required_total, percent, "
            "time_spent_seconds FROM learner_course_progress"
        ).fetchall()
    }
    expected = {
        (p.learner_id, p.course_id): (
            p.status,
            p.required_done,
            p.required_total,
            p.percent,
            p.time_spent_seconds,
        )
        for p in oracle.progress
    }
    result.checked["progress"] = len(expected)
    result.differences["progress"] = [
        (pair, views.get(pair), want)
        for pair, want in expected.items()
        if views.get(pair) is None
        or views[pair][:4] != want[:4]
        or not math.isclose(views[pair][4], want[4], abs_tol=1e-6)
    ] + [(pair, got, None) for pair, got in views.items() if pair not in expected]
    certs = {
        str(r[0]): (r[1], r[2] is not None, r[3])
        for r in conn.execute(
            "SELECT certificate_id, attempt, revoked_at, expires_at FROM certificates"
        ).fetchall()
    }
    want_certs = {
        c.certificate_id: (c.attempt, c.revoked, c.expires_at) for c in oracle.certificates
    }
    result.checked["certificates"] = len(want_certs)
    result.differences["certificates"] = sorted(
        (cid, certs.get(cid), want_certs.get(cid))
        for cid in set(certs) | set(want_certs)
        if certs.get(cid) != want_certs.get(cid)
    )
    notes = {
        str(r[0])
        for r in conn.execute(
            "SELECT notification_id FROM notifications WHERE kind = ANY(%s)", (list(RULED_KINDS),)
        ).fetchall()
    }
    want_notes = {n.notification_id for n in oracle.notifications if n.kind in RULED_KINDS}
    result.checked["notifications"] = len(want_notes)
    result.differences["notifications"] = sorted(
        [("missing", n) for n in want_notes - notes] + [("extra", n) for n in notes - want_notes]
    )
    return result
