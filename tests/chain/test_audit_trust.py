"""The auditor's trust root (chain/audit/trust.py, check "trust"): pinned from the chain, read back
strictly, and what a bundle, a gateway or a node names judged by it. The adversary is the
operator: it holds the admin key (and, on the embedded stack, the agencies' account keys) and
deploys a shadow registry and ledger on the same chain, its own key registered as every agency's
signer, and anchors an invented trail there."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from agencies.directory import AGENCIES
from agencies.keys import AgencyKeys
from chain.audit.case import Finding, Report, verify_case
from chain.audit.trust import AgencyCheckpoints, TrustRoot, TrustRootError, dump_trust, open_ledger, parse_trust, pin
from chain.client import JsonRpc
from chain.node import LedgerNode, genesis_for
from tests.fixtures.ledger import FUNDS, DeployedLedger, onboard
from tests.fixtures.onchain_trail import OnChainTrail, with_proofs

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, trust_env: str | None = None) -> subprocess.CompletedProcess:
    """``onevisit ARGS``; ONEVISIT_TRUST only as given (``trust_env``), never inherited."""
    env = {k: v for k, v in os.environ.items() if k != "ONEVISIT_TRUST"}
    if trust_env is not None:
        env["ONEVISIT_TRUST"] = trust_env
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def honest(embedded_ledger) -> DeployedLedger:
    """The operator's real deployment, on contracts of its own (no other test changes its registry)."""
    return embedded_ledger.redeploy()


@pytest.fixture(scope="module")
def trust(honest) -> TrustRoot:
    return pin(honest.url, honest.deployment.registry, honest.deployment.ledger)


@pytest.fixture(scope="module")
def shadow(honest) -> DeployedLedger:
    """A second registry and ledger on the same chain, deployed later by the same admin; the
    operator's one key is every agency's signer (the accounts are the agencies' own)."""
    operator = secrets.token_bytes(32)
    keys = {name: AgencyKeys(name, operator, k.account_key) for name, k in honest.keys.items()}
    return onboard("embedded", honest.url, honest.admin_key, keys)


UNAUTHENTICATED = Finding(
    check="unauthenticated",
    message="the bundle carries no proofs: its anchors, blocks and signers are the operator's claim, not proven",
)


def trust_finding(message: str) -> Finding:
    return Finding(check="trust", message=message)


def unanchored(trail: OnChainTrail) -> list[Finding]:
    return [
        Finding(
            check="anchor",
            message="the handoff is not anchored on the ledger",
            handoff=i.handoff.hash,
            step=i.handoff.record.step,
        )
        for i in trail.items
    ]


# pinning ------------------------------------------------------------------------------------


def test_trust_init_writes_what_the_chain_says(honest, tmp_path):
    path = tmp_path / "trust.json"
    d = honest.deployment
    init = ("audit", "trust", "init", "--ledger-rpc", honest.url, "--registry", d.registry, "--ledger", d.ledger)
    result = cli(*init, "-o", str(path))
    assert result.returncode == 0, result.stderr
    written = json.loads(path.read_text())
    genesis = JsonRpc(honest.url)("eth_getBlockByNumber", "0x0", False)["hash"]
    assert written == {
        "version": 1,
        "chain_id": 1337,
        "genesis_hash": genesis,
        "registry": d.registry,
        "ledger": d.ledger,
        "deployment_block": d.block,
        "heads": {
            "kind": "agency-checkpoints",
            "signers": {name: k.signer for name, k in sorted(honest.keys.items())},
            "quorum": len(honest.keys) // 2 + 1,
        },
        "pinned_at_block": written["pinned_at_block"],
    }
    assert written["pinned_at_block"] > d.block
    assert result.stdout.startswith(f"wrote {path}: chain 1337 (genesis {genesis}), registry {d.registry}")
    assert "Check these out of band" in result.stdout
    again = cli(*init, "-o", str(path))
    assert (again.returncode, again.stderr) == (
        2,
        f"error: {path} exists: a trust root is not replaced by accident (--force to overwrite)\n",
    )


