from contracts.tests.conftest import MARKET, signer_address
from contracts.tests.helpers import ZERO_ADDRESS, agency_id, only_event, reverts, transact

NAME = "civil_registry"


def register(registry, sender, name=NAME, *, agency=None, account, signer=None):
    fn = registry.functions.register_agency(
        agency_id(name) if agency is None else agency, name, account, signer or signer_address(name)
    )
    return transact(fn, sender)


def test_registers_an_active_agency(registry, admin, spare_account):
    receipt = register(registry, admin, account=spare_account)

    aid = agency_id(NAME)
    assert only_event(registry, "AgencyRegistered", receipt) == {
        "agency": aid,
        "name": NAME,
        "account": spare_account,
        "signer": signer_address(NAME),
    }
    r = registry.functions
    assert r.agency_of(spare_account).call() == aid
    assert r.account_of(aid).call() == spare_account
    assert r.signer_of(aid).call() == signer_address(NAME)
    assert r.is_active(aid).call() is True
    assert r.name_of(aid).call() == NAME


def test_name_of_64_bytes_fits(registry, admin, spare_account):
    name = "n" * 64
    register(registry, admin, name, account=spare_account)
    assert registry.functions.name_of(agency_id(name)).call() == name


def test_refuses_non_admin(registry, non_admin, spare_account):
    with reverts("caller is not admin"):
        register(registry, non_admin, account=spare_account)


def test_refuses_a_duplicate_agency(registry, admin, market, spare_account):
    with reverts("agency already registered"):
        register(registry, admin, MARKET, account=spare_account)


def test_refuses_an_account_used_by_another_agency(registry, admin, market):
    with reverts("account already in use"):
        register(registry, admin, account=market.account)


def test_refuses_zero_account(registry, admin):
    with reverts("zero account"):
        register(registry, admin, account=ZERO_ADDRESS)


def test_refuses_zero_signer(registry, admin, spare_account):
    with reverts("zero signer"):
        register(registry, admin, account=spare_account, signer=ZERO_ADDRESS)


def test_refuses_empty_name(registry, admin, spare_account):
    with reverts("empty name"):
        register(registry, admin, "", account=spare_account)


def test_refuses_an_id_that_is_not_the_hash_of_the_name(registry, admin, spare_account):
    with reverts("agency id is not keccak256(name)"):
        register(registry, admin, NAME, agency=agency_id("someone_else"), account=spare_account)
