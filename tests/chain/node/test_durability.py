"""kill -9 at a random moment: every receipt ever returned survives the restart."""

from __future__ import annotations

import json
import random
import threading
import time

from tests.chain.conftest import send, web3_for
from tests.chain.node.test_restart import start_cli, wait_ready


def test_kill9_keeps_every_returned_receipt(tmp_path, genesis, accounts):
    gfile = tmp_path / "genesis.json"
    gfile.write_text(json.dumps(genesis))
    ready = tmp_path / "ready.json"
    data = tmp_path / "d"
    proc = start_cli(data, ready, gfile, ("--block-time", "0.01"))
    seen: dict[bytes, bytes] = {}  # tx hash -> block hash, for every receipt returned
    seen_lock = threading.Lock()
    stop = threading.Event()
    # the kill comes once a random number of receipts is acknowledged (then at a random moment
    # within a few blocks), not after a fixed time: a slow machine acknowledges fewer per second
    target, enough = random.randint(20, 200), threading.Event()
    try:
        url = wait_ready(proc, ready)["url"]

        def fire(acct, burst: int) -> None:
            w3 = web3_for(url)
            nonce = w3.eth.get_transaction_count(acct.address, "pending")
            fee = {"gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": 1337}
            while not stop.is_set():
                try:
                    hashes = []
                    for _ in range(burst):
                        raw = acct.sign_transaction(
                            {"to": accounts[3].address, "value": 1, "nonce": nonce, **fee}
                        ).raw_transaction
                        hashes.append(w3.eth.send_raw_transaction(raw))
                        nonce += 1
                    for h in hashes:
                        r = w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.01)
                        with seen_lock:
                            seen[bytes(h)] = bytes(r.blockHash)
                            if len(seen) >= target:
                                enough.set()
                except Exception:
                    return  # the node died under us

        threads = [
            threading.Thread(target=fire, args=(a, b), daemon=True)
            for a, b in zip(accounts[:3], (1, 5, 20), strict=False)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 200  # only guards against a hang
        while not enough.wait(0.05) and proc.poll() is None and any(t.is_alive() for t in threads):
            assert time.monotonic() < deadline, f"{len(seen)} of {target} receipts in 200 s"
        time.sleep(random.uniform(0, 0.05))
        proc.kill()  # SIGKILL
        proc.wait(30)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        proc.kill()
    with seen_lock:
        remembered = dict(seen)
    assert len(remembered) > 10, "too few receipts before the kill to mean anything"

    ready.unlink()
    proc = start_cli(data, ready)
    try:
        w3 = web3_for(wait_ready(proc, ready)["url"])
        for tx_hash, block_hash in remembered.items():
            receipt = w3.eth.get_transaction_receipt(tx_hash)
            assert receipt is not None, f"lost {tx_hash.hex()}"
            assert bytes(receipt.blockHash) == block_hash
            assert w3.eth.get_block(block_hash).number == receipt.blockNumber
        # the chain goes on from where it was
        last = max(w3.eth.get_transaction_receipt(h).blockNumber for h in remembered)
        r = send(w3, accounts[0], {"to": accounts[1].address, "value": 1, "gas": 21000})
        assert r.status == 1 and r.blockNumber > last
    finally:
        proc.terminate()
        proc.wait(30)
