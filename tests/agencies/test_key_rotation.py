"""An agency's signing key rotated in two phases while its steps are in flight, on the real embedded
ledger: the worker signs with the key the registry takes, a handoff the old key signed before the
new one took over is signed again (same record, same hash, same anchor) rather than refused for
good, and an undo after the rotation undoes what the old key signed."""

from __future__ import annotations

import secrets

import pytest
from eth_account import Account
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agencies.adapter import AgencyActivities, SignedHandoffs
from agencies.keys import AgencyKeys
from agencies.simulated import SimulatedBackend
from chain.client import Sender
from tests.agencies.test_adapter import FLOW, request
from tests.fixtures.stack import application
from workflows.messages import AnchorInput, AnchorSent, CompensateInput, ConfirmInput, SentHandoff

MARKET = "market_regulation"


@pytest.fixture
def fresh(embedded_ledger):
    """Fresh contracts on the same node: the rotations here change the registry."""
    return embedded_ledger.redeploy()


def worker(fresh, tmp_path, keys: AgencyKeys) -> AgencyActivities:
    """The agency's activities as its worker builds them (the journal and back-end in tmp_path,
    shared by every worker of the agency made here: the old one and the restarted one)."""
    ledger = fresh.ledger()
    return AgencyActivities(
        keys,
        SimulatedBackend(MARKET, tmp_path),
        Sender(ledger, keys.account_key),
        SignedHandoffs(tmp_path / f"{MARKET}-journal.db"),
        ledger,
    )


def run(fn, arg):
    return ActivityEnvironment().run(fn, arg)


def rotate(fresh, new_key: bytes, blocks: int) -> int:
    head = fresh.ledger().w3.eth.block_number
    return fresh.admin().rotate_signer(MARKET, Account.from_key(new_key).address, head + blocks)


def mine_until(fresh, block: int) -> None:
    admin = fresh.admin()
    while admin.w3.eth.block_number < block:
        admin.fund(admin.address, 1)


def accepted_at_anchor(fresh, done) -> bool:
    _, schedule = fresh.ledger().signer_schedule(MARKET, done.anchor.block_number)
    return done.handoff.signer.lower() in schedule.accepted_at(done.anchor.block_number)


def test_in_the_window_both_keys_anchor_and_the_worker_with_both_signs_with_the_registered_one(fresh, tmp_path):
    old = fresh.keys[MARKET]
    new = old.rotated(secrets.token_bytes(32))
    app = application()
    # the new key file before the chain knows the key: the worker signs with the old key still
    early = run(worker(fresh, tmp_path, new).perform_step, request("name_check", "R-1", app))
    assert early.handoff.signer == old.signer
    effective = rotate(fresh, new.signing_key, 30)
    by_old = run(worker(fresh, tmp_path, old).perform_step, request("name_check", "R-2", application()))
    by_new = run(worker(fresh, tmp_path, new).perform_step, request("name_check", "R-3", application()))
    assert (by_old.handoff.signer, by_new.handoff.signer) == (old.signer, new.signer)
    for done in (early, by_old, by_new):
        assert done.anchor.block_number < effective and accepted_at_anchor(fresh, done)


def test_a_handoff_the_old_key_signed_in_flight_is_signed_again_once_the_new_key_took_over(fresh, tmp_path):
    old = fresh.keys[MARKET]
    new = old.rotated(secrets.token_bytes(32))
    req = request("name_check", "R-4", application())
    journalled = run(worker(fresh, tmp_path, old).execute_step, req)  # signed and journalled, not anchored
    mine_until(fresh, rotate(fresh, new.signing_key, 3))

    with pytest.raises(ApplicationError) as refused:  # the old worker, still running: retried, not failed
        run(worker(fresh, tmp_path, old).perform_step, req)
    assert refused.value.type == "SignerRetired" and not refused.value.non_retryable

    done = run(worker(fresh, tmp_path, new).perform_step, req)  # the retry, on the restarted worker
    assert done.handoff.hash == journalled.hash and done.handoff.record == journalled.record
    assert done.handoff.signer == new.signer and done.handoff.verify() == new.signer
    assert accepted_at_anchor(fresh, done)
    assert fresh.ledger().anchors_for_case(done.handoff.record.case) == [done.anchor]  # anchored once
    assert SignedHandoffs(tmp_path / f"{MARKET}-journal.db").get(req.key) == done.handoff
    assert run(worker(fresh, tmp_path, new).perform_step, req) == done  # and a later retry returns it


def test_a_withdrawal_after_the_rotation_undoes_what_the_old_key_signed(fresh, tmp_path):
    old = fresh.keys[MARKET]
    new = old.rotated(secrets.token_bytes(32))
    req = request("name_check", "R-5", application())
    name = run(worker(fresh, tmp_path, old).perform_step, req)
    mine_until(fresh, rotate(fresh, new.signing_key, 3))
    undo = CompensateInput(
        key="R-5/undo/name_check",
        case_id="R-5",
        action="release_name",
        handoff=name.handoff,
        application=req.application,
        reason="premises fell through",
    )
    undone = run(worker(fresh, tmp_path, new).undo_step, undo)
    assert undone.handoff.record.outcome == "compensated" and undone.handoff.record.parents == [name.handoff.hash]
    assert undone.handoff.signer == new.signer and accepted_at_anchor(fresh, undone)
    stranger = AgencyKeys(MARKET, secrets.token_bytes(32), old.account_key)  # not a key the agency ever had
    with pytest.raises(ApplicationError, match="undoes only what it signed itself"):
        run(worker(fresh, tmp_path / "other", stranger).undo_step, undo.model_copy(update={"key": "R-5/undo/2"}))


