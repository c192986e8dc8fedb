"""Check (15) proven: offline under a trust root, each anchor, its block and its signer are proven
by the bundle's headers, checkpoints and EIP-1186 proofs (chain/audit/proven.py), or the bundle
is not valid. A real trail on the embedded node, proven as a gateway proves it; then each kind
of forged evidence, built here, named by its finding (whole reports compared with ``==``)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
import rlp

from chain.audit.case import Finding, Report, verify_case
from chain.audit.evidence import EvidenceBundle, EvidenceItem
from chain.audit.proofs import agency_slots
from chain.audit.trust import QbftValidators, TrustRoot, pin
from chain.checkpoint import sign_checkpoint
from chain.client import JsonRpc
from chain.errors import VerificationError
from chain.handoff import agency_id, step_id
from chain.header import decode_header
from chain.hexid import to_hex
from chain.merkle import keccak
from chain.node import LedgerNode, genesis_for
from chain.proving import anchor_slot
from chain.qbft import read_qbft_header
from tests.chain.test_qbft import VALIDATORS, address, sealed
from tests.fixtures.ledger import FUNDS, DeployedLedger, new_keys, onboard
from tests.fixtures.onchain_trail import OnChainTrail, with_proofs


@pytest.fixture(scope="module")
def deployed(embedded_ledger) -> DeployedLedger:
    return embedded_ledger.redeploy()  # its own registry: no other test's rotation changes its signers


@pytest.fixture(scope="module")
def trust(deployed) -> TrustRoot:
    return pin(deployed.url, deployed.deployment.registry, deployed.deployment.ledger)


@pytest.fixture(scope="module")
def trail(deployed) -> OnChainTrail:
    return OnChainTrail.start(deployed).complete()


@pytest.fixture(scope="module")
def proven(trail, deployed) -> EvidenceBundle:
    return with_proofs(trail.bundle(), deployed)


def report(trail: OnChainTrail, findings: list[Finding], proven: int) -> Report:
    n = len(trail.items)
    return Report(
        case_id=trail.case_id,
        ok=not findings,
        online=False,
        handoffs=n,
        anchored=n,
        findings=findings,
        trust="pinned",
        proven=proven,
    )


def changed(bundle: EvidenceBundle, path: list, value) -> EvidenceBundle:
    """The bundle with the field at ``path`` (keys and indexes into its JSON) set to ``value``."""
    data = bundle.model_dump(mode="json")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return EvidenceBundle.model_validate(data)


def blocks_of(bundle: EvidenceBundle) -> list[tuple[int, str]]:
    return [(h.number, "0x" + h.hash.hex()) for h in (decode_header(p.header) for p in bundle.proofs)]


def short_of_quorum(trust: TrustRoot, number: int, block_hash: str, cosigners: list[str], notes: list[str]) -> Finding:
    names = ", ".join(sorted(cosigners)) or "none"
    message = (
        f"block {number} ({block_hash}) is cosigned by {len(cosigners)} of the trust root's agencies ({names}); "
        f"the quorum is {trust.heads.quorum}" + (f"; not counted: {', '.join(notes)}" if notes else "")
    )
    return Finding(check="checkpoint", message=message)


def test_the_registry_members_the_proofs_read_are_where_the_node_keeps_them(deployed):
    """Each Agency struct member at its slot (a String[64] name takes three words before them)."""
    rpc = JsonRpc(deployed.url)
    for name, k in list(deployed.keys.items())[:3]:
        slots = agency_slots(agency_id(name))
        word = {
            m: int(rpc("eth_getStorageAt", deployed.deployment.registry, hex(s), "latest"), 16)
            for m, s in slots.items()
        }
        assert word == {
            "account": int(k.account, 16),
            "signer": int(k.signer, 16),
            "next_signer": 0,
            "next_signer_from": 0,
            "active": 1,
        }


def test_a_proven_bundle_is_valid_offline_and_every_handoff_is_proven(trail, proven, trust):
    assert len(proven.proofs) == len({i.anchor.block_number for i in trail.items})
    assert len(proven.checkpoints) == len(trust.heads.signers)
    assert verify_case(proven, None, trust) == report(trail, [], proven=len(trail.items))


def test_a_bundle_with_its_proofs_stripped_is_unauthenticated_never_valid(trail, proven, trust):
    stripped = proven.model_copy(update={"proofs": [], "checkpoints": []})
    claim = "the bundle carries no proofs: its anchors, blocks and signers are the operator's claim, not proven"
    assert verify_case(stripped, None, trust) == report(trail, [Finding(check="unauthenticated", message=claim)], 0)
    # without a trust root nothing is judged proven or not: the report says the operator's claim
    assert verify_case(stripped).proven is None and verify_case(stripped).trust == "operator-claimed"


def test_a_block_without_its_proof_leaves_its_handoffs_unauthenticated(trail, proven, trust):
    first = trail.items[0]
    bundle = proven.model_copy(update={"proofs": proven.proofs[1:]})
    message = f"no proof for block {first.anchor.block_number}: its anchor is the operator's claim"
    finding = Finding(check="unauthenticated", message=message, handoff=first.handoff.hash, step="name_check")
    assert verify_case(bundle, None, trust) == report(trail, [finding], len(trail.items) - 1)


@pytest.mark.parametrize(
    "signature",
    [None, "0x" + "ff" * 65, "0x" + "11" * 64 + "1b", "0x1234", "not hex"],
    ids=["genuine", "beyond_the_curve", "v_not_0_or_1", "short", "not_hex"],
)
def test_a_checkpoint_recovers_on_the_hot_path_as_it_recovers_in_full(proven, signature):
    """``recovered_address`` (what check 15 uses) recovers what ``recovered`` does, in lower case,
    and refuses what it refuses."""
    for cp in proven.checkpoints:
        cp = cp if signature is None else cp.model_copy(update={"signature": signature})
        try:
            expected = cp.recovered().lower()
        except VerificationError as exc:
            expected = exc.check
        try:
            got = cp.recovered_address()
        except VerificationError as exc:
            got = exc.check
        assert got == expected == (cp.signer.lower() if signature is None else "checkpoint")
        assert signature is not None or cp.recovered_address(cp.digest()) == got


def test_checkpoints_from_too_few_agencies_vouch_for_nothing(trail, proven, trust, deployed):
    few = sorted(deployed.keys)[: trust.heads.quorum - 1]
    bundle = with_proofs(trail.bundle(), deployed, cosigners=few)
    findings = [short_of_quorum(trust, n, h, few, []) for n, h in blocks_of(bundle)]
    assert verify_case(bundle, None, trust) == report(trail, findings, 0)


def test_checkpoints_by_keys_the_trust_root_does_not_pin_count_for_nothing(trail, proven, trust):
    blocks = blocks_of(proven)
    outsiders = [sign_checkpoint(trust.chain_id, blocks, secrets.token_bytes(32)) for _ in range(trust.heads.quorum)]
    bundle = proven.model_copy(update={"checkpoints": outsiders})
    notes = [f"one by {cp.signer}, a key the trust root does not pin" for cp in outsiders]
    assert verify_case(bundle, None, trust) == report(
        trail, [short_of_quorum(trust, n, h, [], notes) for n, h in blocks], 0
    )


def test_one_agency_signing_many_times_counts_once(trail, proven, trust, deployed):
    one = sorted(deployed.keys)[0]
    bundle = proven.model_copy(update={"checkpoints": [proven.checkpoints[0]] * trust.heads.quorum})
    assert verify_case(bundle, None, trust) == report(
        trail, [short_of_quorum(trust, n, h, [one], []) for n, h in blocks_of(proven)], 0
    )


def test_a_checkpoint_signature_over_another_hash_does_not_recover_its_signer(trail, proven, trust, deployed):
    """The blocks a checkpoint names are changed after signing: its signature recovers another key."""
    first_number, first_hash = blocks_of(proven)[0]
    forged_hash = "0x" + secrets.token_hex(32)
    quorum = trust.heads.quorum
    checkpoints = [
        cp.model_copy(update={"blocks": [cp.blocks[0].model_copy(update={"hash": forged_hash}), *cp.blocks[1:]]})
        for cp in proven.checkpoints[:quorum]
    ]
    bundle = proven.model_copy(update={"checkpoints": checkpoints})
    notes = [f"one whose signature does not recover its signer {cp.signer}" for cp in checkpoints]
    assert verify_case(bundle, None, trust) == report(
        trail, [short_of_quorum(trust, n, h, [], notes) for n, h in blocks_of(proven)], 0
    )
    assert (first_number, first_hash) != (first_number, forged_hash)


def test_agencies_cosigning_another_block_at_that_height_vouch_for_nothing_there(trail, proven, trust, deployed):
    """A quorum signed, but over a fork's hash for the first anchor's block: that block is unproven."""
    blocks = blocks_of(proven)
    number, real = blocks[0]
    fork = "0x" + secrets.token_hex(32)
    names = sorted(deployed.keys)[: trust.heads.quorum]
    forked = [(number, fork), *blocks[1:]]
    bundle = proven.model_copy(
        update={"checkpoints": [sign_checkpoint(trust.chain_id, forked, deployed.keys[a].signing_key) for a in names]}
    )
    notes = [f"{a}'s over another hash of block {number} ({fork})" for a in names]
    first = trail.items[0]
    assert verify_case(bundle, None, trust) == report(
        trail, [short_of_quorum(trust, number, real, [], notes)], len(trail.items) - 1
    )
    assert first.anchor.block_number == number


def test_a_header_whose_state_root_is_changed_is_not_the_cosigned_block(trail, proven, trust):
    """A state root of the operator's choosing changes the header's hash: no quorum vouches for it,
    and the anchor names another block hash."""
    fields = rlp.decode(bytes.fromhex(proven.proofs[0].header[2:]))
    fields[3] = bytes.fromhex(secrets.token_hex(32))
    forged = "0x" + rlp.encode(fields).hex()
    bundle = changed(proven, ["proofs", 0, "header"], forged)
    header = decode_header(forged)
    number, real = blocks_of(proven)[0]
    notes = [f"{a}'s over another hash of block {number} ({real})" for a in sorted(trust.heads.signers)]
    assert verify_case(bundle, None, trust) == report(
        trail,
        [short_of_quorum(trust, header.number, "0x" + header.hash.hex(), [], notes)],
        len(trail.items) - 1,
    )


def test_a_proof_from_another_blocks_state_does_not_lead_from_this_header(trail, proven, trust):
    """The second block's ledger proof under the first block's header: its root is not this one."""
    bundle = changed(proven, ["proofs", 0, "ledger"], proven.proofs[1].ledger)
    first = trail.items[0]
    number = first.anchor.block_number
    root = "0x" + decode_header(proven.proofs[0].header).state_root.hex()
    node = proven.proofs[0].ledger["accountProof"][0]
    assert verify_case(bundle, None, trust) == report(
        trail,
        [
            Finding(
                check="ledger-proof",
                message=f"block {number}: account-proof: accountProof does not lead from root {root}: no node "
                f"0x{decode_header(proven.proofs[0].header).state_root.hex()}",
                handoff=first.handoff.hash,
                step="name_check",
            )
        ],
        len(trail.items) - 1,
    )
    assert node not in proven.proofs[1].ledger["accountProof"]


def test_a_proof_for_another_slot_is_not_a_proof_of_this_anchor(trail, proven, trust):
    """The first block's proof, asked for another handoff's slot: no entry for this handoff's."""
    other = trail.items[1]
    second = proven.proofs[1].ledger["storageProof"]
    bundle = changed(proven, ["proofs", 0, "ledger", "storageProof"], second)
    first = trail.items[0]
    assert verify_case(bundle, None, trust) == report(
        trail,
        [
            Finding(
                check="ledger-proof",
                message=f"block {first.anchor.block_number}: proof-format: no storageProof entry for slot "
                f"{hex(anchor_slot(first.anchor))}",
                handoff=first.handoff.hash,
                step="name_check",
            )
        ],
        len(trail.items) - 1,
    )
    assert anchor_slot(other.anchor) != anchor_slot(first.anchor)


