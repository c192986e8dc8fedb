from contracts.tests.conftest import signer_address
from contracts.tests.helpers import ZERO_ADDRESS, agency_id, only_event, reverts, transact

NEW_SIGNER = signer_address("rotated")


def rotate(registry, sender, agency, new_signer):
    return transact(registry.functions.rotate_signer(agency, new_signer), sender)


def test_replaces_the_signer(registry, admin, market):
    receipt = rotate(registry, admin, market.id, NEW_SIGNER)

    assert only_event(registry, "SignerRotated", receipt) == {
        "agency": market.id,
        "old_signer": market.signer,
        "new_signer": NEW_SIGNER,
    }
    assert registry.functions.signer_of(market.id).call() == NEW_SIGNER
    assert registry.functions.account_of(market.id).call() == market.account


def test_refuses_non_admin(registry, non_admin, market):
    with reverts("caller is not admin"):
        rotate(registry, non_admin, market.id, NEW_SIGNER)


def test_refuses_unknown_agency(registry, admin):
    with reverts("unknown agency"):
        rotate(registry, admin, agency_id("nobody"), NEW_SIGNER)


def test_refuses_zero_signer(registry, admin, market):
    with reverts("zero signer"):
        rotate(registry, admin, market.id, ZERO_ADDRESS)


def test_refuses_the_current_signer(registry, admin, market):
    with reverts("signer unchanged"):
        rotate(registry, admin, market.id, market.signer)
