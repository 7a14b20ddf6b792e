"""The fused learner pipeline: progress → certification → notifications, and features, applied
in one pass per batch inside one Postgres transaction, as Kafka Streams fuses a sub-topology
(ADR 0010).

Each stage is the agent's own handler, unchanged: the derived events one stage emits are handed
to the next as in-memory events instead of a round trip through Kafka and Faust's per-message
stream. They still go to their topics through the outbox, byte for byte what the agents published
before, for the HR integrations and anyone else consuming them; inside learnstream nothing
reads them back. Effectively once holds for the whole chain: the batch's effects, its derived
events and its offsets commit together, and a derived event exists once per cause because the
progress stage records what it has emitted in the pair's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from learnstream import names
from learnstream.names import COURSE_PUBLISHED as CATALOG
from learnstream.runtime.errors import InvalidContent
from learnstream.runtime.handler import BaseHandler
from learnstream.runtime.records import Event, InboundRecord, Outbound
from learnstream.runtime.stages import stage
from learnstream.settings import Settings
from learnstream.topology import event_topics
from streams.certification import handler as certification
from streams.features import handler as features
from streams.features.rules import day_of
from streams.features.store import read_watermark
from streams.notifications import handler as notifications
from streams.progress import handler as progress
from streams.progress.due_sweep import sweep_due
from streams.views.dashboards import refresh_learners


def in_memory(outbound: Outbound, topics: dict[str, str]) -> Event:
    """A derived event as the next stage would have consumed it from its topic (`topics`:
    event name -> topology topic); a dead letter names that topic."""
    source = InboundRecord(
        topic=topics[outbound.event_name],
        partition=-1,  # never consumed from Kafka: no coordinates, no offset to store
        offset=-1,
        key=outbound.key.encode(),
        value=None,
        headers=(),
    )
    return Event(outbound.event_name, outbound.record, source)


class LearnerPipeline(BaseHandler):
    """The handler of the learner lane (and of its catalog input). Its offsets and processed
    markers are the progress agent's, so a worker upgraded from separate agents resumes where
    progress stood."""

    # Activity events are read with times as epoch ms and ids as strings, which is all the
    # stages use (ids.epoch_ms takes either): converting them was a tenth of the lane's time.
    logical_types = features.KNOWN

    def __init__(
        self,
        progress_stage: progress.ProgressHandler,
        certification_stage: certification.CertificationHandler,
        notifications_stage: notifications.NotificationsHandler,
        features_stage: features.FeaturesHandler,
        topics: dict[str, str],
    ) -> None:
        self.topics = topics  # event name -> its topology topic, for events handed over
        self.progress = progress_stage
        self.certification = certification_stage
        self.notifications = notifications_stage
        self.features = features_stage
        self.consumer = progress_stage.consumer
        self._certified: list[Event] = []  # certification's inputs, for its leaderboards
        self._ranked_day: int | None = None  # the day of the last popularity ranking written

    def validate(self, event: Event) -> None:
        self.progress.validate(event)  # the content rules, once for every stage
        if event.name != CATALOG and event.name not in features.KNOWN:
            raise InvalidContent(f"{event.name} is not a learning activity event")

    def apply(self, conn: psycopg.Connection, events: list[Event]) -> list[Outbound]:
        with stage("progress"):
            out = self.progress.apply(conn, events)
        activity = [e for e in events if e.name != CATALOG]
        if activity:
            with stage("features"):
                self.features.apply(conn, activity)
        return out + self.downstream(conn, out)

    def downstream(self, conn: psycopg.Connection, out: list[Outbound]) -> list[Outbound]:
        """Certification and notifications over what the progress stage (or the due sweep)
        derived, in the caller's transaction."""
        derived = [in_memory(o, self.topics) for o in out]
        to_certify = [e for e in derived if self.certification.relevant(e)]
        with stage("certification"):
            certified = self.certification.apply(conn, to_certify) if to_certify else []
        self._certified += to_certify
        causes = [
            e
            for e in derived + [in_memory(o, self.topics) for o in certified]
            if self.notifications.relevant(e)
        ]
        with stage("notifications"):
            notified = self.notifications.apply(conn, causes) if causes else []
        return certified + notified

    def punctuate(
        self,
        conn: psycopg.Connection,
        partitions: set[tuple[str, int]],
        end_offsets: Callable[[list[str]], dict[tuple[str, int], int]],
    ) -> tuple[list[Outbound], bool]:
        """Time-driven work between two batches, on the lane's thread (Kafka Streams calls it a
        punctuator): the due sweep over the pairs of the lane's own partitions, then the
        certification and notification stages over its alerts. Returns (events to publish,
        whether more is owed than one sweep takes)."""
        mine = sorted(p for topic, p in partitions if topic == self.progress.activity_topic)
        if not mine:
            return [], False
        ends = end_offsets(self.progress.clock_topics())
        alerts, more = sweep_due(conn, self.progress, ends, mine)
        if alerts:
            alerts += self.downstream(conn, alerts)
            certified, self._certified = self._certified, []
            self.certification.materialize(conn, certified)
        return alerts, more

    def committed(self) -> None:
        self.progress.committed()
        self.features.committed()

    def rolled_back(self) -> None:
        self.progress.rolled_back()
        self.features.rolled_back()
        self._ranked_day = None  # the ranking written may not have been committed

    def revoked(self) -> None:
        self.progress.revoked()
        self.features.revoked()

    def materialize(self, conn: psycopg.Connection, events: list[Event]) -> None:
        """Every stage's Redis view, last before COMMIT (streams/views/dashboards.py): the
        dashboards and feature hashes of every learner the batch changed, computed once for
        progress and features together, then the leaderboard members."""
        activity = {e.record["learner_id"] for e in events if e.name != CATALOG}
        learners = self.progress.take_touched() | activity
        client = self.progress.client
        if client is not None:
            clock = read_watermark(conn)
            popularity = self._popularity_changed(clock, events)
            refresh_learners(
                conn,
                client,
                self.progress.prefix,
                learners,
                popularity=popularity,
                cache=self.features.cache,
                locked=True,  # the progress stage locked every learner of the batch
                clock=clock,
            )
        certified, self._certified = self._certified, []
        self.certification.materialize(conn, certified)

    def _popularity_changed(self, clock: int | None, events: list[Event]) -> bool:
        """The ranking counts enrolments in a 30-day window and completed pairs: it changes
        when a batch enrols, completes or un-completes, or when the window moves a day.
        Recomputing it every batch read every completed pair each time."""
        day = None if clock is None else day_of(clock)
        moved, self._ranked_day = day != self._ranked_day, day
        enrolled = any(e.name == names.ENROLLMENT_CREATED for e in events)
        return moved or enrolled or bool(self._certified)


def build_handler(settings: Settings, **_: Any) -> LearnerPipeline:
    return LearnerPipeline(
        progress.build_handler(settings),
        certification.build_handler(settings),
        notifications.build_handler(settings),
        features.build_handler(settings),
        event_topics(settings.topology_file),
    )