def test_a_proof_claiming_another_value_is_refused_at_the_claim(trail, proven, trust):
    first = trail.items[0]
    number = first.anchor.block_number
    bundle = changed(proven, ["proofs", 0, "ledger", "storageProof", 0, "value"], hex(number - 1))
    assert verify_case(bundle, None, trust) == report(
        trail,
        [
            Finding(
                check="ledger-proof",
                message=f"block {number}: storage-claim: value {hex(number - 1)} is not the proven {hex(number)}",
                handoff=first.handoff.hash,
                step="name_check",
            )
        ],
        len(trail.items) - 1,
    )


def test_an_anchor_claimed_in_another_block_is_not_proven_by_the_ledgers_state(deployed, trust):
    """A handoff never anchored, claimed to be in an honest anchor's block: the ledger's state there
    proves it absent, whatever the bundle says."""
    t = OnChainTrail.start(deployed)
    t.add("name_check")
    ghost = t.add("business_licence", anchor=False)
    real = t.items[0].anchor
    rec = ghost.handoff.record
    claim = real.model_copy(
        update={
            "handoff": ghost.handoff.hash,
            "step": to_hex(step_id(rec.flow, rec.step)),
            "agency": to_hex(agency_id(rec.agency)),
            "account": deployed.keys[rec.agency].account,
            "log_index": real.log_index + 1,
        }
    )
    t.items[1] = ghost.model_copy(update={"anchor": claim})
    bundle = with_proofs(t.bundle(), deployed)
    assert verify_case(bundle, None, trust) == report(
        t,
        [
            Finding(
                check="ledger-proof",
                message=f"the ledger's state at block {real.block_number} holds nothing (never anchored) for the "
                f"handoff, not block {real.block_number}",
                handoff=ghost.handoff.hash,
                step="business_licence",
            )
        ],
        1,
    )


