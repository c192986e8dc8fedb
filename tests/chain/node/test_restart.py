"""The node persists to its data directory: reopen, resume at the head with all data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chain.adminrpc import AdminRpc
from chain.node import DataDirInUse, GenesisMismatch, LedgerNode
from tests.chain.conftest import ADMIN_KEY, FUNDS, deploy_notes, send, transact, web3_for

ROOT = Path(__file__).resolve().parents[3]


def test_restart_keeps_head_balances_and_logs(data_dir, genesis, accounts):
    alice, bob = accounts[:2]
    node = LedgerNode(data_dir, genesis=genesis, block_time=0.01)
    w3 = web3_for(node.start())
    notes = deploy_notes(w3, alice)
    transact(w3, alice, notes.functions.note(b"k" * 32, 7))
    r = send(w3, alice, {"to": bob.address, "value": 99})
    head, head_hash = w3.eth.block_number, w3.eth.get_block("latest").hash
    logs_before = w3.eth.get_logs({"fromBlock": 0, "address": notes.address})
    node.stop()

    node = LedgerNode(data_dir, block_time=0.01)  # no genesis needed any more
    try:
        w3 = web3_for(node.start())
        assert w3.eth.block_number == head
        assert w3.eth.get_block("latest").hash == head_hash
        assert w3.eth.get_balance(bob.address) == FUNDS + 99
        assert w3.eth.get_transaction_receipt(r.transactionHash).blockHash == r.blockHash
        assert w3.eth.get_logs({"fromBlock": 0, "address": notes.address}) == logs_before
        notes = w3.eth.contract(address=notes.address, abi=notes.abi)
        assert notes.functions.counter().call() == 1
        r2 = transact(w3, alice, notes.functions.note(b"k" * 32, 8))
        assert r2.status == 1 and r2.blockNumber == head + 1
        assert notes.functions.counter().call() == 2
    finally:
        node.stop()
    # the same genesis again is fine, a different one is refused
    LedgerNode(data_dir, genesis=genesis).stop()
    with pytest.raises(GenesisMismatch):
        LedgerNode(data_dir, genesis={**genesis, "chain_id": 5})


def test_allowlist_changes_persist(data_dir, genesis, accounts):
    mallory = accounts[3]
    node = LedgerNode(data_dir, genesis=genesis)
    node.start(admin_public_key=ADMIN_KEY[1])
    AdminRpc(node.admin_url, ADMIN_KEY[0]).allow_accounts([mallory.address])
    node.stop()
    node = LedgerNode(data_dir, genesis=genesis)
    try:
        w3 = web3_for(node.start())
        assert send(w3, mallory, {"to": accounts[0].address, "value": 1}).status == 1
    finally:
        node.stop()


def test_one_node_per_data_dir(data_dir, genesis):
    node = LedgerNode(data_dir, genesis=genesis)
    try:
        with pytest.raises(DataDirInUse):
            LedgerNode(data_dir, genesis=genesis)
    finally:
        node.stop()
    LedgerNode(data_dir).stop()  # free again


def test_no_genesis_no_chain(tmp_path):
    with pytest.raises(ValueError, match="genesis"):
        LedgerNode(tmp_path / "empty")


def start_cli(
    data_dir: Path, ready: Path, genesis_file: Path | None = None, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "chain.node",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--ready-file",
        str(ready),
        *extra,
    ]
    if genesis_file is not None:
        cmd += ["--genesis", str(genesis_file)]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_ready(proc: subprocess.Popen, ready: Path, timeout: float = 180) -> dict:
    """Until the node writes its ready file (the bound only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"node exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("node did not become ready")


def test_cli_ready_file_and_sigterm(tmp_path, genesis, accounts):
    gfile = tmp_path / "genesis.json"
    gfile.write_text(json.dumps(genesis))
    ready = tmp_path / "ready.json"
    proc = start_cli(tmp_path / "d", ready, gfile)
    try:
        info = wait_ready(proc, ready)
        assert info["chain_id"] == 1337 and info["pid"] == proc.pid
        assert proc.stdout.readline().strip() == info["url"]
        w3 = web3_for(info["url"])
        # leave one transaction pending and stop: it is sealed before exit
        tx_hash = send(w3, accounts[0], {"to": accounts[1].address, "value": 5, "gas": 21000}, wait=False)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
    finally:
        proc.kill()
    ready.unlink()
    proc = start_cli(tmp_path / "d", ready)  # genesis optional now
    try:
        w3 = web3_for(wait_ready(proc, ready)["url"])
        assert w3.eth.get_transaction_receipt(tx_hash).status == 1
    finally:
        proc.terminate()
        proc.wait(30)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**genesis, "chain_id": 7}))
    proc = start_cli(tmp_path / "d", ready, other)
    assert proc.wait(120) == 2
    assert "differs" in proc.stderr.read()
