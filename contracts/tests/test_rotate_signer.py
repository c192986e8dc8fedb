"""rotate_signer schedules a new key from a later block: both keys sign until then, the new one alone after."""

from contracts.tests.conftest import signer_address
from contracts.tests.helpers import ZERO_ADDRESS, agency_id, only_event, reverts, transact

NEW_SIGNER = signer_address("rotated")
NEWER_SIGNER = signer_address("rotated again")


def next_block(w3) -> int:
    """The block the next transaction is mined in (eth-tester mines one block per transaction)."""
    return w3.eth.block_number + 1


def mine_until(w3, tester, block: int) -> None:
    while w3.eth.block_number < block:
        tester.mine_blocks(1)


def rotate(registry, sender, agency, new_signer, effective_block):
    return transact(registry.functions.rotate_signer(agency, new_signer, effective_block), sender)


def signer_at(registry, agency, block: int) -> str:
    """signer_of as a transaction in ``block`` would see it (an eth_call at block N runs in block N)."""
    return registry.functions.signer_of(agency).call(block_identifier=block)


def test_schedules_the_signer_from_its_effective_block(w3, tester, registry, admin, market):
    effective = next_block(w3) + 3
    receipt = rotate(registry, admin, market.id, NEW_SIGNER, effective)

    assert only_event(registry, "SignerRotated", receipt) == {
        "agency": market.id,
        "old_signer": market.signer,
        "new_signer": NEW_SIGNER,
        "effective_block": effective,
    }
    assert registry.functions.signer_schedule(market.id).call() == [market.signer, NEW_SIGNER, effective]
    assert registry.functions.account_of(market.id).call() == market.account
    mine_until(w3, tester, effective)
    assert signer_at(registry, market.id, effective - 1) == market.signer  # the old key signs until then
    assert signer_at(registry, market.id, effective) == NEW_SIGNER  # and the new one alone from then on


def test_the_next_rotation_settles_the_one_that_took_effect(w3, tester, registry, admin, market):
    first = next_block(w3) + 1
    rotate(registry, admin, market.id, NEW_SIGNER, first)
    mine_until(w3, tester, first)
    second = next_block(w3) + 2
    receipt = rotate(registry, admin, market.id, NEWER_SIGNER, second)

    event = only_event(registry, "SignerRotated", receipt)
    assert (event["old_signer"], event["new_signer"]) == (NEW_SIGNER, NEWER_SIGNER)
    assert registry.functions.signer_schedule(market.id).call() == [NEW_SIGNER, NEWER_SIGNER, second]


def test_refuses_a_second_rotation_while_one_is_pending(w3, registry, admin, market):
    rotate(registry, admin, market.id, NEW_SIGNER, next_block(w3) + 10)
    with reverts("rotation already pending"):
        rotate(registry, admin, market.id, NEWER_SIGNER, next_block(w3) + 20)


def test_refuses_an_effective_block_that_is_not_later(w3, registry, admin, market):
    for past_or_now in (0, next_block(w3) - 1, next_block(w3)):
        with reverts("effective block not after the current block"):
            rotate(registry, admin, market.id, NEW_SIGNER, past_or_now)
    assert registry.functions.signer_schedule(market.id).call() == [market.signer, ZERO_ADDRESS, 0]


def test_refuses_non_admin(w3, registry, non_admin, market):
    with reverts("caller is not admin"):
        rotate(registry, non_admin, market.id, NEW_SIGNER, next_block(w3) + 5)


def test_refuses_unknown_agency(w3, registry, admin):
    with reverts("unknown agency"):
        rotate(registry, admin, agency_id("nobody"), NEW_SIGNER, next_block(w3) + 5)


def test_refuses_zero_signer(w3, registry, admin, market):
    with reverts("zero signer"):
        rotate(registry, admin, market.id, ZERO_ADDRESS, next_block(w3) + 5)


def test_refuses_the_current_signer(w3, registry, admin, market):
    with reverts("signer unchanged"):
        rotate(registry, admin, market.id, market.signer, next_block(w3) + 5)