def test_a_signer_the_registry_did_not_hold_is_found_by_the_proof_whatever_the_bundle_claims(deployed, trust):
    """Signed by a key of the operator's, which the bundle's own claims name as the agency's: only
    the registry's proven entry shows it is not."""
    rogue = secrets.token_bytes(32)
    t = OnChainTrail.start(deployed)
    t.add("name_check", key=rogue)
    signed = t.items[0].handoff
    bundle = with_proofs(t.bundle(), deployed)
    claims = {**bundle.agencies}
    claims[signed.record.agency] = claims[signed.record.agency].model_copy(update={"signer": signed.signer})
    bundle = bundle.model_copy(update={"agencies": claims})
    real = deployed.keys[signed.record.agency].signer.lower()
    number = t.items[0].anchor.block_number
    assert verify_case(bundle, None, trust) == report(
        t,
        [
            Finding(
                check="registry-proof",
                message=f"signed by {signed.signer}, but the registry's state at block {number} accepts {real} for "
                f"{signed.record.agency}",
                handoff=signed.hash,
                step="name_check",
            )
        ],
        0,
    )


def test_a_block_time_the_header_does_not_carry_is_found(trail, proven, trust):
    first = trail.items[0]
    bundle = changed(proven, ["handoffs", 0, "anchor", "timestamp"], first.anchor.timestamp - 60)
    header = decode_header(proven.proofs[0].header)
    assert verify_case(bundle, None, trust) == report(
        trail,
        [
            Finding(
                check="header",
                message=f"the anchor claims block time {first.anchor.timestamp - 60}; block "
                f"{first.anchor.block_number}'s header says {header.timestamp}",
                handoff=first.handoff.hash,
                step="name_check",
            )
        ],
        len(trail.items) - 1,
    )


