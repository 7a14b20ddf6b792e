"""The engine peers of the pipeline bench, on the same records as (a) and (f):

* (g) `quix_rate`: the naive progress job in Quix Streams (RocksDB state, changelog topic),
  in a virtualenv of its own under the state dir (Quix Streams pins an older confluent-kafka
  than learnstream runs; the peer must not change the project's client);
* (h) `naive_lane_rate`: the same job on learnstream's fast lane with a trivial handler.

Each runs in a process of its own and writes a result file when it has seen every record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from fastavro.schema import to_parsing_canonical_form

from learnstream.log import get_logger
from learnstream.settings import Settings, child_env
from learnstream.topology import load_topology
from learnstream_cli.bench.baselines import (
    _result,
    named_writers,
    run_until_result,
)
from learnstream_cli.bench.naive_faust import COUNTERS

log = get_logger(__name__)
QUIX_REQUIREMENT = "quixstreams>=3.28,<3.29"  # the version first measured here
QUIX_SCRIPT = Path(__file__).with_name("quix_naive.py")


def quix_python(settings: Settings) -> Path:
    """The peer's own virtualenv (made once, kept with the jar cache)."""
    venv = ((settings.cache_dir or settings.state_dir / "cache") / "bench-quix-venv").resolve()
    python = venv / "bin" / "python"
    marker = venv / f".installed-{QUIX_REQUIREMENT}"
    if not marker.exists():
        log.info("bench.quix.installing", venv=str(venv), requirement=QUIX_REQUIREMENT)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", QUIX_REQUIREMENT, "fastavro>=1.9,<2"],
            check=True,
        )
        marker.touch()
    return python


def quix_rate(
    settings: Settings, topic: str, expected: int, workdir: Path, timeout_s: float = 900
) -> dict[str, float]:
    python = quix_python(settings)  # installing is not part of the measurement
    workdir.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:10]
    schemas = workdir / f"quix-schemas-{run}.json"
    schemas.write_text(
        json.dumps(
            {
                "writers": {
                    fp.hex(): [name, to_parsing_canonical_form(parsed)]
                    for fp, (name, parsed) in named_writers(settings).items()
                },
                "counters": COUNTERS,
            }
        )
    )
    result_path = workdir / f"quix-{run}.json"
    command = [
        str(python),
        str(QUIX_SCRIPT),
        "--brokers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        "--group",
        f"{settings.topic('bench.quix')}.{run}",
        "--state-dir",
        str(workdir / f"quix-{run}-state"),
        "--schemas",
        str(schemas),
        "--result",
        str(result_path),
        "--expected",
        str(expected),
    ]
    result = run_until_result(
        command, dict(os.environ), workdir, result_path, workdir / f"quix-{run}.log", timeout_s
    )
    return _result(int(result["events"]), float(result["seconds"]))


def naive_lane_rate(
    settings: Settings, topic: str, expected: int, workdir: Path, timeout_s: float = 900
) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:10]
    result_path = workdir / f"naive-lane-{run}.json"
    command = [
        sys.executable,
        "-m",
        "learnstream_cli.bench.naive_lane",
        "--topic",
        topic,
        "--expected",
        str(expected),
        "--dlq",
        load_topology(settings.topology_file).agents["progress"].dlq,  # the runtime prefixes it
        "--run",
        run,
        "--result",
        str(result_path),
    ]
    env = {**os.environ, **child_env(settings)}
    log_path = workdir / f"naive-lane-{run}.log"
    result = run_until_result(command, env, workdir, result_path, log_path, timeout_s)
    return _result(int(result["events"]), float(result["seconds"]))
