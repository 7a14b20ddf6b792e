"""Schema contract: the FULL_TRANSITIVE compatibility gate (ADR 0004)."""

from learnstream.contract.compat import Incompatibility, can_read, check_full_transitive
from learnstream.contract.repository import SchemaReport, check_repository, scan_repository

__all__ = [
    "Incompatibility",
    "SchemaReport",
    "can_read",
    "check_full_transitive",
    "check_repository",
    "scan_repository",
]