def test_pinning_refuses_what_the_chain_contradicts(honest, shadow):
    d = honest.deployment
    with pytest.raises(TrustRootError) as wrong_block:
        pin(honest.url, d.registry, d.ledger, d.block + 1)
    assert (
        str(wrong_block.value)
        == f"the registry at {d.registry} was deployed in block {d.block}, not block {d.block + 1}"
    )
    with pytest.raises(TrustRootError) as other_registry:
        pin(honest.url, shadow.deployment.registry, d.ledger)
    assert str(other_registry.value) == (
        f"the ledger at {d.ledger} is bound to registry {d.registry}, not {shadow.deployment.registry}"
    )
    nobody = Account.create().address
    with pytest.raises(TrustRootError) as no_code:
        pin(honest.url, d.registry, nobody)
    assert str(no_code.value) == f"the ledger address {nobody} holds no contract on the node at {honest.url}"


def test_a_quorum_is_given_or_a_majority(honest):
    d, n = honest.deployment, len(AGENCIES)  # every agency cosigns ledger heads
    assert pin(honest.url, d.registry, d.ledger, quorum=n).heads.quorum == n
    assert pin(honest.url, d.registry, d.ledger).heads.quorum == n // 2 + 1
    with pytest.raises(TrustRootError) as too_many:
        pin(honest.url, d.registry, d.ledger, quorum=n + 1)
    assert str(too_many.value) == (
        f"cannot pin: Value error, quorum {n + 1} must be between 1 and the {n} keys of heads.signers"
    )


# the adversary's shadow contracts -----------------------------------------------------------


def test_a_trail_anchored_on_shadow_contracts_verifies_only_against_what_the_operator_claims(honest, shadow, trust):
    trail = OnChainTrail.start(shadow).complete()
    bundle = trail.bundle()
    n = len(trail.items)

    # without a trust root the auditor has only the operator's word for the contracts: it holds
    claimed = verify_case(bundle, shadow.ledger())
    assert claimed == Report(
        case_id=trail.case_id, ok=True, online=True, handoffs=n, anchored=n, findings=[], trust="operator-claimed"
    )

    # with one, the pinned contracts are read on the same node, and the bundle is refused
    ledger, refused = open_ledger(honest.url, trust)
    assert refused == []
    s, h = shadow.deployment, honest.deployment
    assert verify_case(bundle, ledger, trust) == Report(
        case_id=trail.case_id,
        ok=False,
        online=True,
        handoffs=n,
        anchored=0,
        findings=[
            trust_finding(f"the bundle names registry contract {s.registry}; the trust root pins {h.registry}"),
            trust_finding(f"the bundle names ledger contract {s.ledger}; the trust root pins {h.ledger}"),
            trust_finding(
                f"the bundle says the contracts were deployed in block {s.block}; the trust root pins block {h.block}"
            ),
            *unanchored(trail),
        ],
        trust="pinned",
    )


def test_a_ledger_client_at_the_operators_addresses_is_refused_too(shadow, honest, trust):
    trail = OnChainTrail.start(shadow).complete()
    n = len(trail.items)
    s, h = shadow.deployment, honest.deployment
    differences = [
        f"names registry contract {s.registry}; the trust root pins {h.registry}",
        f"names ledger contract {s.ledger}; the trust root pins {h.ledger}",
        f"says the contracts were deployed in block {s.block}; the trust root pins block {h.block}",
    ]
    assert verify_case(trail.bundle(), shadow.ledger(), trust) == Report(
        case_id=trail.case_id,
        ok=False,
        online=True,
        handoffs=n,
        anchored=n,
        findings=[trust_finding(f"the bundle {d}") for d in differences]
        + [trust_finding(f"the ledger client {d}") for d in differences],
        trust="pinned",
    )


def test_an_honest_trail_verifies_against_the_pinned_contracts(honest, trust):
    trail = OnChainTrail.start(honest).complete()
    ledger, refused = open_ledger(honest.url, trust)
    n = len(trail.items)
    expected = Report(case_id=trail.case_id, ok=True, online=True, handoffs=n, anchored=n, findings=[], trust="pinned")
    assert (refused, verify_case(trail.bundle(), ledger, trust)) == ([], expected)
    # offline, the trust root accepts only what the bundle proves (check "proven", test_audit_proven.py)
    offline = expected.model_copy(update={"online": False, "proven": n})
    assert verify_case(with_proofs(trail.bundle(), honest), None, trust) == offline


# what a bundle names, one part at a time (offline) -------------------------------------------


OTHER_REGISTRY, OTHER_LEDGER = "0x" + "11" * 20, "0x" + "22" * 20


