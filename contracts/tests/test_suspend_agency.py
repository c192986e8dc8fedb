from contracts.tests.helpers import agency_id, only_event, reverts, transact


def suspend(registry, sender, agency):
    return transact(registry.functions.suspend_agency(agency), sender)


def test_suspends(registry, admin, market):
    receipt = suspend(registry, admin, market.id)

    assert only_event(registry, "AgencySuspended", receipt) == {"agency": market.id}
    assert registry.functions.is_active(market.id).call() is False
    assert registry.functions.agency_of(market.account).call() == market.id  # still known, just not active


def test_refuses_non_admin(registry, non_admin, market):
    with reverts("caller is not admin"):
        suspend(registry, non_admin, market.id)


def test_refuses_unknown_agency(registry, admin):
    with reverts("unknown agency"):
        suspend(registry, admin, agency_id("nobody"))


def test_refuses_an_agency_already_suspended(registry, admin, market):
    suspend(registry, admin, market.id)
    with reverts("agency already suspended"):
        suspend(registry, admin, market.id)
