import pytest

from contracts.tests.helpers import EMPTY, h, only_event, reverts, step_id, transact

HANDOFF = h("handoff: business licence granted")
CASE = h("case commitment: salted case reference")


def anchor(ledger, sender, step, handoff=HANDOFF, case=CASE):
    return transact(ledger.functions.anchor(handoff, step, case), sender)


def test_anchors_a_handoff(ledger, market):
    receipt = anchor(ledger, market.account, market.step)

    assert only_event(ledger, "HandoffAnchored", receipt) == {
        "handoff": HANDOFF,
        "agency": market.id,
        "case_commitment": CASE,
        "step": market.step,
        "account": market.account,
    }
    assert ledger.functions.anchored_at(HANDOFF).call() == receipt.blockNumber


def test_anchors_of_a_case_are_found_by_its_commitment(ledger, market, tax):
    anchor(ledger, market.account, market.step, h("licence"))
    anchor(ledger, tax.account, tax.step, h("tax number"))
    anchor(ledger, tax.account, tax.step, h("another case"), h("another commitment"))

    logs = ledger.events.HandoffAnchored().get_logs(argument_filters={"case_commitment": CASE}, from_block=0)
    assert [(log.args.handoff, log.args.agency) for log in logs] == [
        (h("licence"), market.id),
        (h("tax number"), tax.id),
    ]


@pytest.mark.parametrize("who", ["stranger", "admin"])
def test_refuses_an_unregistered_account(request, ledger, market, who):
    with reverts("unregistered account"):
        anchor(ledger, request.getfixturevalue(who), market.step)


def test_refuses_a_step_owned_by_another_agency(ledger, market, tax):
    with reverts("step owned by another agency"):
        anchor(ledger, market.account, tax.step)


def test_refuses_a_step_nobody_owns(ledger, market):
    with reverts("step not assigned"):
        anchor(ledger, market.account, step_id("business_registration", "unassigned"))


def test_refuses_the_previous_owner_of_a_reassigned_step(ledger, registry, admin, market, tax):
    transact(registry.functions.assign_step(market.step, tax.id), admin)
    with reverts("step owned by another agency"):
        anchor(ledger, market.account, market.step)
    anchor(ledger, tax.account, market.step)


def test_refuses_a_duplicate_anchor(ledger, market):
    first = anchor(ledger, market.account, market.step)
    with reverts("handoff already anchored"):
        anchor(ledger, market.account, market.step, case=h("a different case"))
    assert ledger.functions.anchored_at(HANDOFF).call() == first.blockNumber


def test_refuses_a_handoff_anchored_by_another_agency(ledger, market, tax):
    anchor(ledger, market.account, market.step)
    with reverts("handoff already anchored"):
        anchor(ledger, tax.account, tax.step)


def test_refuses_an_empty_handoff(ledger, market):
    with reverts("empty handoff"):
        anchor(ledger, market.account, market.step, EMPTY)


def test_refuses_a_suspended_agency(ledger, registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    with reverts("agency suspended"):
        anchor(ledger, market.account, market.step)


def test_a_reinstated_agency_anchors_again(ledger, registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    transact(registry.functions.reinstate_agency(market.id), admin)
    receipt = anchor(ledger, market.account, market.step)
    assert ledger.functions.anchored_at(HANDOFF).call() == receipt.blockNumber


def test_after_rotation_the_old_account_is_refused_and_the_new_one_accepted(
    ledger, registry, admin, market, spare_account
):
    transact(registry.functions.rotate_account(market.id, spare_account), admin)
    with reverts("unregistered account"):
        anchor(ledger, market.account, market.step)

    receipt = anchor(ledger, spare_account, market.step)
    assert only_event(ledger, "HandoffAnchored", receipt)["account"] == spare_account
    assert only_event(ledger, "HandoffAnchored", receipt)["agency"] == market.id