def test_the_key_file_keeps_the_retired_keys(tmp_path):
    keys = AgencyKeys.generate(MARKET)
    rotated = keys.rotated(secrets.token_bytes(32)).rotated(secrets.token_bytes(32))
    rotated.save(tmp_path / "k.json")
    again = AgencyKeys.load(tmp_path / "k.json")
    assert again == rotated and list(again.signing_keys.values())[-1] == keys.signing_key
    keys.save(tmp_path / "plain.json")  # a file without retired keys reads as before
    assert AgencyKeys.load(tmp_path / "plain.json") == keys


def test_a_worker_learns_of_a_rotation_from_the_registrys_events_in_the_anchors_range(fresh):
    """The check after anchoring reads the schedule again only when a SignerRotated event of the
    agency lies between the schedule it knows and the anchor's block (one indexed log query)."""
    ledger = fresh.ledger()
    before = ledger.w3.eth.block_number
    rotate(fresh, secrets.token_bytes(32), 5)
    rotated_in = ledger.w3.eth.block_number
    mine_until(fresh, rotated_in + 2)
    assert ledger.signer_changed(MARKET, before, rotated_in) is True
    assert ledger.signer_changed(MARKET, before, rotated_in + 2) is True
    assert ledger.signer_changed(MARKET, rotated_in, rotated_in + 2) is False  # after it
    assert ledger.signer_changed(MARKET, before - 1, before) is False  # before it
    assert ledger.signer_changed("tax", before, rotated_in + 2) is False  # another agency's keys
    assert ledger.signer_changed(MARKET, rotated_in, rotated_in) is False  # an empty range


class CountingRegistry:
    """The real registry, counting the full schedule reads the worker makes."""

    def __init__(self, ledger):
        self.ledger, self.reads = ledger, 0

    def signer_schedule(self, agency, block=None):
        self.reads += 1
        return self.ledger.signer_schedule(agency, block)

    def signer_changed(self, agency, after_block, through_block):
        return self.ledger.signer_changed(agency, after_block, through_block)

    def signer_rotations(self, after_block, through_block):
        return self.ledger.signer_rotations(after_block, through_block)


def test_the_schedule_is_read_once_and_again_only_after_a_rotation(fresh, tmp_path):
    """Each anchor's rotation check (one log query) carries the schedule forward to its block, so a
    worker reads the whole schedule once, not every few seconds; a rotation makes it read again,
    after which the worker holding the new key signs with it."""
    old = fresh.keys[MARKET]
    new = old.rotated(secrets.token_bytes(32))
    acts = worker(fresh, tmp_path, new)  # holds both keys: signs with whichever the registry takes
    acts.registry = registry = CountingRegistry(fresh.ledger())
    for n in range(3):
        done = run(acts.perform_step, request("name_check", f"S-{n}", application()))
        assert done.handoff.signer == old.signer and accepted_at_anchor(fresh, done)
    assert registry.reads == 1
    mine_until(fresh, rotate(fresh, new.signing_key, 3))
    first = run(acts.perform_step, request("name_check", "S-3", application()))
    assert registry.reads == 2 and accepted_at_anchor(fresh, first)  # the check saw the rotation: read again
    then = run(acts.perform_step, request("name_check", "S-4", application()))
    assert then.handoff.signer == new.signer and accepted_at_anchor(fresh, then) and registry.reads == 2


def test_a_handoff_sent_in_flight_across_a_rotation_is_confirmed_as_one_to_sign_again(fresh, tmp_path):
    """Sent without waiting for its block (the engine's generation 3), a handoff the old key signed
    lands after the new key took over: another agency's confirmation says so, and the agency signs
    the same record again (the same hash, the same anchor)."""
    old = fresh.keys[MARKET]
    new = old.rotated(secrets.token_bytes(32))
    req = request("name_check", "R-9", application())
    journalled = run(worker(fresh, tmp_path, old).execute_step, req)
    mine_until(fresh, rotate(fresh, new.signing_key, 3))
    ledger = fresh.ledger()
    tx = Sender(ledger, old.account_key).send_anchor(journalled.hash, FLOW.name, "name_check", journalled.record.case)
    tax_keys = fresh.keys["tax"]
    tax = AgencyActivities(
        tax_keys,
        SimulatedBackend("tax", tmp_path),
        Sender(ledger, tax_keys.account_key),
        SignedHandoffs(tmp_path / "tax-journal.db"),
        ledger,
    )

    def confirmed(handoff):
        sent = AnchorSent.of(SentHandoff(handoff=handoff, key=req.key, tx=tx))
        (confirmation,) = run(tax.confirm_anchors, ConfirmInput(case_id="R-9", sent=[sent]))
        return confirmation

    first = confirmed(journalled)
    assert first.problem == "resign" and first.anchor == ledger.anchor_of(journalled.hash)
    again = AnchorInput(flow=FLOW.name, step="name_check", handoff=journalled, key=req.key)
    done = run(worker(fresh, tmp_path, new).anchor_signed, again)
    assert done.handoff.hash == journalled.hash and done.handoff.record == journalled.record
    assert done.handoff.signer == new.signer and done.anchor == first.anchor and accepted_at_anchor(fresh, done)
    assert confirmed(done.handoff).problem is None
