"""The Workday simulator enforces the enrolment-update contract of ADR 0011: status and score
may change, identity and date may not; a revocation needs an enrolment Workday knows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors import soap
from connectors.simulators.common import running
from connectors.simulators.workday import WorkdaySimulator
from connectors.workday import WorkdayClient, build_payload, revoked_payload
from learnstream.sections import HrSettings

AT = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
COMPLETION = "0b6b2a4e-0000-5000-8000-000000000001"


@pytest.fixture
def client() -> Iterator[tuple[WorkdayClient, WorkdaySimulator]]:
    simulator = WorkdaySimulator(tenant="acme", password="pw")
    with running(simulator.app) as url:
        settings = HrSettings(
            workday_base_url=url,
            workday_tenant="acme",
            workday_username="isu_learning@learnstream",
            workday_password=SecretStr("pw"),
            workday_requests_per_second=10,
        )
        yield WorkdayClient(settings), simulator


def test_revocation_updates_status_and_clears_score(
    client: tuple[WorkdayClient, WorkdaySimulator],
) -> None:
    wd, simulator = client
    completed = build_payload("W1", "c1", COMPLETION, AT, 0.9)
    wid = wd.put_enrollment(completed).remote_ref
    assert wd.put_enrollment(revoked_payload(completed)).remote_ref == wid
    [held] = wd.get_enrollments([COMPLETION])
    assert (held["completion_status"], held["score"]) == ("Not_Completed", None)
    assert wd.find(revoked_payload(completed)) is not None  # in the revoked state now
    assert wd.find(completed) is None  # a completed enrolment it is not
    wd.put_enrollment(revoked_payload(completed))  # an identical re-put: no new state
    assert len(simulator.history[COMPLETION]) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"worker_id": "W2"}, "worker_id of an existing enrolment cannot be changed"),
        ({"course_id": "c2"}, "course_id of an existing enrolment cannot be changed"),
        ({"completion_date": "2025-03-11"}, "completion_date of an existing enrolment"),
        ({"score": "10.0"}, "a Not_Completed enrolment has no Score"),
    ],
)
def test_updates_outside_the_contract_are_validation_faults(
    client: tuple[WorkdayClient, WorkdaySimulator], change: dict[str, str], message: str
) -> None:
    wd, simulator = client
    completed = build_payload("W1", "c1", COMPLETION, AT, 0.9)
    wd.put_enrollment(completed)
    with pytest.raises(soap.ValidationFault, match=message):
        wd.put_enrollment({**revoked_payload(completed), **change})
    assert simulator.enrollments[COMPLETION]["completion_status"] == "Completed"


def test_revoking_an_unknown_enrolment_is_an_invalid_reference(
    client: tuple[WorkdayClient, WorkdaySimulator],
) -> None:
    wd, simulator = client
    never_sent = build_payload("W1", "c1", COMPLETION, AT + timedelta(days=1), 0.9)
    with pytest.raises(soap.InvalidReference):
        wd.put_enrollment(revoked_payload(never_sent))
    assert simulator.enrollments == {}


def test_the_verifier_reads_revoked_workday_records_by_the_connector_s_own_status() -> None:
    from connectors.workday import NOT_COMPLETED
    from learnstream.simulate.compare import REVOKED_IN_WORKDAY

    assert REVOKED_IN_WORKDAY == NOT_COMPLETED
