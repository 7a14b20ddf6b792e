from __future__ import annotations

from learnstream.errors import LearnstreamError


class InfraError(LearnstreamError):
    """A problem the operator can fix; the CLI prints it as one line, never a stack trace."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem
