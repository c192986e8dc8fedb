"""Benchmark of the embedded ledger node (chain/node): prints JSON.

- throughput (txs/s, submit over HTTP until the last receipt) at block sizes 1, 10, 50, 100, 200
  (and 500), for plain value transfers and for a contract call that emits one event;
- in process, without HTTP: submission cost per tx and seal time (build + one SQLite commit)
  for a block of exactly that size;
- eth_getLogs over 1,000 events.

    .venv/bin/python bench/node.py [--sizes 1,10,50,100,200,500] [--txs 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from web3 import Web3  # noqa: E402

from chain.node import LedgerNode, genesis_for  # noqa: E402

NOTES = """
# pragma version ~=0.4
# pragma evm-version cancun
event Noted:
    key: indexed(bytes32)
    who: indexed(address)
    amount: uint256

@external
def note(key: bytes32, amount: uint256):
    log Noted(key=key, who=msg.sender, amount=amount)
"""

FEE = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": 1337}


def compile_notes():
    import vyper

    out = vyper.compile_code(NOTES, output_formats=["abi", "bytecode"])
    return out["abi"], out["bytecode"]


def start(tmp: Path, accounts, block_size: int, block_time: float):
    """The node in its own process (as in production), so the client's GIL is not its GIL."""
    genesis = tmp / "genesis.json"
    genesis.write_text(json.dumps(genesis_for({a.address: 10**27 for a in accounts})))
    ready = tmp / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chain.node",
            "--data-dir",
            str(tmp / "data"),
            "--genesis",
            str(genesis),
            "--ready-file",
            str(ready),
            "--block-time",
            str(block_time),
            "--max-block-txs",
            str(block_size),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError("node exited")
        time.sleep(0.05)
    url = json.loads(ready.read_text())["url"]
    return proc, Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))


def stop(proc) -> None:
    proc.terminate()
    proc.wait(60)


def deploy(w3, acct, abi, bytecode):
    tx = {"data": bytecode, "gas": 1_000_000, "nonce": w3.eth.get_transaction_count(acct.address), **FEE}
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01).contractAddress


def run_load(w3, accounts, make_tx, total: int) -> float:
    """Each account's thread sends its (pre-signed) share in nonce order; returns txs/s."""
    per = total // len(accounts)
    signed = []
    for acct in accounts:
        base = w3.eth.get_transaction_count(acct.address, "pending")
        signed.append([acct.sign_transaction(make_tx(acct, base + i)).raw_transaction for i in range(per)])
    hashes: list[list] = [[] for _ in accounts]

    def send(i):
        client = Web3(Web3.HTTPProvider(w3.provider.endpoint_uri))
        hashes[i] = [client.eth.send_raw_transaction(raw) for raw in signed[i]]

    t0 = time.perf_counter()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(accounts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for hs in hashes:
        w3.eth.wait_for_transaction_receipt(hs[-1], timeout=600, poll_latency=0.01)
    elapsed = time.perf_counter() - t0
    assert all(w3.eth.get_transaction_receipt(h).status == 1 for hs in hashes for h in hs[::50])
    return per * len(accounts) / elapsed


def block_sizes_of(w3, first: int) -> list[int]:
    return [len(w3.eth.get_block(n)["transactions"]) for n in range(first, w3.eth.block_number + 1)]


def bench_size(size: int, total: int, accounts, abi, bytecode) -> dict:
    """End to end over HTTP: 8 client threads send pre-signed txs, until the last receipt."""
    out = {"block_size": size}
    with tempfile.TemporaryDirectory() as tmp:
        proc, w3 = start(Path(tmp), accounts, size, block_time=0.05)
        try:
            addr = deploy(w3, accounts[0], abi, bytecode)
            contract = w3.eth.contract(address=addr, abi=abi)
            n = min(total, max(200, size * 10))
            out["txs"] = n
            out["transfer_txs_per_s"] = round(
                run_load(
                    w3,
                    accounts,
                    lambda a, nonce: {"to": accounts[-1].address, "value": 1, "gas": 21000, "nonce": nonce, **FEE},
                    n,
                ),
                1,
            )
            calldata = contract.encode_abi("note", [b"k" * 32, 7])
            first = w3.eth.block_number + 1
            out["event_call_txs_per_s"] = round(
                run_load(
                    w3,
                    accounts,
                    lambda a, nonce: {"to": addr, "data": calldata, "gas": 60_000, "nonce": nonce, **FEE},
                    n,
                ),
                1,
            )
            out["mean_txs_per_block"] = round(statistics.mean(block_sizes_of(w3, first)), 1)
        finally:
            stop(proc)
    return out


def bench_seal(sizes: list[int], accounts, abi, bytecode, rounds: int = 3) -> list[dict]:
    """In process, no HTTP: time to submit, and to seal + commit exactly B event calls."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        node = LedgerNode(Path(tmp), genesis=genesis_for({a.address: 10**27 for a in accounts}), max_block_txs=100_000)
        try:
            deployer = accounts[0]
            node.send_raw_transaction(
                bytes(
                    deployer.sign_transaction({"data": bytecode, "gas": 1_000_000, "nonce": 0, **FEE}).raw_transaction
                )
            )
            batch, node.sealer.pending = node.sealer.pending, []
            node.sealer.seal(batch)
            addr = json.loads(node.store.writer.execute("SELECT receipt FROM txs").fetchone()[0])["contractAddress"]
            data = Web3().eth.contract(abi=abi).encode_abi("note", [b"k" * 32, 7])
            nonces = {a.address: 1 if a is deployer else 0 for a in accounts}
            for size in sizes:
                sub, seal = [], []
                for _ in range(rounds):
                    raws = []
                    for i in range(size):
                        a = accounts[i % len(accounts)]
                        raws.append(
                            bytes(
                                a.sign_transaction(
                                    {"to": addr, "data": data, "gas": 60_000, "nonce": nonces[a.address], **FEE}
                                ).raw_transaction
                            )
                        )
                        nonces[a.address] += 1
                    t0 = time.perf_counter()
                    for raw in raws:
                        node.send_raw_transaction(raw)
                    sub.append((time.perf_counter() - t0) / size)
                    batch, node.sealer.pending = node.sealer.pending, []
                    t0 = time.perf_counter()
                    node.sealer.seal(batch)
                    seal.append(time.perf_counter() - t0)
                best = min(seal)
                out.append(
                    {
                        "block_size": size,
                        "seal_ms": round(best * 1000, 2),
                        "seal_us_per_tx": round(best / size * 1e6, 1),
                        "seal_only_txs_per_s": round(size / best, 1),
                        "submit_us_per_tx": round(min(sub) * 1e6, 1),
                    }
                )
        finally:
            node.stop()
    return out


def bench_sequential(accounts, abi, bytecode, n: int = 50) -> float:
    """One client, send and wait for each receipt before the next (latency-bound)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, w3 = start(Path(tmp), accounts, 500, block_time=0.0)
        try:
            addr = deploy(w3, accounts[0], abi, bytecode)
            data = w3.eth.contract(address=addr, abi=abi).encode_abi("note", [b"k" * 32, 7])
            acct = accounts[0]
            nonce = w3.eth.get_transaction_count(acct.address)
            t0 = time.perf_counter()
            for i in range(n):
                raw = acct.sign_transaction(
                    {"to": addr, "data": data, "gas": 60_000, "nonce": nonce + i, **FEE}
                ).raw_transaction
                w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), poll_latency=0.005)
            return round(n / (time.perf_counter() - t0), 1)
        finally:
            stop(proc)


