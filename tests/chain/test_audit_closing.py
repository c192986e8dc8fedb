"""(14) closing: a closed case's trail ends in its lead agency's closing record, which names every
other handoff; a bundle cut short, padded, or closed by the wrong hand is found, and a bundle
without one says the case is open. Each test compares the whole list of findings."""

from __future__ import annotations

from chain.audit.case import verify_case
from tests.chain.test_audit_offline import checks, with_item
from tests.fixtures.trail import closed


def without(bundle, step: str):
    return bundle.model_copy(update={"handoffs": [i for i in bundle.handoffs if i.handoff.record.step != step]})


def test_a_closed_trail_is_valid_and_says_how_it_ended(trail):
    report = verify_case(closed(trail, "withdrawn"))
    assert (checks(report), report.ok, report.closed, report.handoffs) == ([], True, "withdrawn", 6)


def test_a_trail_without_a_closing_record_is_open(trail):
    report = verify_case(trail.bundle)
    assert (checks(report), report.ok, report.closed) == ([], True, None)


def test_a_closed_trail_cut_short_is_found_offline(trail):
    bundle = closed(trail)
    missing = next(i.handoff.hash for i in bundle.handoffs if i.handoff.record.step == "tax_registration")
    report = verify_case(without(bundle, "tax_registration"))  # a leaf: no other record names it
    assert checks(report) == [("closing", None)]
    assert report.findings[0].handoff == missing and "missing from the trail" in report.findings[0].message
    assert report.closed == "completed"


def test_a_handoff_added_after_the_close_is_found(trail):
    trail.bundle = closed(trail)
    name_check = [i.handoff.hash for i in trail.bundle.handoffs if i.handoff.record.step == "name_check"]
    report = verify_case(
        with_item(trail, "business_licence", outcome="escalated", decided_by="rule:sla", parents=name_check)
    )
    assert checks(report) == [("closing", "business_licence"), ("closing", "business_licence")]
    assert ["does not name" in f.message for f in report.findings] == [True, False]


def test_two_closing_records_are_found(trail):
    once = closed(trail)
    twice = once.model_copy(update={"handoffs": [*once.handoffs, once.handoffs[-1]]})
    assert checks(verify_case(twice)) == [("complete", "_closing"), ("closing", "_closing")]


def test_a_closing_record_signed_by_another_agency_is_found(trail):
    assert checks(verify_case(closed(trail, agency="tax"))) == [("flow", "_closing")]


def test_a_closing_record_decided_by_anything_but_the_engine_is_found(trail):
    assert checks(verify_case(closed(trail, decided_by="rule:sha256:00"))) == [("decision", "_closing")]


def test_a_closing_record_with_another_rules_hash_is_found(trail):
    assert checks(verify_case(closed(trail, rules_version="sha256:00"))) == [("rules", "_closing")]


def test_an_ordinary_step_cannot_claim_to_close_the_case(trail):
    report = verify_case(with_item(trail, "tax_registration", outcome="closed"))
    assert (checks(report), report.closed) == ([("decision", "tax_registration")], None)


def test_a_closing_record_that_names_no_trail_is_found(trail):
    report = verify_case(closed(trail, outputs={"state": "completed", "trail": "everything"}))
    assert (checks(report), report.closed) == ([("closing", "_closing")], None)
