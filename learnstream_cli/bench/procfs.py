"""CPU and memory of a child process group, read from /proc (Linux; no extra dependency).

Children are started with `start_new_session=True`, so their process group id is their pid and
the group covers anything they fork."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone between listing and reading
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    return text[text.rfind(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    """Live processes of the process group (field 5 of /proc/<pid>/stat is pgrp)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid:
                found.append(int(entry))
    return found


def cpu_seconds(pgid: int) -> float:
    """utime + stime of the group's live processes, in seconds."""
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(str(pid))
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / CLOCK_TICKS


def memory_mb(pgid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) summed over the group, and the largest single process
    (a worker runs one member per core under a supervisor), in MiB."""
    total = {"VmRSS": 0, "VmHWM": 0}
    largest = {"VmRSS": 0, "VmHWM": 0}
    for pid in group_pids(pgid):
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in total:
                kb = int(value.split()[0])
                total[key] += kb
                largest[key] = max(largest[key], kb)
    return {
        "rss_mb": total["VmRSS"] / 1024,
        "peak_rss_mb": total["VmHWM"] / 1024,
        "process_rss_mb": largest["VmRSS"] / 1024,
        "process_peak_rss_mb": largest["VmHWM"] / 1024,
    }


class CpuSampler:
    """Samples the group's CPU% every `interval_s` in a thread; `window` gives the average and
    peak between two time.time() instants (100 % = one core)."""

    def __init__(self, pgid: int, interval_s: float = 0.5) -> None:
        self.pgid = pgid
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (time.time(), cumulative cpu seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), cpu_seconds(self.pgid)))
            if self._stop.wait(self.interval_s):
                return

    def window(self, began: float, ended: float) -> dict[str, Any]:
        inside = [(t, c) for t, c in list(self.samples) if began <= t <= ended]
        if len(inside) < 2:
            return {"avg_percent": None, "peak_percent": None, "samples": len(inside)}
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        steps = [
            100 * (cb - ca) / (tb - ta)
            for (ta, ca), (tb, cb) in itertools.pairwise(inside)
            if tb > ta
        ]
        return {
            "avg_percent": round(100 * (c1 - c0) / (t1 - t0), 1),
            "peak_percent": round(max(steps), 1),
            "samples": len(inside),
        }