# Besu: the same proofs under headers sealed by QBFT validators (chain/qbft.py) -----------------


@pytest.fixture(scope="module")
def one_block(tmp_path_factory) -> tuple[OnChainTrail, EvidenceBundle, TrustRoot]:
    """A trail two of whose handoffs (seal_approval, social_security: two agencies, neither step
    depending on the other) were anchored in one block, proven, and its trust root: on a node of
    its own that waits a second before sealing while the two agencies anchor at once."""
    admin, keys = new_keys()
    accounts = [admin.account, *(k.account for k in keys.values())]
    genesis = genesis_for({a: FUNDS for a in accounts}, accounts)
    node = LedgerNode(tmp_path_factory.mktemp("one-block"), genesis=genesis, block_time=0.01)
    try:
        deployed = onboard("embedded", node.start("127.0.0.1", 0), admin.account_key, keys)
        trail = OnChainTrail.start(deployed).complete(until="business_licence")
        signed = [trail.sign(step) for step in ("seal_approval", "social_security")]
        trail.ledger  # noqa: B018 - made once, before the two threads use it
        node.sealer.block_time = 1.0
        with ThreadPoolExecutor(2) as pool:
            anchors = list(pool.map(trail.anchor, signed))
        node.sealer.block_time = 0.01
        assert anchors[0].block_number == anchors[1].block_number
        trail.items += [EvidenceItem(handoff=h, anchor=a) for h, a in zip(signed, anchors, strict=True)]
        trail.add("tax_registration")
        trust = pin(deployed.url, deployed.deployment.registry, deployed.deployment.ledger)
        yield trail, with_proofs(trail.bundle(), deployed), trust
    finally:
        node.stop()


