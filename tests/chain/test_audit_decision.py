"""The auditor checks what a handoff says about its decision (checks 10-13), not only its
signature: who decided against the flow's approval policy, the rules hash against the
definition's, the attempt number, and the time against the anchor block's. Each test trips its
check alone and compares the whole list of findings."""

from __future__ import annotations

import pytest

from chain.anchors import Anchor
from chain.audit.case import CLOCK_SKEW_S, verify_case
from chain.audit.evidence import EvidenceItem
from chain.handoff import Handoff, sign
from tests.fixtures.trail import build_trail
from workflows.catalog import get_flow
from workflows.flows import FlowDef

LICENCE = "business_licence"  # the catalog's step in `rules` mode; the others are `instant`


def findings(report) -> list[tuple[str, str | None]]:
    return [(f.check, f.step) for f in report.findings]


def flow_with(step: str, mode: str) -> FlowDef:
    data = get_flow("business_registration").model_dump(mode="json")
    for s in data["steps"]:
        if s["id"] == step:
            s["approval"] = {"mode": mode, "rules": s["approval"]["rules"] if mode == "rules" else []}
    return FlowDef.model_validate(data)


def rules_of(trail, step: str) -> str:
    return FlowDef.model_validate(trail.bundle.flow).step(step).approval.version()


def with_extra(trail, step: str, *, seconds_after: int = 0, **fields) -> tuple:
    """The trail with one more handoff of ``step`` (its fields changed), signed by the step's
    agency and claimed anchored ``seconds_after`` the step's own anchor block."""
    item = next(i for i in trail.bundle.handoffs if i.handoff.record.step == step)
    rec = Handoff.model_validate({**item.handoff.record.model_dump(), **fields})
    signed = sign(rec, trail.keys[rec.agency])
    anchor: Anchor = item.anchor.model_copy(
        update={
            "handoff": signed.hash,
            "block_number": 100,
            "log_index": 1,
            "timestamp": item.anchor.timestamp + seconds_after,
        }
    )
    extra = EvidenceItem(handoff=signed, anchor=anchor)
    return trail.bundle.model_copy(update={"handoffs": [*trail.bundle.handoffs, extra]}), signed


def test_the_issues_forged_licence_gives_a_finding_per_claim():
    # re-signed (by the right key) with an invented rules hash, "rule:anything", attempt 99, 1999
    forged = {
        "rules_version": "sha256:" + "ab" * 32,
        "decided_by": "rule:anything",
        "attempt": 99,
        "time": "1999-01-01T00:00:00.000Z",
    }
    report = verify_case(build_trail(records={LICENCE: forged}).bundle)
    assert findings(report) == [("rules", LICENCE), ("rules", LICENCE), ("attempt", LICENCE), ("time", LICENCE)]
    assert "the bundle's claimed block time" in report.findings[3].message


def test_a_clerk_step_shown_as_decided_by_rule_is_found():
    flow = flow_with(LICENCE, "clerk")
    rules = flow.step(LICENCE).approval.version()
    report = verify_case(build_trail(flow=flow, records={LICENCE: {"decided_by": f"rule:{rules}"}}).bundle)
    assert findings(report) == [("decision", LICENCE)]
    assert "clerk mode" in report.findings[0].message


def test_a_clerk_step_decided_by_its_agencys_clerk_verifies():
    flow = flow_with(LICENCE, "clerk")
    trail = build_trail(flow=flow, records={LICENCE: {"decided_by": "clerk:clerk-market_regulation"}})
    report = verify_case(trail.bundle)
    assert findings(report) == []


def test_a_clerk_of_another_agency_is_found():
    flow = flow_with(LICENCE, "clerk")
    report = verify_case(build_trail(flow=flow, records={LICENCE: {"decided_by": "clerk:clerk-tax"}}).bundle)
    assert findings(report) == [("decision", LICENCE)]
    assert "a clerk of tax" in report.findings[0].message


def test_a_rules_step_may_be_decided_by_a_clerk_when_a_rule_failed():
    trail = build_trail(records={LICENCE: {"decided_by": "clerk:clerk-market_regulation"}})
    assert findings(verify_case(trail.bundle)) == []


