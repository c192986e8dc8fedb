"""``anchor_after``: a handoff anchored only once every handoff it names is anchored (a case's
closing record sent while its steps' anchors are still pending never goes before them)."""

import pytest
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import ContractLogicError

from contracts.tests.helpers import h, only_event, reverts, transact

CASE = h("case commitment: salted case reference")
CLOSING = h("handoff: the case's closing record")


def anchor(ledger, agency, handoff):
    return transact(ledger.functions.anchor(handoff, agency.step, CASE), agency.account)


def anchor_after(ledger, agency, after, handoff=CLOSING):
    return transact(ledger.functions.anchor_after(handoff, agency.step, CASE, after), agency.account)


def test_anchors_after_the_handoffs_it_names_whoever_anchored_them(ledger, market, tax):
    anchor(ledger, market, h("licence"))
    anchor(ledger, tax, h("tax number"))

    receipt = anchor_after(ledger, market, [h("licence"), h("tax number")])

    assert only_event(ledger, "HandoffAnchored", receipt) == {
        "handoff": CLOSING,
        "agency": market.id,
        "case_commitment": CASE,
        "step": market.step,
        "account": market.account,
    }
    assert ledger.functions.anchored_at(CLOSING).call() == receipt.blockNumber


def test_with_nothing_to_follow_it_is_a_plain_anchor(ledger, market):
    receipt = anchor_after(ledger, market, [])
    assert ledger.functions.anchored_at(CLOSING).call() == receipt.blockNumber


@pytest.mark.parametrize("missing", [0, 1, 2])
def test_refuses_while_any_handoff_it_follows_is_not_anchored(ledger, market, tax, missing):
    named = [h("licence"), h("tax number"), h("seal")]
    for i, handoff in enumerate(named):
        if i != missing:
            anchor(ledger, tax if i == 1 else market, handoff)

    with reverts("a handoff it follows is not anchored"):
        anchor_after(ledger, market, named)
    assert ledger.functions.anchored_at(CLOSING).call() == 0

    anchor(ledger, tax if missing == 1 else market, named[missing])  # once it is, the order holds
    receipt = anchor_after(ledger, market, named)
    assert ledger.functions.anchored_at(CLOSING).call() == receipt.blockNumber


def test_a_batch_root_is_not_a_handoff_to_follow(ledger, market):
    transact(ledger.functions.anchor_batch(h("root"), 2), market.account)
    with reverts("a handoff it follows is not anchored"):
        anchor_after(ledger, market, [h("root")])


def test_keeps_every_check_of_a_plain_anchor(ledger, registry, admin, market, tax):
    anchor(ledger, market, h("licence"))
    with reverts("step owned by another agency"):
        transact(ledger.functions.anchor_after(CLOSING, tax.step, CASE, [h("licence")]), market.account)
    with reverts("unregistered account"):
        transact(ledger.functions.anchor_after(CLOSING, market.step, CASE, [h("licence")]), admin)
    with reverts("handoff already anchored"):
        anchor_after(ledger, market, [h("licence")], handoff=h("licence"))
    transact(registry.functions.suspend_agency(market.id), admin)
    with reverts("agency suspended"):
        anchor_after(ledger, market, [h("licence")])


def test_names_at_most_64_handoffs(ledger, market):
    named = [h(f"step {i}") for i in range(65)]
    for handoff in named[:64]:
        anchor(ledger, market, handoff)
    anchor_after(ledger, market, named[:64])
    with pytest.raises((TransactionFailed, ContractLogicError)):  # past the ABI's bound: it does not decode
        anchor_after(ledger, market, named, handoff=h("another closing"))
    assert ledger.functions.anchored_at(h("another closing")).call() == 0
