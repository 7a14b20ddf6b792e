"""`learnstream dlq redrive`: dead letters back to their topic, each once, in a bounded run."""

from __future__ import annotations

from learnstream.redrive.core import RedriveFailed, Redriver
from learnstream.redrive.ledger import LedgerMissing, RedriveLedger, RedriveRunning
from learnstream.redrive.report import Report, Snapshot

__all__ = [
    "LedgerMissing",
    "RedriveFailed",
    "RedriveLedger",
    "RedriveRunning",
    "Redriver",
    "Report",
    "Snapshot",
]
