"""Worker memory against learner count: a world of N learners, each with one employment snapshot
(org.employment) and one enrollment in the same course (learning.activity), drained by a real
worker in a fresh private world; then VmRSS (and the peak, VmHWM) of its process group.

State lives in Postgres; what grows with learners in the worker is whatever it keeps in memory
per key (the catalog.course and org.employment "tables" of topology.yaml are consumed as
inputs; Faust's own store is memory://)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from learnstream.events import make_envelope
from learnstream.log import get_logger
from learnstream.names import COURSE_PUBLISHED, EMPLOYMENT_CHANGED, ENROLLMENT_CREATED
from learnstream.settings import Settings
from learnstream.simulate.generator import simulate
from learnstream_cli.bench.drain import wait_drained, wait_first_offset
from learnstream_cli.bench.procfs import memory_mb
from learnstream_cli.bench.world import private_world, start_worker, stop

log = get_logger(__name__)
TENANT = "acme"


def rss_records(learners: int, seed: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """One published course, then per learner an employment snapshot and an enrollment."""
    sim = simulate(1, 1, 1, seed, TENANT)  # only for a valid course.published record
    course = next(e.record for e in sim.events if e.event_name == COURSE_PUBLISHED)
    yield COURSE_PUBLISHED, course
    start = sim.start
    for i in range(learners):
        learner, manager = f"rss-l-{i:07d}", f"rss-m-{i // 10:06d}"
        yield (
            EMPLOYMENT_CHANGED,
            {
                "envelope": make_envelope(
                    EMPLOYMENT_CHANGED,
                    tenant_id=TENANT,
                    source="/hris/workday",
                    occurred_at=start + timedelta(seconds=i),
                ),
                "learner_id": learner,
                "manager_id": manager,
                "department": f"dept-{i % 20}",
                "hr_worker_id": f"W{i:07d}",
                "sap_user_id": None,
                "employment_status": "ACTIVE",
                "effective_at": start - timedelta(days=30),
            },
        )
        yield (
            ENROLLMENT_CREATED,
            {
                "envelope": make_envelope(
                    ENROLLMENT_CREATED,
                    tenant_id=TENANT,
                    source="/lms/enrollments",
                    occurred_at=start + timedelta(days=1, seconds=i, milliseconds=7),
                ),
                "enrollment_id": f"rss-e-{i:07d}",
                "learner_id": learner,
                "course_id": course["course_id"],
                "course_version": None,
                "assigned_by": manager,
                "due_at": None,
            },
        )


def measure_rss(
    base: Settings,
    learners: int,
    *,
    keep: bool = False,
    timeout_s: float = 3600,
    on_backlog: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    from learnstream.sdk import Publisher

    with private_world(base, f"rss{learners}", keep=keep) as world:
        began = time.perf_counter()
        with Publisher(world.settings) as publisher:
            events = publisher.publish_records(rss_records(learners))
        published = time.perf_counter() - began
        proc = start_worker(world)
        try:
            first = wait_first_offset(world, proc)
            idle = memory_mb(proc.pid)  # just after the first batch: the worker's base size
            drained = wait_drained(world, proc, timeout_s=timeout_s, on_backlog=on_backlog)
            memory = memory_mb(proc.pid)
        finally:
            stop(proc)
    log.info("bench.rss.done", learners=learners, **memory)
    return {
        "learners": learners,
        "events": events,
        "publish_seconds": round(published, 2),
        "drain_seconds": round(drained["all"] - first, 2),
        "rss_mb": round(memory["rss_mb"], 1),
        "peak_rss_mb": round(memory["peak_rss_mb"], 1),
        "rss_at_first_batch_mb": round(idle["rss_mb"], 1),
        "process_rss_mb": round(memory["process_rss_mb"], 1),  # the largest one process
        "process_peak_rss_mb": round(memory["process_peak_rss_mb"], 1),
    }