def forged_node(node: str) -> str:
    """Another node in the place of ``node`` (hex): a leaf claiming another value, a branch with
    another child; well formed, so only its hash gives it away."""
    items = rlp.decode(bytes.fromhex(node[2:]))
    if len(items) == 2:
        items[1] = rlp.encode(int.from_bytes(rlp.decode(items[1]), "big") + 1)
    else:
        k = next(i for i, child in enumerate(items) if child)
        items[k] = items[k][:-1] + bytes([items[k][-1] ^ 1])
    return "0x" + rlp.encode(items).hex()


@pytest.mark.parametrize(
    ("forged", "node", "elsewhere"),
    [
        ("social_security", -1, False),
        ("seal_approval", -1, False),
        ("seal_approval", 0, False),
        ("social_security", -1, True),
    ],
    ids=[
        "leaf_of_the_second_read",
        "leaf_of_the_first_read",
        "shared_root_in_the_first_read",
        "leaf_whose_genuine_node_another_block_lists",
    ],
)
def test_a_forged_node_is_found_though_its_block_is_read_for_another_handoff(one_block, forged, node, elsewhere):
    """No cache poisoning: a block's proof is read once for all its handoffs and each node decoded
    once per bundle, by its hash; yet a forged node in one handoff's entry of a block's ledger proof
    (its leaf, or the root node it shares with the other handoff's entry) is a ledger-proof finding
    for that handoff alone, whichever entry is read first, and even when another block's proof
    lists the genuine node (each block's proof stands alone)."""
    trail, proven, trust = one_block
    item = trail.item(forged)
    number = item.anchor.block_number
    n = [h.number for h in (decode_header(p.header) for p in proven.proofs)].index(number)
    ledger = proven.proofs[n].ledger
    assert len(ledger["storageProof"]) == 2  # both handoffs' slots, in the one proof of the block
    e = [i for i, e in enumerate(ledger["storageProof"]) if int(e["key"], 16) == anchor_slot(item.anchor)][0]
    genuine = ledger["storageProof"][e]["proof"][node]
    bundle = changed(proven, ["proofs", n, "ledger", "storageProof", e, "proof", node], forged_node(genuine))
    if elsewhere:
        bundle = changed(bundle, ["proofs", 0, "ledger", "storageProof", 0, "proof"], lambda nodes: [*nodes, genuine])
    assert verify_case(bundle, None, trust) == report(
        trail,
        [
            Finding(
                check="ledger-proof",
                message=f"block {number}: storage-proof: storageProof proof does not lead from root "
                f"{ledger['storageHash']}: no node 0x{keccak(bytes.fromhex(genuine[2:])).hex()}",
                handoff=item.handoff.hash,
                step=forged,
            )
        ],
        len(trail.items) - 1,
    )
    assert trail.items.index(trail.item("seal_approval")) < trail.items.index(trail.item("social_security"))
    assert verify_case(proven, None, trust) == report(trail, [], len(trail.items))


def test_a_forged_shared_node_after_the_genuine_one_is_read_leaves_the_proof_standing(one_block):
    """The block's two entries share their root node: read (and hashed) with the first handoff's
    entry, it proves the second's too, so a forged copy in the second's entry changes nothing
    (the forged node, under its own hash, is never reached)."""
    trail, proven, trust = one_block
    item = trail.item("social_security")
    n = [decode_header(p.header).number for p in proven.proofs].index(item.anchor.block_number)
    e = [
        i
        for i, e in enumerate(proven.proofs[n].ledger["storageProof"])
        if int(e["key"], 16) == anchor_slot(item.anchor)
    ][0]
    bundle = changed(proven, ["proofs", n, "ledger", "storageProof", e, "proof", 0], forged_node)
    assert verify_case(bundle, None, trust) == report(trail, [], len(trail.items))