def test_an_instant_step_shown_as_decided_by_a_clerk_is_found():
    report = verify_case(build_trail(records={"name_check": {"decided_by": "clerk:clerk-market_regulation"}}).bundle)
    assert findings(report) == [("decision", "name_check")]


@pytest.mark.parametrize(
    ("decided_by", "found"),
    [
        ("rule:", ["decision", "rules"]),  # no rules named, so not the definition's either
        ("oracle:someone", ["decision"]),
        ("applicant:withdrawal", ["decision"]),  # only an undo is the applicant's
        ("clerk:", ["decision"]),
    ],
)
def test_a_decision_by_no_one_the_policy_knows_is_found(decided_by, found):
    report = verify_case(build_trail(records={"name_check": {"decided_by": decided_by}}).bundle)
    assert findings(report) == [(c, "name_check") for c in found]


def test_a_rule_decision_under_other_rules_is_found_even_with_the_right_rules_hash():
    report = verify_case(build_trail(records={LICENCE: {"decided_by": "rule:sha256:" + "00" * 32}}).bundle)
    assert findings(report) == [("rules", LICENCE)]


def test_an_honest_escalation_and_undo_verify():
    trail = build_trail()
    bundle, _ = with_extra(
        trail,
        LICENCE,
        seconds_after=60,
        outcome="escalated",
        decided_by="rule:sla",
        parents=[i.handoff.hash for i in trail.bundle.handoffs if i.handoff.record.step == "name_check"],
    )
    assert findings(verify_case(bundle)) == []
    licence = next(i for i in trail.bundle.handoffs if i.handoff.record.step == LICENCE)
    undone, _ = with_extra(
        trail,
        LICENCE,
        seconds_after=60,
        outcome="compensated",
        decided_by="applicant:withdrawal",
        parents=[licence.handoff.hash],
    )
    assert findings(verify_case(undone)) == []


def test_an_escalation_not_signed_as_by_the_sla_rule_is_found():
    trail = build_trail()
    name_check = [i.handoff.hash for i in trail.bundle.handoffs if i.handoff.record.step == "name_check"]
    bundle, _ = with_extra(
        trail,
        LICENCE,
        seconds_after=60,
        outcome="escalated",
        decided_by="clerk:clerk-market_regulation",
        parents=name_check,
    )
    assert findings(verify_case(bundle)) == [("decision", LICENCE)]


def test_a_rules_hash_not_the_definitions_is_found():
    report = verify_case(build_trail(records={"tax_registration": {"rules_version": "sha256:" + "cd" * 32}}).bundle)
    assert findings(report) == [("rules", "tax_registration")]


@pytest.mark.parametrize("attempt", [0, -1, 2])
def test_an_attempt_the_trail_cannot_explain_is_found(attempt):
    # no rejection in this trail: every step ran once
    report = verify_case(build_trail(records={"seal_approval": {"attempt": attempt}}).bundle)
    assert findings(report) == [("attempt", "seal_approval")]


def test_a_second_attempt_after_a_rejection_verifies():
    trail = build_trail(records={"seal_approval": {"attempt": 2}, "tax_registration": {"attempt": 2}})
    name_check = [i.handoff.hash for i in trail.bundle.handoffs if i.handoff.record.step == "name_check"]
    bundle, _ = with_extra(
        trail,
        LICENCE,
        seconds_after=-1,
        outcome="rejected",
        parents=name_check,
        decided_by="clerk:clerk-market_regulation",
    )
    assert findings(verify_case(bundle)) == []


@pytest.mark.parametrize(
    ("time", "ok"),
    [
        ("2026-11-21T10:05:00.000Z", True),  # within the skew of the anchor block (10:00:01-10:00:05)
        ("2026-11-21T10:06:00.000Z", False),  # after it by more than the skew
        ("2026-11-20T10:00:00.000Z", True),  # the day before: a slow anchor, within a day and the SLA
        ("2026-11-19T10:00:00.000Z", False),  # two days before
        ("yesterday", False),
        ("2026-11-21T10:00:00", False),  # no time zone
    ],
)
def test_the_time_is_checked_against_the_anchor_block(time, ok):
    report = verify_case(build_trail(records={"social_security": {"time": time}}).bundle)
    assert findings(report) == ([] if ok else [("time", "social_security")])
    assert CLOCK_SKEW_S == 300
