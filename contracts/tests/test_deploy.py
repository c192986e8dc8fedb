"""The constructors, and what a fresh deployment answers before anything is registered."""

from contracts.tests.conftest import LICENCE_STEP, MARKET, deploy
from contracts.tests.helpers import EMPTY, ZERO_ADDRESS, agency_id, h, only_event, reverts


def test_registry_deployer_becomes_admin(w3, stranger):
    registry = deploy(w3, "AgencyRegistry", stranger)

    assert registry.functions.admin().call() == stranger
    receipt = w3.eth.get_transaction_receipt(w3.eth.get_block("latest").transactions[0])
    assert only_event(registry, "AdminTransferred", receipt) == {"old_admin": ZERO_ADDRESS, "new_admin": stranger}


def test_fresh_registry_knows_nobody(registry, stranger):
    r = registry.functions
    assert r.agency_of(stranger).call() == EMPTY
    assert r.owner_of_step(LICENCE_STEP).call() == EMPTY
    assert r.is_active(agency_id(MARKET)).call() is False
    assert r.signer_of(agency_id(MARKET)).call() == ZERO_ADDRESS
    assert r.account_of(agency_id(MARKET)).call() == ZERO_ADDRESS
    assert r.name_of(agency_id(MARKET)).call() == ""


def test_ledger_remembers_its_registry(ledger, registry):
    assert ledger.functions.registry().call() == registry.address


def test_fresh_ledger_has_no_anchors(ledger):
    assert ledger.functions.anchored_at(h("handoff")).call() == 0
    assert ledger.functions.batch_anchored_at(h("root")).call() == 0


def test_ledger_refuses_a_registry_that_is_not_a_contract(w3, admin, stranger):
    with reverts("registry is not a contract"):
        deploy(w3, "HandoffLedger", admin, stranger)
