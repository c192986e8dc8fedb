"""The ledger client's test suite, written once and run against every backend (after web3.py's
``_utils/module_testing``): a backend's module subclasses ``LedgerSuite`` and provides the fixture
``deployed``, a DeployedLedger whose registry this suite may not change (tests that change the
registry take ``deployed.redeploy()``: fresh contracts on the same node)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import rlp
from eth_hash.auto import keccak

from chain.anchors import SignerSchedule
from chain.audit.case import verify_case
from chain.audit.proofs import anchored_at_slot, verify_account_proof, verify_storage_proof
from chain.client import ADMIN_GAS, Sender
from chain.errors import AnchorRefused, VerificationError
from chain.handoff import agency_id, case_commitment, new_salt, step_id
from tests.chain.mpt_walk import MissingNode, mpt_get
from tests.fixtures.onchain_trail import FLOW, OnChainTrail
from workflows.catalog import get_flow


def fresh_hash() -> str:
    return case_commitment("x", new_salt())


def step_hex(step: str) -> str:
    return "0x" + step_id(FLOW, step).hex()


QUANTITY = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")
DATA32 = re.compile(r"^0x[0-9a-f]{64}$")
NODE = re.compile(r"^0x([0-9a-f]{2})+$")


def get_proof(deployed, address: str, slots: list[int], block: int) -> dict:
    """eth_getProof's answer as JSON, untouched by web3's formatters (keys as 32-byte data, as
    anvil requires them)."""
    keys = ["0x" + s.to_bytes(32, "big").hex() for s in slots]
    response = deployed.ledger().w3.provider.make_request("eth_getProof", [address, keys, hex(block)])
    assert "error" not in response, response
    return response["result"]


def state_root(deployed, block: int) -> bytes:
    return bytes(deployed.ledger().w3.eth.get_block(block)["stateRoot"])


def check_eip1186_shape(answer: dict, address: str, slots: list[int]) -> None:
    """Field by field as geth and anvil answer: lower-case hex, quantities without leading
    zeros, 32-byte hashes, keys echoed as given."""
    assert set(answer) == {"address", "balance", "codeHash", "nonce", "storageHash", "accountProof", "storageProof"}
    assert answer["address"] == address.lower()
    assert QUANTITY.match(answer["balance"]) and QUANTITY.match(answer["nonce"])
    assert DATA32.match(answer["codeHash"]) and DATA32.match(answer["storageHash"])
    assert answer["accountProof"] and all(NODE.match(n) for n in answer["accountProof"])
    assert [e["key"] for e in answer["storageProof"]] == ["0x" + s.to_bytes(32, "big").hex() for s in slots]
    for entry in answer["storageProof"]:
        assert set(entry) == {"key", "value", "proof"} and QUANTITY.match(entry["value"])
        assert entry["proof"] and all(NODE.match(n) for n in entry["proof"])


def walk_by_hand(root: bytes, address: str, slot: int, answer: dict) -> tuple[list, int]:
    """The account leaf and the slot's value, from the proofs with the hand-written walker."""

    def nodes(hexes: list[str]) -> list[bytes]:
        return [bytes.fromhex(n[2:]) for n in hexes]

    leaf = mpt_get(root, keccak(bytes.fromhex(address[2:])), nodes(answer["accountProof"]))
    nonce, balance, storage_root, code_hash = rlp.decode(leaf)
    entry = next(e for e in answer["storageProof"] if int(e["key"], 16) == slot)
    raw = mpt_get(storage_root, keccak(slot.to_bytes(32, "big")), nodes(entry["proof"]))
    return [nonce, balance, storage_root, code_hash], (rlp.decode(raw, sedes=rlp.sedes.big_endian_int) if raw else 0)


def flip(node: str, at: int) -> str:
    raw = bytearray.fromhex(node[2:])
    raw[at % len(raw)] ^= 0x01
    return "0x" + raw.hex()


