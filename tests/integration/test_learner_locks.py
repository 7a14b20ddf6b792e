"""Per-learner advisory locks on real Postgres: the due sweep's try-lock takes what is free and
never waits for a learner the lane holds."""

from __future__ import annotations

import time

import psycopg
import pytest

from learnstream.runtime.locks import lock_learners, try_lock_learners

pytestmark = pytest.mark.integration


def test_try_lock_takes_the_free_learners_and_never_waits(pg_url: str) -> None:
    with psycopg.connect(pg_url) as lane, psycopg.connect(pg_url) as sweep:
        with lane.transaction():
            lock_learners(lane, ["ann"])  # the lane's batch holds ann
            began = time.monotonic()
            with sweep.transaction():
                assert try_lock_learners(sweep, ["ann", "bob", "cid"]) == {"bob", "cid"}
            assert time.monotonic() - began < 1.0  # it did not wait for the lane's commit
        with sweep.transaction():  # the lane committed: ann is free on the next tick
            assert try_lock_learners(sweep, ["ann"]) == {"ann"}
            with lane.transaction():  # and now the sweep holds it
                assert try_lock_learners(lane, ["ann", "bob"]) == {"bob"}
