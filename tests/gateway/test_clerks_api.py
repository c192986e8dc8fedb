"""The clerks' routes in-process (a fake Temporal client): who sees which escalations, and how
the engine's refusal of a decision becomes an HTTP status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from gateway.casework import record_case
from workflows.authority import AuthorityError, Keyring
from workflows.engine import CaseWorkflow
from workflows.messages import DECIDE_UPDATE, Decision, Refusal

SINCE, DEADLINE = "2026-11-21T10:00:00+00:00", "2026-11-21T11:00:00+00:00"


@pytest.fixture
def escalated(in_process_gateway, fake_temporal) -> str:
    """A case whose business licence waits for market regulation past its SLA, as the engine records it."""
    case_id = in_process_gateway.open_case()
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    licence = status.steps[1]
    licence.state, licence.escalated, licence.since, licence.deadline = "awaiting_decision", True, SINCE, DEADLINE
    status.revision = 1
    with in_process_gateway.session() as session:
        record_case(session, status)
    return case_id


def escalations(gw, user: str, agency: str | None = None):
    return gw.http.get("/api/v1/escalations", params={"agency": agency} if agency else {}, headers=gw.login(user))


def test_a_clerk_sees_their_agencys_escalations(in_process_gateway, fake_temporal, escalated):
    company = fake_temporal.started[escalated].application["company"]["name"]
    resp = escalations(in_process_gateway, "clerk-market_regulation")
    assert resp.status_code == 200
    assert resp.json() == [
        {
            "case_id": escalated,
            "title": company,
            "step": "business_licence",
            "state": "awaiting_decision",
            "since": SINCE,
            "deadline": DEADLINE,
        }
    ]
    assert escalations(in_process_gateway, "clerk-tax").json() == []


def test_an_admin_names_the_agency_and_a_clerk_sees_only_their_own(in_process_gateway, escalated):
    assert [e["case_id"] for e in escalations(in_process_gateway, "admin", "market_regulation").json()] == [escalated]
    resp = escalations(in_process_gateway, "clerk-tax", "market_regulation")
    assert (resp.status_code, resp.json()) == (403, {"detail": "clerks see their own agency's escalations"})
    resp = escalations(in_process_gateway, "admin", None)  # as for the queue
    assert resp.status_code == 422  # in the shape of every 422, naming the parameter
    assert [(e["loc"], e["msg"]) for e in resp.json()["detail"]] == [
        (["query", "agency"], "name the agency: ?agency=NAME")
    ]
    assert escalations(in_process_gateway, "applicant").status_code == 403


@pytest.mark.parametrize(
    "refusal,http_status,detail",
    [
        (Refusal.NOT_YOUR_STEP, 403, "refused by the engine"),
        (Refusal.NO_SUCH_STEP, 404, "refused by the engine"),
        (  # in the shape of every 422, naming the field
            Refusal.REASON_REQUIRED,
            422,
            [{"type": "ReasonRequired", "loc": ["body", "reason"], "msg": "refused by the engine", "input": None}],
        ),
        (Refusal.NOT_AWAITING, 409, "refused by the engine"),
        # the engine does not trust this gateway's key: the operator's to mend, not the clerk's
        (Refusal.NO_AUTHORITY, 503, "the workflow engine does not accept this gateway's signature"),
    ],
)
def test_the_engines_refusal_of_a_decision_is_an_http_status(
    in_process_gateway, fake_temporal, escalated, refusal, http_status, detail, tmp_path
):
    fake_temporal.refusals.append(ApplicationError("refused by the engine", type=refusal.value))
    resp = in_process_gateway.http.post(
        f"/api/v1/cases/{escalated}/decision",
        json={"decision": "approve"},
        headers=in_process_gateway.login("clerk-market_regulation"),
    )
    assert (resp.status_code, resp.json()) == (http_status, {"detail": detail})
    case_id, update, decision = fake_temporal.updates[-1]
    assert (case_id, update) == (escalated, DECIDE_UPDATE)
    assert decision.model_copy(update={"authority": None}) == Decision(
        step="business_licence", approve=True, clerk="clerk-market_regulation", clerk_agency="market_regulation"
    )
    # signed by the gateway, with the key the engine is told to trust, for this case and update only
    keyring = Keyring.load(tmp_path / "gateway-keys.json")
    keyring.check(case_id, DECIDE_UPDATE, decision, datetime.now(UTC), set())
    with pytest.raises(AuthorityError):
        keyring.check("BR-20260101-00000000", DECIDE_UPDATE, decision, datetime.now(UTC), set())