class LedgerSuite:
    # deployment and registration ------------------------------------------------------------
    def test_the_deployment_is_on_this_chain_and_the_ledger_trusts_its_registry(self, deployed):
        ledger = deployed.ledger()
        assert ledger.w3.eth.chain_id == deployed.deployment.chain_id
        assert len(ledger.w3.eth.get_code(deployed.deployment.registry)) > 0
        assert ledger.handoff_ledger.functions.registry().call() == deployed.deployment.registry
        assert 0 < deployed.deployment.block <= ledger.w3.eth.block_number

    def test_each_agency_is_registered_with_its_account_and_signer(self, deployed):
        admin = deployed.admin()
        for name, keys in deployed.keys.items():
            assert admin.agency_record(name) == (keys.account, keys.signer, True)

    def test_each_step_is_owned_by_the_agency_the_flow_names(self, deployed):
        registry = deployed.ledger().agency_registry.functions
        for step in get_flow(FLOW).steps:
            assert registry.owner_of_step(step_id(FLOW, step.id)).call() == agency_id(step.agency)

    def test_registering_is_admin_only_with_the_reason(self, deployed):
        imposter = Sender(deployed.ledger(), deployed.keys["tax"].account_key)
        call = deployed.ledger().agency_registry.functions.rotate_signer(agency_id("tax"), imposter.address, 10**9)
        with pytest.raises(AnchorRefused, match="caller is not admin"):
            imposter.send(call, ADMIN_GAS)

    # anchoring ------------------------------------------------------------------------------
    def test_an_agency_anchors_its_own_step(self, deployed):
        h, case = fresh_hash(), fresh_hash()
        anchor = deployed.sender("tax").anchor(h, FLOW, "tax_registration", case)
        assert (anchor.handoff, anchor.case_commitment, anchor.step) == (h, case, step_hex("tax_registration"))
        assert (anchor.account, anchor.agency) == (deployed.keys["tax"].account, "0x" + agency_id("tax").hex())
        assert deployed.ledger().anchored_at(h) == anchor.block_number > deployed.deployment.block

    def test_another_agencys_step_is_refused_with_the_reason(self, deployed):
        with pytest.raises(AnchorRefused, match="step owned by another agency"):
            deployed.sender("tax").anchor(fresh_hash(), FLOW, "seal_approval", fresh_hash())

    def test_an_unassigned_step_is_refused_with_the_reason(self, deployed):
        with pytest.raises(AnchorRefused, match="step not assigned"):
            deployed.sender("tax").anchor(fresh_hash(), FLOW, "no_such_step", fresh_hash())

    def test_an_unregistered_account_is_refused(self, deployed, outsider):
        with pytest.raises(AnchorRefused, match="unregistered account"):
            Sender(deployed.ledger(), outsider.key).anchor(fresh_hash(), FLOW, "tax_registration", fresh_hash())

    def test_a_duplicate_returns_the_existing_anchor_and_the_contract_refuses_a_second(self, deployed):
        h, case = fresh_hash(), fresh_hash()
        first = deployed.sender("tax").anchor(h, FLOW, "tax_registration", case)
        assert deployed.sender("tax").anchor(h, FLOW, "tax_registration", case) == first  # a retry: no new tx
        raw = deployed.ledger().handoff_ledger.functions.anchor(
            bytes.fromhex(h[2:]), step_id(FLOW, "tax_registration"), bytes.fromhex(case[2:])
        )
        with pytest.raises(AnchorRefused, match="handoff already anchored"):
            deployed.sender("tax").send(raw, 250_000)
        assert [a.handoff for a in deployed.ledger().anchors_for_case(case)] == [h]

    def test_many_anchors_in_flight_from_one_account_all_land(self, deployed):
        sender = deployed.sender("human_resources")
        case = fresh_hash()
        hashes = [fresh_hash() for _ in range(30)]
        with ThreadPoolExecutor(10) as pool:
            anchors = list(pool.map(lambda h: sender.anchor(h, FLOW, "social_security", case), hashes))
        assert sorted(a.handoff for a in anchors) == sorted(hashes)
        assert sorted(a.handoff for a in deployed.ledger().anchors_for_case(case)) == sorted(hashes)

    def test_an_anchor_sent_after_pending_ones_follows_them_and_never_goes_first(self, deployed):
        """``anchor_after``: sent while the anchors it names are pending, it lands after them (the
        same block on a node that seals them together); naming one never sent, it is refused."""
        ledger, case = deployed.ledger(), fresh_hash()
        assert ledger.orders_anchors()
        licence, tax_number, closing = fresh_hash(), fresh_hash(), fresh_hash()
        market, tax = deployed.sender("market_regulation"), deployed.sender("tax")
        sent = [
            market.send_anchor(licence, FLOW, "business_licence", case),
            tax.send_anchor(tax_number, FLOW, "tax_registration", case),
        ]
        last = market.send_anchor_after(closing, FLOW, "name_check", case, [licence, tax_number])
        anchors = [
            ledger.confirm_anchor(tx, h) for tx, h in zip([*sent, last], [licence, tax_number, closing], strict=True)
        ]
        places = [(a.block_number, a.log_index) for a in anchors]
        assert places[2] > max(places[:2])
        never = fresh_hash()
        with pytest.raises(AnchorRefused, match="a handoff it follows is not anchored"):
            ledger.confirm_anchor(market.send_anchor_after(fresh_hash(), FLOW, "name_check", case, [never]), never)
        with pytest.raises(ValueError, match="at most 64"):
            market.send_anchor_after(fresh_hash(), FLOW, "name_check", case, [fresh_hash() for _ in range(65)])

    def test_receipts_are_read_in_one_batch_request(self, deployed):
        sender, case = deployed.sender("tax"), fresh_hash()
        hashes = [fresh_hash() for _ in range(3)]
        txs = [sender.send_anchor(h, FLOW, "tax_registration", case) for h in hashes]
        ledger = deployed.ledger()
        ledger.receipt(txs[-1])  # the last one mined: the others are too (one account's nonces in order)
        unknown = "0x" + "ab" * 32
        receipts = ledger.receipts([*txs, unknown])
        assert [r["transactionHash"] for r in receipts[:3]] == txs and receipts[3] is None
        assert [ledger.anchor_in(r, h).handoff for r, h in zip(receipts, hashes, strict=False)] == hashes
        assert ledger.receipts([]) == []

    # reading anchors back -------------------------------------------------------------------
    def test_anchors_read_back_by_case_in_chain_order_and_by_handoff(self, deployed):
        case = fresh_hash()
        made = [
            deployed.sender("market_regulation").anchor(fresh_hash(), FLOW, "name_check", case),
            deployed.sender("market_regulation").anchor(fresh_hash(), FLOW, "business_licence", case),
            deployed.sender("tax").anchor(fresh_hash(), FLOW, "tax_registration", case),
        ]
        ledger = deployed.ledger()
        assert ledger.anchors_for_case(case) == made
        assert [ledger.anchor_of(a.handoff) for a in made] == made
        assert ledger.anchor_of(fresh_hash()) is None and ledger.anchors_for_case(fresh_hash()) == []
        block = ledger.w3.eth.get_block(made[-1].block_number)
        assert ("0x" + bytes(block["hash"]).hex(), block["timestamp"]) == (made[-1].block_hash, made[-1].timestamp)
        assert {a.handoff for a in made} <= {a.handoff for a in ledger.all_anchors()}

    # the registry's history -----------------------------------------------------------------
    def test_registry_events_tell_each_agencys_account_and_signer(self, deployed):
        events = deployed.ledger().registry_events()
        registered = {e["name"]: e for e in events if e["event"] == "AgencyRegistered"}
        for name, keys in deployed.keys.items():
            assert (registered[name]["account"], registered[name]["signer"]) == (keys.account, keys.signer)
        assigned = {e["step"] for e in events if e["event"] == "StepAssigned"}
        assert step_hex("seal_approval") in assigned

    def test_registry_changes_are_events_in_chain_order(self, deployed, outsider):
        fresh = deployed.redeploy()
        admin = fresh.admin()
        admin.rotate_signer("tax", outsider.address)
        admin.rotate_account("public_security", outsider.address)
        admin.suspend_agency("human_resources")
        changes = [
            (e["event"], e.get("new_signer") or e.get("new_account") or e["agency"])
            for e in fresh.ledger().registry_events()
            if e["event"] in ("SignerRotated", "AccountRotated", "AgencySuspended")
        ]
        assert changes == [
            ("SignerRotated", outsider.address),
            ("AccountRotated", outsider.address),
            ("AgencySuspended", "0x" + agency_id("human_resources").hex()),
        ]
        with pytest.raises(AnchorRefused, match="agency suspended"):
            fresh.sender("human_resources").anchor(fresh_hash(), FLOW, "social_security", fresh_hash())
        with pytest.raises(AnchorRefused, match="unregistered account"):  # its old account
            fresh.sender("public_security").anchor(fresh_hash(), FLOW, "seal_approval", fresh_hash())

    def test_a_signer_rotation_is_scheduled_and_read_back_with_its_effective_block(self, deployed, outsider):
        fresh = deployed.redeploy()
        ledger, old = fresh.ledger(), fresh.keys["tax"].signer
        effective = fresh.admin().rotate_signer("tax", outsider.address)  # by default some blocks ahead
        at, schedule = ledger.signer_schedule("tax")
        assert schedule == SignerSchedule(old, outsider.address, effective) and effective > at
        assert schedule.accepted_at(at) == {old.lower(), outsider.address.lower()}  # both, in the window
        assert schedule.accepted_at(effective) == {outsider.address.lower()}
        rotated = next(e for e in ledger.registry_events() if e["event"] == "SignerRotated")
        assert (rotated["old_signer"], rotated["new_signer"], rotated["effective_block"]) == (
            old,
            outsider.address,
            effective,
        )
        assert ledger.signer_schedule("tax", at - 1)[1] == SignerSchedule(old)  # before it: the old key alone
        tax_id = "0x" + agency_id("tax").hex()
        assert ledger.signer_rotations(at - 1, at) == {(tax_id, at)}  # every agency's, in one log query
        assert ledger.signer_rotations(at - 3, at - 1) == ledger.signer_rotations(at, at) == set()

    # EIP-1186 proofs: the ledger's storage under a block's state root --------------------------
    def test_an_anchor_is_proven_in_the_ledgers_storage_under_its_blocks_state_root(self, deployed):
        h = fresh_hash()
        anchor = deployed.sender("tax").anchor(h, FLOW, "tax_registration", fresh_hash())
        ledger, contract, slot = deployed.ledger(), deployed.deployment.ledger, anchored_at_slot(h)
        # the slot is where Vyper 0.4 keeps _anchored_at[h]: keccak256(pad32(0) ‖ h)
        assert (
            int.from_bytes(ledger.w3.eth.get_storage_at(contract, slot, anchor.block_number), "big")
            == anchor.block_number
        )
        answer = get_proof(deployed, contract, [slot], anchor.block_number)
        check_eip1186_shape(answer, contract, [slot])
        assert int(answer["storageProof"][0]["value"], 16) == anchor.block_number
        root = state_root(deployed, anchor.block_number)
        # independently of py-trie (which the node uses): the walker by hand
        account, value = walk_by_hand(root, contract, slot, answer)
        assert value == anchor.block_number
        nonce, balance, storage_root, code_hash = account
        assert (int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), storage_root, code_hash) == (
            int(answer["nonce"], 16),
            int(answer["balance"], 16),
            bytes.fromhex(answer["storageHash"][2:]),
            bytes.fromhex(answer["codeHash"][2:]),
        )
        assert code_hash == keccak(bytes(ledger.w3.eth.get_code(contract, anchor.block_number)))
        # and with chain.audit.proofs, as the auditor will
        assert verify_storage_proof(root, contract, slot, answer) == anchor.block_number
        assert verify_account_proof(root, contract, answer).storage_root == storage_root

    def test_a_handoff_never_anchored_is_proven_absent(self, deployed):
        contract, slot = deployed.deployment.ledger, anchored_at_slot(fresh_hash())
        block = deployed.ledger().w3.eth.block_number
        answer = get_proof(deployed, contract, [slot], block)
        check_eip1186_shape(answer, contract, [slot])
        assert answer["storageProof"][0]["value"] == "0x0"
        root = state_root(deployed, block)
        assert walk_by_hand(root, contract, slot, answer)[1] == 0
        assert verify_storage_proof(root, contract, slot, answer) == 0

    def test_before_its_anchor_block_a_handoff_is_proven_absent(self, deployed):
        h = fresh_hash()
        anchor = deployed.sender("tax").anchor(h, FLOW, "tax_registration", fresh_hash())
        contract, slot, before = deployed.deployment.ledger, anchored_at_slot(h), anchor.block_number - 1
        answer = get_proof(deployed, contract, [slot], before)
        assert answer["storageProof"][0]["value"] == "0x0"
        assert walk_by_hand(state_root(deployed, before), contract, slot, answer)[1] == 0
        assert verify_storage_proof(state_root(deployed, before), contract, slot, answer) == 0
        # the later block's proof does not verify under the earlier root, nor the reverse
        later = get_proof(deployed, contract, [slot], anchor.block_number)
        with pytest.raises(VerificationError):
            verify_storage_proof(state_root(deployed, before), contract, slot, later)

    def test_an_absent_account_is_proven_absent(self, deployed, outsider):
        nobody = "0x" + fresh_hash()[2:42]
        block = deployed.ledger().w3.eth.block_number
        answer = get_proof(deployed, nobody, [0], block)
        check_eip1186_shape(answer, nobody, [0])
        assert (answer["balance"], answer["nonce"]) == ("0x0", "0x0")
        assert answer["codeHash"] == "0x" + keccak(b"").hex()
        assert answer["storageHash"] == "0x" + keccak(rlp.encode(b"")).hex()
        assert answer["storageProof"][0] == {"key": "0x" + "00" * 32, "value": "0x0", "proof": ["0x80"]}
        root = state_root(deployed, block)
        nodes = [bytes.fromhex(n[2:]) for n in answer["accountProof"]]
        assert mpt_get(root, keccak(bytes.fromhex(nobody[2:])), nodes) == b""
        assert not verify_account_proof(root, nobody, answer).exists
        assert verify_storage_proof(root, nobody, 0, answer) == 0
        funded = verify_account_proof(root, outsider.address, get_proof(deployed, outsider.address, [], block))
        assert funded.exists and funded.balance == deployed.ledger().w3.eth.get_balance(outsider.address, block)

    def test_a_tampered_proof_does_not_verify(self, deployed):
        h = fresh_hash()
        anchor = deployed.sender("tax").anchor(h, FLOW, "tax_registration", fresh_hash())
        contract, slot = deployed.deployment.ledger, anchored_at_slot(h)
        answer = get_proof(deployed, contract, [slot], anchor.block_number)
        root = state_root(deployed, anchor.block_number)
        entry = answer["storageProof"][0]

        def tampered(**change) -> dict:
            return {**answer, **change}

        for i in range(len(answer["accountProof"])):
            for at in (0, 7, -1):
                bad = tampered(
                    accountProof=[flip(n, at) if j == i else n for j, n in enumerate(answer["accountProof"])]
                )
                with pytest.raises(VerificationError) as err:
                    verify_storage_proof(root, contract, slot, bad)
                assert err.value.check in ("account-proof", "proof-format")
                with pytest.raises((MissingNode, rlp.DecodingError, ValueError)):
                    walk_by_hand(root, contract, slot, bad)
        for i in range(len(entry["proof"])):
            bad = tampered(
                storageProof=[{**entry, "proof": [flip(n, 9) if j == i else n for j, n in enumerate(entry["proof"])]}]
            )
            with pytest.raises(VerificationError) as err:
                verify_storage_proof(root, contract, slot, bad)
            assert err.value.check == "storage-proof"
            with pytest.raises((MissingNode, rlp.DecodingError, ValueError)):
                walk_by_hand(root, contract, slot, bad)
        cases = {
            "account-proof": tampered(accountProof=answer["accountProof"][:-1]),  # truncated
            "storage-proof": tampered(storageProof=[{**entry, "proof": entry["proof"][:-1]}]),
            "storage-claim": tampered(storageProof=[{**entry, "value": hex(anchor.block_number + 1)}]),
            "account-claim": tampered(storageHash="0x" + keccak(b"another").hex()),
        }
        for check, bad in cases.items():
            with pytest.raises(VerificationError) as err:
                verify_storage_proof(root, contract, slot, bad)
            assert err.value.check == check
        with pytest.raises(VerificationError, match="account-proof"):  # the right proof, the wrong root
            verify_storage_proof(state_root(deployed, anchor.block_number - 1), contract, slot, answer)

    # the auditor over a real trail ----------------------------------------------------------
    def test_a_small_signed_anchored_trail_verifies_online(self, deployed):
        trail = OnChainTrail.start(deployed).complete()
        report = verify_case(trail.bundle(), deployed.ledger())
        assert report.ok, report.findings
        assert report.online and report.handoffs == report.anchored == len(trail.items) >= 5