def bench_get_logs(accounts, abi, bytecode, events: int = 1000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc, w3 = start(Path(tmp), accounts, 200, block_time=0.05)
        try:
            addr = deploy(w3, accounts[0], abi, bytecode)
            contract = w3.eth.contract(address=addr, abi=abi)
            keys = [bytes([i % 256]) * 32 for i in range(10)]
            calldata = [contract.encode_abi("note", [keys[i % 10], i]) for i in range(events)]
            counter = iter(range(events))
            run_load(
                w3,
                accounts,
                lambda a, nonce: {"to": addr, "data": calldata[next(counter)], "gas": 60_000, "nonce": nonce, **FEE},
                events,
            )
            timings = {}
            t0 = time.perf_counter()
            all_events = contract.events.Noted().get_logs(from_block=0)
            timings["get_logs_all_s"] = round(time.perf_counter() - t0, 4)
            t0 = time.perf_counter()
            raw = w3.eth.get_logs({"fromBlock": 0, "address": addr})
            timings["raw_eth_getLogs_all_s"] = round(time.perf_counter() - t0, 4)
            t0 = time.perf_counter()
            one_key = contract.events.Noted().get_logs(from_block=0, argument_filters={"key": keys[3]})
            timings["get_logs_one_topic_s"] = round(time.perf_counter() - t0, 4)
            assert len(all_events) == len(raw) == events and len(one_key) == events // 10
            timings["events"] = events
            timings["blocks"] = w3.eth.block_number
            return timings
        finally:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50,100,200,500")
    parser.add_argument("--txs", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    accounts = [Account.from_key("0x" + f"{0xBE1C0 + i:064x}") for i in range(args.senders)]
    abi, bytecode = compile_notes()
    sizes = [int(s) for s in args.sizes.split(",")]
    result = {
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "http_end_to_end": [bench_size(s, args.txs, accounts, abi, bytecode) for s in sizes],
        "in_process_seal": bench_seal(sizes, accounts, abi, bytecode),
        "sequential_send_and_wait_txs_per_s": bench_sequential(accounts, abi, bytecode),
        "get_logs": bench_get_logs(accounts, abi, bytecode),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
