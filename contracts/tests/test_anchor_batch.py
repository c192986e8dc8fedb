import pytest

from contracts.tests.helpers import EMPTY, h, only_event, reverts, transact

ROOT = h("merkle root of 8 handoffs")


def anchor_batch(ledger, sender, root=ROOT, count=8):
    return transact(ledger.functions.anchor_batch(root, count), sender)


def test_anchors_a_batch(ledger, market):
    receipt = anchor_batch(ledger, market.account)

    assert only_event(ledger, "BatchAnchored", receipt) == {
        "root": ROOT,
        "agency": market.id,
        "count": 8,
        "account": market.account,
    }
    assert ledger.functions.batch_anchored_at(ROOT).call() == receipt.blockNumber
    assert ledger.functions.anchored_at(ROOT).call() == 0  # a root is not a handoff


def test_an_agency_needs_no_step_to_anchor_a_batch(ledger, registry, admin, market, tax):
    transact(registry.functions.assign_step(tax.step, market.id), admin)  # tax now owns no step
    anchor_batch(ledger, tax.account)


@pytest.mark.parametrize("who", ["stranger", "admin"])
def test_refuses_an_unregistered_account(request, ledger, market, who):
    with reverts("unregistered account"):
        anchor_batch(ledger, request.getfixturevalue(who))


def test_refuses_zero_count(ledger, market):
    with reverts("empty batch"):
        anchor_batch(ledger, market.account, count=0)


def test_refuses_an_empty_root(ledger, market):
    with reverts("empty root"):
        anchor_batch(ledger, market.account, root=EMPTY)


def test_refuses_a_duplicate_batch(ledger, market, tax):
    first = anchor_batch(ledger, market.account)
    with reverts("batch already anchored"):
        anchor_batch(ledger, market.account, count=9)
    with reverts("batch already anchored"):
        anchor_batch(ledger, tax.account)
    assert ledger.functions.batch_anchored_at(ROOT).call() == first.blockNumber


def test_refuses_a_suspended_agency(ledger, registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    with reverts("agency suspended"):
        anchor_batch(ledger, market.account)


def test_a_reinstated_agency_anchors_again(ledger, registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    transact(registry.functions.reinstate_agency(market.id), admin)
    anchor_batch(ledger, market.account)


def test_after_rotation_the_old_account_is_refused_and_the_new_one_accepted(
    ledger, registry, admin, market, spare_account
):
    transact(registry.functions.rotate_account(market.id, spare_account), admin)
    with reverts("unregistered account"):
        anchor_batch(ledger, market.account)

    receipt = anchor_batch(ledger, spare_account)
    assert only_event(ledger, "BatchAnchored", receipt)["account"] == spare_account