@pytest.mark.parametrize(
    ("part", "named", "message"),
    [
        ("chain_id", 1338, "the bundle names chain 1338; the trust root pins chain 1337"),
        ("registry", OTHER_REGISTRY, f"the bundle names registry contract {OTHER_REGISTRY}; the trust root pins {{}}"),
        ("ledger", OTHER_LEDGER, f"the bundle names ledger contract {OTHER_LEDGER}; the trust root pins {{}}"),
        ("block", 0, "the bundle says the contracts were deployed in block 0; the trust root pins block {}"),
    ],
)
def test_a_bundle_naming_another_part_of_the_chain_is_refused(honest, trust, part, named, message):
    trail = OnChainTrail.start(honest).complete()
    bundle = trail.bundle()
    bundle = bundle.model_copy(update={"chain": bundle.chain.model_copy(update={part: named})})
    expected = message.format(getattr(honest.deployment, part, None))
    n = len(trail.items)
    assert verify_case(bundle, None, trust) == Report(
        case_id=trail.case_id,
        ok=False,
        online=False,
        handoffs=n,
        anchored=n,
        findings=[trust_finding(expected), UNAUTHENTICATED],
        trust="pinned",
        proven=0,
    )


# nodes that are not the pinned chain ----------------------------------------------------------


@pytest.fixture(scope="module")
def impostor_nodes(tmp_path_factory):
    """Two other chains: one with the pinned chain id and another genesis, one with another id."""
    nodes = [
        LedgerNode(
            tmp_path_factory.mktemp(f"impostor{chain_id}"),
            genesis=genesis_for({Account.create().address: FUNDS}, chain_id=chain_id),
        )
        for chain_id in (1337, 1338)
    ]
    try:
        yield [n.start("127.0.0.1", 0) for n in nodes]
    finally:
        for n in nodes:
            n.stop()


def test_a_node_with_another_genesis_or_chain_id_is_refused(trust, impostor_nodes):
    same_id, other_id = impostor_nodes
    genesis = JsonRpc(same_id)("eth_getBlockByNumber", "0x0", False)["hash"]
    assert open_ledger(same_id, trust) == (
        None,
        [
            f"the node at {same_id} has genesis block {genesis}; the trust root pins {trust.genesis_hash} "
            "(same chain id 1337, another chain)"
        ],
    )
    assert open_ledger(other_id, trust) == (
        None,
        [f"the node at {other_id} is chain 1338; the trust root pins chain 1337"],
    )


def test_verify_bundle_with_trust_refuses_an_impostor_node_and_says_what_it_trusted(
    honest, trust, impostor_nodes, tmp_path
):
    trail = OnChainTrail.start(honest).complete()
    bundle_file, trust_file = tmp_path / "bundle.json", tmp_path / "trust.json"
    bundle_file.write_text(with_proofs(trail.bundle(), honest).model_dump_json())
    trust_file.write_text(dump_trust(trust))
    _, other_id = impostor_nodes
    n = len(trail.items)

    refused = cli(
        "audit", "verify-bundle", str(bundle_file), "--ledger-rpc", other_id, "--trust", str(trust_file), "--json"
    )
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout) == {
        "case_id": trail.case_id,
        "ok": False,
        "online": False,
        "handoffs": n,
        "anchored": n,
        "findings": [
            {
                "check": "trust",
                "message": f"the node at {other_id} is chain 1338; the trust root pins chain 1337",
                "handoff": None,
                "step": None,
            }
        ],
        "trust": "pinned",
        "closed": None,  # the trail built here has no closing record: an open case
        "proven": n,  # checked offline, as the node was refused: by the bundle's proofs
    }

    # the variable stands for --trust
    pinned = cli("audit", "verify-bundle", str(bundle_file), "--ledger-rpc", honest.url, trust_env=str(trust_file))
    assert (pinned.returncode, pinned.stdout) == (
        0,
        f"VALID: case {trail.case_id}, {n} handoffs, {n} anchored, checked against the ledger; "
        "OPEN: no closing record, so the trail may still grow (or was cut short before it); "
        f"trust: pinned ({trust_file})\n",
    )
    claimed = cli("audit", "verify-bundle", str(bundle_file), "--ledger-rpc", honest.url, "--json")
    assert claimed.returncode == 0 and json.loads(claimed.stdout)["trust"] == "operator-claimed"
    human = cli("audit", "verify-bundle", str(bundle_file))
    assert human.stdout == (
        f"VALID: case {trail.case_id}, {n} handoffs, {n} anchored, checked offline (signatures, hashes, order; "
        "anchors and registry history as the bundle claims them); "
        "OPEN: no closing record, so the trail may still grow (or was cut short before it); "
        "trust: operator-claimed (chain and contracts as the operator names them; pin your own with --trust)\n"
    )


