"""The committed artifacts match the sources, and the runtime loader reads them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chain import artifacts
from contracts import build

REPO = Path(build.__file__).resolve().parent.parent


def test_committed_artifacts_are_up_to_date():
    result = subprocess.run(
        [sys.executable, "-m", "contracts.build", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def fresh_build():
    return build.compile_all()


def _edit_source_hash(art):
    art["source_sha256"] = "0" * 64


def _edit_vyper_version(art):
    art["vyper_version"] = "0.3.10"


def _edit_bytecode(art):
    art["bytecode"] = art["bytecode"][:-2] + "00"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_edit_source_hash, "changed since it was built"),
        (_edit_vyper_version, "built with vyper 0.3.10"),
        (_edit_bytecode, "differs from a fresh build"),
        (None, "missing"),
    ],
    ids=["source-changed", "other-compiler", "bytecode-tampered", "artifact-missing"],
)
def test_check_names_what_is_stale(tmp_path, fresh_build, edit, reason):
    for name in build.CONTRACTS:
        shutil.copy(build.artifact_path(name), tmp_path)
    target = build.artifact_path("HandoffLedger", tmp_path)
    if edit is None:
        target.unlink()
    else:
        art = json.loads(target.read_text())
        edit(art)
        target.write_text(build.render(art))

    problems = build.stale(tmp_path, fresh_build)

    assert len(problems) == 1
    assert problems[0].startswith("HandoffLedger.json: ") and reason in problems[0]


@pytest.mark.parametrize("name", build.CONTRACTS)
def test_loader_reads_each_artifact(name):
    art = artifacts.load(name)
    assert set(art) == {"contract_name", "abi", "bytecode", "source_sha256", "vyper_version", "evm_version"}
    assert art["contract_name"] == name
    assert art["evm_version"] == "cancun"
    assert art["bytecode"].startswith("0x")


def test_loader_refuses_unknown_names():
    with pytest.raises(LookupError, match="known: AgencyRegistry, HandoffLedger"):
        artifacts.load("../../pyproject")
