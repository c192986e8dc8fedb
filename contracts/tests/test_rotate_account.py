from contracts.tests.helpers import EMPTY, ZERO_ADDRESS, agency_id, only_event, reverts, transact


def rotate(registry, sender, agency, new_account):
    return transact(registry.functions.rotate_account(agency, new_account), sender)


def test_moves_the_agency_to_the_new_account(registry, admin, market, spare_account):
    receipt = rotate(registry, admin, market.id, spare_account)

    assert only_event(registry, "AccountRotated", receipt) == {
        "agency": market.id,
        "old_account": market.account,
        "new_account": spare_account,
    }
    r = registry.functions
    assert r.account_of(market.id).call() == spare_account
    assert r.agency_of(spare_account).call() == market.id
    assert r.agency_of(market.account).call() == EMPTY
    assert r.signer_of(market.id).call() == market.signer  # the signing key is a separate rotation


def test_the_old_account_is_free_for_another_agency(registry, admin, market, spare_account):
    rotate(registry, admin, market.id, spare_account)
    transact(registry.functions.register_agency(agency_id("other"), "other", market.account, market.signer), admin)
    assert registry.functions.agency_of(market.account).call() == agency_id("other")


def test_refuses_non_admin(registry, non_admin, market, spare_account):
    with reverts("caller is not admin"):
        rotate(registry, non_admin, market.id, spare_account)


def test_refuses_unknown_agency(registry, admin, spare_account):
    with reverts("unknown agency"):
        rotate(registry, admin, agency_id("nobody"), spare_account)


def test_refuses_zero_account(registry, admin, market):
    with reverts("zero account"):
        rotate(registry, admin, market.id, ZERO_ADDRESS)


def test_refuses_an_account_used_by_another_agency(registry, admin, market, tax):
    with reverts("account already in use"):
        rotate(registry, admin, market.id, tax.account)


def test_refuses_the_current_account(registry, admin, market):
    with reverts("account already in use"):
        rotate(registry, admin, market.id, market.account)
