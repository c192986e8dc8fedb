import pytest

from contracts.tests.helpers import agency_id, only_event, reverts, transact


@pytest.fixture
def suspended(registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    return market


def reinstate(registry, sender, agency):
    return transact(registry.functions.reinstate_agency(agency), sender)


def test_reinstates(registry, admin, suspended):
    receipt = reinstate(registry, admin, suspended.id)

    assert only_event(registry, "AgencyReinstated", receipt) == {"agency": suspended.id}
    assert registry.functions.is_active(suspended.id).call() is True


def test_refuses_non_admin(registry, non_admin, suspended):
    with reverts("caller is not admin"):
        reinstate(registry, non_admin, suspended.id)


def test_refuses_unknown_agency(registry, admin):
    with reverts("unknown agency"):
        reinstate(registry, admin, agency_id("nobody"))


def test_refuses_an_active_agency(registry, admin, market):
    with reverts("agency not suspended"):
        reinstate(registry, admin, market.id)
