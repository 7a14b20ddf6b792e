"""The effectively-once runtime, and the public API for writing a handler (ADR 0015).

A handler is the rules side of an agent: a `BaseHandler` subclass whose hooks the runtime calls
(each documented in learnstream/runtime/handler.py). `consumer` names its offsets and processed
markers, `validate(event)` checks content rules, `apply(conn, events)` reads and writes state in
the batch's transaction and returns the derived events (`Outbound`) for the outbox. It raises
`InvalidContent` for an event that breaks a rule (dead-lettered, processing goes on) and
`TransientError` for a dependency that will answer later (the batch is retried, never skipped).
`lock_learners` takes the learners' advisory locks every writer of their rows holds; `stage`
charges a block's time to a named stage of the stage clock. The rest of the package is the
runtime's own (processor, ledger, outbox, lanes' intake and barriers) and may change.
`learnstream.testing` runs a handler in memory through this runtime, for its tests.
"""

from learnstream.errors import TransientError
from learnstream.runtime.errors import InvalidContent, is_transient
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.locks import lock_learners
from learnstream.runtime.processor import BatchProcessor, BatchStats
from learnstream.runtime.records import DeadLetter, Event, InboundRecord, Outbound
from learnstream.runtime.stages import stage

__all__ = [
    "BaseHandler",
    "BatchProcessor",
    "BatchStats",
    "DeadLetter",
    "Event",
    "InboundRecord",
    "InvalidContent",
    "Outbound",
    "TransientError",
    "is_transient",
    "lock_learners",
    "stage",
]
