from contracts.tests.helpers import ZERO_ADDRESS, agency_id, only_event, reverts, transact


def transfer(registry, sender, new_admin):
    return transact(registry.functions.transfer_admin(new_admin), sender)


def test_transfers_the_role(registry, admin, stranger):
    receipt = transfer(registry, admin, stranger)

    assert only_event(registry, "AdminTransferred", receipt) == {"old_admin": admin, "new_admin": stranger}
    assert registry.functions.admin().call() == stranger


def test_the_new_admin_administers_and_the_old_one_is_refused(registry, admin, stranger, spare_account):
    transfer(registry, admin, stranger)

    register = registry.functions.register_agency(agency_id("x"), "x", spare_account, spare_account)
    with reverts("caller is not admin"):
        transact(register, admin)
    transact(register, stranger)


def test_refuses_non_admin(registry, non_admin):
    with reverts("caller is not admin"):
        transfer(registry, non_admin, non_admin)


def test_refuses_zero_admin(registry, admin):
    with reverts("zero admin"):
        transfer(registry, admin, ZERO_ADDRESS)
