"""Bad bundles are findings: ``onevisit audit verify-bundle`` on each of the adversary's garbage
bundles in testdata/bundles/ (see its generate.py) exits 1 with a finding naming what is wrong,
and never with a traceback. The honest bundle they were made from verifies (exit 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chain.audit.case import MAX_BUNDLE_BYTES

BUNDLES = Path(__file__).parent / "testdata" / "bundles"
ROOT = Path(__file__).resolve().parents[2]

WANT = {  # file -> (check, phrase the finding must contain)
    "truncated.json": ("bundle", "is not JSON"),
    "not-json.bin": ("bundle", "is not JSON"),
    "top-level-array.json": ("bundle", "(top): Input should be a valid dictionary"),
    "other-format.json": ("bundle", "format: Input should be 'onevisit.evidence.v1'"),
    "registry-not-a-list.json": ("bundle", "registry: Input should be a valid list"),
    "registry-wrong-types.json": ("bundle", "registry[0]: block_number and log_index must be non-negative integers"),
    "registry-unknown-event.json": ("bundle", "registry[0]: 'AgencyCrowned' is not a registry event"),
    "registry-rotation-before-registration.json": ("bundle", "which was never registered before it"),
    "flow-not-a-flow.json": ("bundle", "flow is not a flow definition: name: Field required"),
    "flow-steps-wrong-types.json": ("bundle", "not a flow definition: steps.0.id: Input should be a valid string"),
    "flow-unknown-approval-mode.json": ("bundle", "steps.1.approval.mode: Input should be 'instant', 'clerk' or"),
    "no-handoffs.json": ("bundle", "the bundle holds no handoffs"),
    "handoffs-not-a-list.json": ("bundle", "handoffs: Input should be a valid list"),
    "deep-nesting.json": ("bundle", "nests deeper than 64 levels"),
    "unicode-digits-in-hash.json": ("bundle", "handoffs[0].hash is not 32 bytes of hex"),
    "unicode-digits-in-record-case.json": ("bundle", "handoffs[1].record.case is not 32 bytes of hex"),
    "unicode-digits-in-anchor.json": ("bundle", "handoffs[2].anchor.block_hash is not 32 bytes of hex"),
    "short-signature.json": ("bundle", "handoffs[0].signature is not 65 bytes of hex"),
    "extra-fields.json": ("bundle", "operator_note: Extra inputs are not permitted"),
    "extra-fields-in-record.json": ("bundle", "handoffs.0.handoff.record.approved: Extra inputs are not permitted"),
    "wrong-types-in-chain.json": ("bundle", "chain.chain_id: Input should be a valid integer"),
    "huge-integer-in-outputs.json": ("hash", "the record has no canonical bytes to hash"),
    "nan-in-outputs.json": ("bundle", "holds a value JSON cannot carry"),
    "lone-surrogate-in-case-id.json": ("bundle", "holds a value JSON cannot carry"),
}


def verify_bundle(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "verify-bundle", str(path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_every_garbage_file_has_its_expectation():
    files = {p.name for p in BUNDLES.iterdir() if p.suffix in (".json", ".bin")} - {"honest.json"}
    assert files == set(WANT)


def test_the_honest_bundle_they_were_made_from_verifies():
    result = verify_bundle(BUNDLES / "honest.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("VALID")


@pytest.mark.parametrize("name", sorted(WANT))
def test_a_garbage_bundle_is_an_invalid_verdict_naming_the_damage(name):
    check, phrase = WANT[name]
    result = verify_bundle(BUNDLES / name, "--json")
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert result.returncode == 1, out
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert any(f["check"] == check and phrase in f["message"] for f in report["findings"]), report["findings"]


def test_an_oversized_bundle_is_refused_before_it_is_parsed(tmp_path):
    honest = json.loads((BUNDLES / "honest.json").read_text())
    honest["handoffs"][0]["handoff"]["record"]["outputs"] = {"padding": "x" * MAX_BUNDLE_BYTES}
    big = tmp_path / "oversized.json"
    big.write_text(json.dumps(honest))
    result = verify_bundle(big)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    assert "[bundle]" in result.stdout and f"at most {MAX_BUNDLE_BYTES} are accepted" in result.stdout
