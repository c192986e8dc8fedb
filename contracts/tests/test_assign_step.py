from contracts.tests.helpers import EMPTY, agency_id, only_event, reverts, step_id, transact

STEP = step_id("business_registration", "company_seal")


def assign(registry, sender, step, agency):
    return transact(registry.functions.assign_step(step, agency), sender)


def test_assigns_a_step(registry, admin, market):
    receipt = assign(registry, admin, STEP, market.id)

    assert only_event(registry, "StepAssigned", receipt) == {"step": STEP, "agency": market.id}
    assert registry.functions.owner_of_step(STEP).call() == market.id


def test_reassigns_a_step_to_another_agency(registry, admin, market, tax):
    receipt = assign(registry, admin, market.step, tax.id)

    assert only_event(registry, "StepAssigned", receipt) == {"step": market.step, "agency": tax.id}
    assert registry.functions.owner_of_step(market.step).call() == tax.id


def test_a_suspended_agency_can_own_a_step(registry, admin, market):
    transact(registry.functions.suspend_agency(market.id), admin)
    assign(registry, admin, STEP, market.id)
    assert registry.functions.owner_of_step(STEP).call() == market.id


def test_refuses_non_admin(registry, non_admin, market):
    with reverts("caller is not admin"):
        assign(registry, non_admin, STEP, market.id)


def test_refuses_unknown_agency(registry, admin):
    with reverts("unknown agency"):
        assign(registry, admin, STEP, agency_id("nobody"))


def test_refuses_empty_step(registry, admin, market):
    with reverts("empty step"):
        assign(registry, admin, EMPTY, market.id)
