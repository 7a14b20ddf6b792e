from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
from learnstream.log import bound_event, configure_logging, get_logger
configure_logging("INFO", json=None)
with bound_event(event_id="e-1", topic="learning.activity"):
    get_logger("t").info("processed", offset=7)
get_logger("t").debug("hidden")
"""


def test_json_lines_when_not_a_tty_with_bound_event_context() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in out.stderr.strip().splitlines()]
    assert len(lines) == 1  # debug is filtered at INFO
    assert lines[0]["event"] == "processed"
    assert (lines[0]["event_id"], lines[0]["topic"], lines[0]["offset"]) == (
        "e-1",
        "learning.activity",
        7,
    )
    assert lines[0]["level"] == "info" and lines[0]["timestamp"].endswith("Z")
