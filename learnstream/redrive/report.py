"""What a redrive run covers (the snapshot) and what it did (the report)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from learnstream.log import get_logger
from learnstream.redrive.ledger import Coords
from learnstream.redrive.letters import Letter

log = get_logger(__name__)
EXAMPLES = 5


@dataclass(frozen=True)
class Snapshot:
    topic: str
    ranges: dict[int, tuple[int, int]]  # partition → (first offset, end offset) at the start

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.ranges.values())


@dataclass
class Report:
    snapshot: Snapshot
    dry_run: bool
    read: int = 0
    redriven: int = 0  # in a dry run: would be
    forced: int = 0  # of redriven: sent only because of --force
    skipped: int = 0  # redriven before: this letter, or a copy of its original record
    skipped_legacy: int = 0  # below the offsets the pre-ledger redrive committed
    refused: int = 0
    limited: bool = False  # stopped by --limit before the snapshot's end
    targets: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[Coords, str]] = field(default_factory=list)

    def refuse(self, letter: Letter, reason: str) -> None:
        self.refused += 1
        self.reasons[reason] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((letter.dlq, reason))
        dlq, partition, offset = letter.dlq
        log.warning(
            "dlq.redrive.refused", dlq=dlq, partition=partition, offset=offset, reason=reason
        )

    def sent(self, target: str, forced: bool) -> None:
        self.redriven += 1
        self.forced += forced
        self.targets[target] += 1
