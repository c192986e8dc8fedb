"""Offline verification that is authenticated, on the real embedded stack (issue 8): a case's
bundle, as the gateway exports it, carries the header and state proofs of each anchor block and
the agency workers' checkpoints over them; `verify-bundle FILE --trust trust.json` with no network
proves every anchor, block and signer, and finds a bundle tampered with or stripped of its proofs."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.stack import application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def exported(stack, tmp_path_factory):
    """(the bundle file of a completed case, its JSON, the auditor's trust root file)."""
    tmp = tmp_path_factory.mktemp("proven")
    case = json.loads(
        stack.cli_in_process(
            "apply", str(write_application(tmp, application())), "--url", stack.url, "--wait", "--json", check=True
        ).stdout
    )
    trust = tmp / "trust.json"
    rpc = stack.health["ledger_rpc"]
    stack.cli_in_process(
        "audit", "trust", "init", "--url", stack.url, "--ledger-rpc", rpc, "-o", str(trust), check=True
    )
    bundle = tmp / "bundle.json"
    stack.cli_in_process("audit", "export", case["case_id"], "--url", stack.url, "-o", str(bundle), check=True)
    return bundle, json.loads(bundle.read_text()), trust


def verify_offline(stack, bundle_file, trust_file) -> tuple[int, dict]:
    """`verify-bundle` with a trust root and no gateway or node named: nothing but the two files."""
    result = stack.cli_in_process("audit", "verify-bundle", str(bundle_file), "--trust", str(trust_file), "--json")
    return result.returncode, json.loads(result.stdout)


def test_an_exported_bundle_is_proven_offline_with_no_network(stack, exported):
    bundle_file, bundle, trust_file = exported
    trust = json.loads(trust_file.read_text())
    anchored = {(i["anchor"]["block_number"], i["anchor"]["block_hash"]) for i in bundle["handoffs"]}
    assert len(bundle["proofs"]) == len(anchored)
    cosigners = {cp["signer"].lower() for cp in bundle["checkpoints"]}
    assert len(cosigners & {a.lower() for a in trust["heads"]["signers"].values()}) >= trust["heads"]["quorum"]
    code, report = verify_offline(stack, bundle_file, trust_file)
    n = len(bundle["handoffs"])
    assert (code, report) == (
        0,
        {
            "case_id": bundle["case_id"],
            "ok": True,
            "online": False,
            "handoffs": n,
            "anchored": n,
            "findings": [],
            "trust": "pinned",
            "closed": report["closed"],
            "proven": n,
        },
    )
    assert report["closed"] == "completed"
    text = stack.cli("audit", "verify-bundle", str(bundle_file), "--trust", str(trust_file))
    assert text.returncode == 0 and text.stdout.startswith("VALID: ") and f"{n} of {n} anchors proven" in text.stdout


def test_the_bundle_stripped_of_its_proofs_is_unauthenticated(stack, exported, tmp_path):
    bundle_file, bundle, trust_file = exported
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps({**bundle, "proofs": [], "checkpoints": []}))
    code, report = verify_offline(stack, stripped, trust_file)
    assert (code, report["ok"], report["proven"], report["findings"]) == (
        1,
        False,
        0,
        [
            {
                "check": "unauthenticated",
                "message": "the bundle carries no proofs: its anchors, blocks and signers are the operator's claim, "
                "not proven",
                "handoff": None,
                "step": None,
            }
        ],
    )
    text = stack.cli_in_process("audit", "verify-bundle", str(stripped), "--trust", str(trust_file))
    assert text.returncode == 1 and text.stdout.startswith("UNAUTHENTICATED: ")


def test_a_bundle_cosigned_by_too_few_agencies_proves_nothing(stack, exported, tmp_path):
    bundle_file, bundle, trust_file = exported
    quorum = json.loads(trust_file.read_text())["heads"]["quorum"]
    few = tmp_path / "few.json"
    few.write_text(json.dumps({**bundle, "checkpoints": bundle["checkpoints"][: quorum - 1]}))
    code, report = verify_offline(stack, few, trust_file)
    assert (code, report["proven"]) == (1, 0)
    assert [f["check"] for f in report["findings"]] == ["checkpoint"] * len(bundle["proofs"])
    assert all(f"is cosigned by {quorum - 1} of the trust root's agencies" in f["message"] for f in report["findings"])


def test_a_forged_anchor_block_is_not_proven(stack, exported, tmp_path):
    """The first handoff's anchor moved to another block of the bundle: the ledger's state there
    says otherwise, and the header is not the block the anchor names."""
    bundle_file, bundle, trust_file = exported
    handoffs = [dict(i) for i in bundle["handoffs"]]
    first, last = handoffs[0], handoffs[-1]
    moved = {**first["anchor"], **{k: last["anchor"][k] for k in ("block_number", "block_hash", "timestamp")}}
    handoffs[0] = {**first, "anchor": moved}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**bundle, "handoffs": handoffs}))
    code, report = verify_offline(stack, forged, trust_file)
    assert code == 1 and report["proven"] <= len(handoffs) - 1
    assert {"check": "ledger-proof", "handoff": first["handoff"]["hash"]}.items() <= next(
        f for f in report["findings"] if f["check"] == "ledger-proof"
    ).items()