def qbft_bundle(proven: EvidenceBundle, signers: list[bytes]) -> EvidenceBundle:
    """The proven bundle as a Besu network would have sealed its blocks: each header the same but
    for its QBFT extraData, each anchor naming the block hash as Besu takes it; no checkpoints."""
    data = proven.model_dump(mode="json")
    hashes = {}
    for p in data["proofs"]:
        header = rlp.decode(bytes.fromhex(p["header"][2:]))
        raw, block_hash = sealed(header, signers)
        p["header"] = "0x" + raw.hex()
        hashes[int.from_bytes(header[8], "big")] = "0x" + block_hash.hex()
    for item in data["handoffs"]:
        item["anchor"]["block_hash"] = hashes[item["anchor"]["block_number"]]
    return EvidenceBundle.model_validate({**data, "checkpoints": []})


def qbft_trust(trust: TrustRoot, validators: list[bytes], quorum: int) -> TrustRoot:
    heads = QbftValidators(
        kind="qbft-validators", validators=["0x" + address(k).hex() for k in validators], quorum=quorum
    )
    return trust.model_copy(update={"heads": heads})


def test_headers_sealed_by_a_quorum_of_pinned_validators_prove_the_bundle(trail, proven, trust):
    bundle = qbft_bundle(proven, VALIDATORS[:3])
    assert verify_case(bundle, None, qbft_trust(trust, VALIDATORS, 3)) == report(trail, [], len(trail.items))


def test_headers_sealed_by_too_few_pinned_validators_prove_nothing(trail, proven, trust):
    outsider = secrets.token_bytes(32)
    bundle = qbft_bundle(proven, [*VALIDATORS[:2], outsider])
    other = "0x" + address(outsider).hex()
    findings = [
        Finding(
            check="seal",
            message=f"block {decode_header(p.header).number} (0x{read_qbft_header(p.header).hash.hex()}) is sealed "
            f"by 2 of the trust root's validators; the quorum is 3; not counted: seals by {other}, keys the trust "
            "root does not pin",
        )
        for p in bundle.proofs
    ]
    assert verify_case(bundle, None, qbft_trust(trust, VALIDATORS, 3)) == report(trail, findings, 0)


def test_a_trust_root_pinning_no_validator_vouches_for_no_header(trail, proven, trust):
    none = trust.model_copy(update={"heads": QbftValidators(kind="qbft-validators", validators=[], quorum=0)})
    message = "the trust root pins no QBFT validator: no header is vouched for"
    assert verify_case(qbft_bundle(proven, VALIDATORS), None, none) == report(
        trail, [Finding(check="unauthenticated", message=message)], 0
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["proofs", 0, "header"], "0x00"),
        (["proofs", 0, "header"], "0x" + "c0" * 3000),
        (["proofs", 0, "ledger"], {}),
        (["proofs", 0, "ledger", "accountProof"], ["0x", "zz", 7]),
        (["proofs", 0, "ledger", "storageProof"], [{"key": "nope", "proof": None}]),
        (["proofs", 0, "registry", "storageProof"], "not a list"),
        (["proofs", 0, "registry", "accountProof"], ["0xc0"]),
        (["checkpoints", 0, "signature"], "0x" + "ff" * 65),  # one of 15: the others still make a quorum
    ],
    ids=[
        "header_not_rlp",
        "header_too_long",
        "ledger_proof_empty",
        "account_nodes_garbage",
        "storage_entry_garbage",
        "storage_proof_not_a_list",
        "registry_node_an_empty_list",
        "signature_beyond_the_curve",
    ],
)
def test_garbage_in_the_proofs_is_a_finding_never_an_exception(trail, proven, trust, path, value):
    report = verify_case(changed(proven, path, value), None, trust)
    assert report.ok == (path[0] == "checkpoints") and report.proven == len(trail.items) - (not report.ok)
    assert {f.check for f in report.findings} <= {"header", "unauthenticated", "ledger-proof", "registry-proof"}
