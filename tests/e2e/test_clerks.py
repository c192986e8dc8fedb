"""Clerks in the loop on the real stack: queue, decide, the decision in the verified trail;
applicants correct and withdraw."""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.http import loopback
from tests.fixtures.stack import EXAMPLE, application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
REVIEW = EXAMPLE.with_name("registration-review.json")


def review_application() -> dict:
    app = json.loads(REVIEW.read_text(encoding="utf-8"))
    app["company"]["name"] = application()["company"]["name"].replace("信息科技", "食品销售")
    return app


def wait_for(stack, case_id: str, predicate, timeout: float = 300) -> dict:  # a hang guard, not a window
    deadline = time.monotonic() + timeout
    while True:
        case = json.loads(stack.cli_in_process("status", case_id, "--url", stack.url, "--json", check=True).stdout)
        if predicate(case):
            return case
        assert time.monotonic() < deadline, (
            f"case never got there: {case['status']} {[s['state'] for s in case['steps']]}"
        )
        time.sleep(0.3)


def step(case: dict, name: str) -> dict:
    return next(s for s in case["steps"] if s["step"] == name)


@pytest.fixture
def awaiting(stack, tmp_path) -> dict:
    """A case whose licence waits for a market-regulation clerk."""
    result = stack.cli_in_process(
        "apply", str(write_application(tmp_path, review_application())), "--url", stack.url, "--json"
    )
    case = json.loads(result.stdout)
    return wait_for(stack, case["case_id"], lambda c: step(c, "business_licence")["state"] == "awaiting_decision")


def test_the_review_example_needs_a_clerk_and_shows_in_the_queue(stack, tmp_path):
    first = json.loads(stack.cli("apply", str(REVIEW), "--url", stack.url, "--json", check=True).stdout)
    case = wait_for(stack, first["case_id"], lambda c: step(c, "business_licence")["state"] == "awaiting_decision")
    licence = step(case, "business_licence")
    assert licence["state"] == "awaiting_decision" and any("食品" in r for r in licence["review_reasons"])
    queue = json.loads(
        stack.cli("queue", "--agency", "market_regulation", "--url", stack.url, "--json", check=True).stdout
    )
    assert any(i["case_id"] == case["case_id"] and i["step"] == "business_licence" for i in queue)
    deadlines = [i["deadline"] for i in queue]
    assert deadlines == sorted(deadlines)  # nearest SLA first


def test_a_clerk_approves_and_the_decision_is_in_the_verified_trail(stack, awaiting):
    case_id = awaiting["case_id"]
    out = stack.cli("decide", case_id, "approve", "--url", stack.url, "--agency", "market_regulation", check=True)
    assert "approved by clerk-market_regulation" in out.stdout
    done = wait_for(stack, case_id, lambda c: c["status"] == "completed")
    assert step(done, "business_licence")["decided_by"] == "clerk:clerk-market_regulation"
    evidence = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor")).json()
    licence = next(i for i in evidence["handoffs"] if i["handoff"]["record"]["step"] == "business_licence")
    assert licence["handoff"]["record"]["decided_by"] == "clerk:clerk-market_regulation"
    assert stack.cli_in_process("audit", "verify", case_id, "--url", stack.url).returncode == 0
    queue = json.loads(
        stack.cli_in_process("queue", "--agency", "market_regulation", "--url", stack.url, "--json").stdout
    )
    assert case_id not in [i["case_id"] for i in queue]


def test_who_may_not_decide_gets_a_clear_refusal(stack, awaiting):
    case_id = awaiting["case_id"]
    other = stack.cli_in_process("decide", case_id, "approve", "--url", stack.url, "--agency", "tax")
    assert other.returncode == 1 and "no step of tax awaits a decision" in other.stderr
    no_reason = stack.cli_in_process("decide", case_id, "reject", "--url", stack.url, "--agency", "market_regulation")
    assert no_reason.returncode == 2 and "needs --reason" in no_reason.stderr
    as_applicant = stack.cli_in_process("decide", case_id, "approve", "--url", stack.url, "--user", "applicant")
    assert as_applicant.returncode == 1 and "needs the role clerk" in as_applicant.stderr
    forged = loopback.post(
        f"{stack.url}/api/v1/cases/{case_id}/decision",
        json={"decision": "approve", "step": "business_licence"},
        headers=stack.token("clerk-tax"),
    )
    assert forged.status_code == 403 and "only a clerk of market_regulation" in forged.json()["detail"]
    case = json.loads(stack.cli_in_process("status", case_id, "--url", stack.url, "--json").stdout)
    assert step(case, "business_licence")["state"] == "awaiting_decision"


def test_a_rejection_returns_the_case_and_a_correction_completes_it(stack, awaiting, tmp_path):
    case_id = awaiting["case_id"]
    stack.cli_in_process(
        "decide",
        case_id,
        "reject",
        "--reason",
        "upload the food business permit",
        "--url",
        stack.url,
        "--agency",
        "market_regulation",
        check=True,
    )
    returned = wait_for(stack, case_id, lambda c: c["status"] == "returned")
    assert "upload the food business permit" in returned["reason"]
    fixed = review_application()
    fixed["company"]["business_scope"] = "日用百货销售"  # no longer a licensed activity: instant approval
    fixed["company"]["name"] = awaiting["company_name"]
    stack.cli("correct", case_id, str(write_application(tmp_path, fixed)), "--url", stack.url, check=True)
    done = wait_for(stack, case_id, lambda c: c["status"] == "completed")
    assert step(done, "business_licence")["attempt"] == 2
    assert stack.cli_in_process("audit", "verify", case_id, "--url", stack.url).returncode == 0


def test_withdrawal_undoes_what_was_done_and_the_trail_still_verifies(stack, awaiting):
    case_id = awaiting["case_id"]
    stack.cli("withdraw", case_id, "--reason", "premises fell through", "--url", stack.url, check=True)
    done = wait_for(stack, case_id, lambda c: c["status"] == "withdrawn")
    assert step(done, "name_check")["state"] == "compensated"
    evidence = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor")).json()
    outcomes = [i["handoff"]["record"]["outcome"] for i in evidence["handoffs"]]
    assert outcomes == ["completed", "compensated", "closed"]
    assert evidence["handoffs"][-1]["handoff"]["record"]["outputs"]["state"] == "withdrawn"
    assert stack.cli_in_process("audit", "verify", case_id, "--url", stack.url).returncode == 0
    again = stack.cli_in_process("withdraw", case_id, "--reason", "twice", "--url", stack.url)
    assert again.returncode == 1 and "closed" in again.stderr