# malformed trust roots -----------------------------------------------------------------------


def _root(trust: TrustRoot, **changes) -> bytes:
    data = trust.model_dump(mode="json")
    for key, value in changes.items():
        *path, last = key.split("__")
        node = data
        for p in path:
            node = node[p]
        node[last] = value
    return json.dumps(data).encode()


MALFORMED = {  # name -> (what to change, the error after "SOURCE ")
    "truncated": (None, "is not JSON: Invalid JSON: EOF while parsing a string at line 2 column 10"),
    "top-level-array": ([], "is not a trust root: (top): Input should be an object"),
    "unknown-field": (
        {"operator_note": "trust me"},
        "is not a trust root: operator_note: Extra inputs are not permitted",
    ),
    "chain-id-as-text": ({"chain_id": "1337"}, "is not a trust root: chain_id: Input should be a valid integer"),
    "other-version": ({"version": 2}, "is not a trust root: version: Input should be 1"),
    "registry-not-an-address": (
        {"registry": "0x1234"},
        "is not a trust root: registry: String should match pattern '^0x[0-9a-fA-F]{40}$'",
    ),
    "unknown-heads": (
        {"heads__kind": "witnesses"},
        "is not a trust root: heads: Input tag 'witnesses' found using 'kind' "
        "does not match any of the expected tags: 'agency-checkpoints', 'qbft-validators'",
    ),
    "quorum-above-keys": (
        {"heads__quorum": len(AGENCIES) + 1},
        f"is not a trust root: heads.agency-checkpoints: Value error, quorum {len(AGENCIES) + 1} must be between 1 "
        f"and the {len(AGENCIES)} keys of heads.signers",
    ),
    "no-genesis": ({"genesis_hash": None}, "is not a trust root: genesis_hash: Input should be a valid string"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_trust_root_is_refused_naming_what_is_wrong(trust, name):
    change, message = MALFORMED[name]
    if change is None:
        raw = dump_trust(trust).encode()[:12]
    elif isinstance(change, list):
        raw = b"[]"
    else:
        raw = _root(trust, **change)
    with pytest.raises(TrustRootError) as refused:
        parse_trust(raw, "trust.json")
    assert str(refused.value) == f"trust.json {message}"


def test_a_trust_root_naming_one_key_twice_is_refused(trust):
    signers = dict(trust.heads.signers)
    signers["tax"] = signers["bank"]
    with pytest.raises(TrustRootError) as refused:
        parse_trust(_root(trust, heads__signers=signers), "trust.json")
    assert str(refused.value) == (
        "trust.json is not a trust root: heads.agency-checkpoints: Value error, heads.signers names a key twice: "
        "one key would count twice towards the quorum"
    )


def test_qbft_validators_may_be_left_empty_but_then_vouch_for_nothing(trust):
    empty = {"kind": "qbft-validators", "validators": [], "quorum": 0}
    assert parse_trust(_root(trust, heads=empty)).heads.validators == []
    with pytest.raises(TrustRootError):
        parse_trust(_root(trust, heads={**empty, "quorum": 1}))
    assert isinstance(trust.heads, AgencyCheckpoints)


def test_the_cli_refuses_a_malformed_trust_root_without_a_traceback(trust, tmp_path):
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text("{}")  # never read: the trust root is judged first
    bad = tmp_path / "trust.json"
    bad.write_bytes(_root(trust, chain_id="1337"))
    for args in (("verify-bundle", str(bundle_file)), ("ledger", "--url", "http://127.0.0.1:9")):
        result = cli("audit", *args, "--trust", str(bad))
        assert (result.returncode, result.stdout, result.stderr) == (
            2,
            "",
            f"error: {bad} is not a trust root: chain_id: Input should be a valid integer\n",
        )
    missing = cli("audit", "verify-bundle", str(bundle_file), "--trust", str(tmp_path / "nowhere.json"))
    assert (missing.returncode, missing.stderr) == (2, f"error: {tmp_path / 'nowhere.json'}: no such trust root\n")
