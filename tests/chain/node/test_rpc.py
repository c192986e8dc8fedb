"""web3.py 8 against the embedded ledger node over HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from chain.node import LedgerNode
from tests.chain.conftest import FUNDS, deploy_notes, send, transact, web3_for


def test_value_transfer(w3, accounts):
    alice, bob = accounts[:2]
    assert w3.eth.chain_id == 1337
    assert w3.eth.block_number == 0
    assert w3.eth.get_balance(bob.address) == FUNDS
    receipt = send(w3, alice, {"to": bob.address, "value": 12345})
    assert receipt.status == 1 and receipt.blockNumber == 1 and receipt.gasUsed == 21000
    assert receipt["from"] == alice.address and receipt.to == bob.address
    assert w3.eth.get_balance(bob.address) == FUNDS + 12345
    fee = receipt.gasUsed * receipt.effectiveGasPrice
    assert w3.eth.get_balance(alice.address) == FUNDS - 12345 - fee
    assert w3.eth.get_transaction_count(alice.address) == 1
    tx = w3.eth.get_transaction(receipt.transactionHash)
    assert tx.blockHash == receipt.blockHash and tx.nonce == 0 and tx.value == 12345
    block = w3.eth.get_block(1, full_transactions=True)
    assert block.transactions[0].hash == receipt.transactionHash
    assert w3.eth.get_block(block.hash).number == 1
    assert w3.eth.get_block("earliest").number == 0
    assert w3.eth.get_block("pending").number == 1
    assert w3.eth.get_balance(bob.address, 0) == FUNDS


def test_contract_call_events(w3, accounts):
    alice, bob = accounts[:2]
    notes = deploy_notes(w3, alice)
    assert len(w3.eth.get_code(notes.address)) > 0
    key_a, key_b = b"a" * 32, b"b" * 32
    r1 = transact(w3, alice, notes.functions.note(key_a, 1))
    r2 = transact(w3, bob, notes.functions.note(key_b, 2))
    r3 = transact(w3, alice, notes.functions.note(key_b, 3))
    assert notes.functions.counter().call() == 3
    assert notes.functions.double(21).call() == 42
    assert w3.eth.get_storage_at(notes.address, 0) == (3).to_bytes(32, "big")
    assert notes.functions.counter().call(block_identifier=r1.blockNumber) == 1

    events = notes.events.Noted().get_logs(from_block=0)
    assert [e.args.amount for e in events] == [1, 2, 3]
    assert events[0].transactionHash == r1.transactionHash
    by_key = notes.events.Noted().get_logs(from_block=0, argument_filters={"key": key_b})
    assert [e.args.amount for e in by_key] == [2, 3]
    by_who = notes.events.Noted().get_logs(from_block=0, argument_filters={"who": alice.address})
    assert [e.args.amount for e in by_who] == [1, 3]
    ranged = notes.events.Noted().get_logs(from_block=r2.blockNumber, to_block=r2.blockNumber)
    assert [e.args.amount for e in ranged] == [2]

    topic0 = (
        events[0].topics[0]
        if hasattr(events[0], "topics")
        else w3.eth.get_logs({"fromBlock": 0, "address": notes.address})[0]["topics"][0]
    )
    raw = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": [notes.address],
            "topics": [topic0, None, ["0x" + "00" * 12 + bob.address[2:].lower()]],
        }
    )
    assert [log.transactionHash for log in raw] == [r2.transactionHash]
    either = w3.eth.get_logs({"fromBlock": 0, "topics": [None, ["0x" + key_a.hex(), "0x" + key_b.hex()]]})
    assert len(either) == 3
    assert w3.eth.get_logs({"blockHash": r3.blockHash})[0]["transactionHash"] == r3.transactionHash
    assert w3.eth.get_logs({"fromBlock": 0, "address": bob.address}) == []
    assert w3.eth.get_logs({"fromBlock": r3.blockNumber + 5, "toBlock": r3.blockNumber + 9}) == []
    assert len(w3.eth.get_logs({"fromBlock": r2.blockNumber, "toBlock": r3.blockNumber + 9})) == 2
    block_receipts = w3.provider.make_request("eth_getBlockReceipts", [hex(r3.blockNumber)])["result"]
    assert block_receipts[0]["transactionHash"] == r3.transactionHash.to_0x_hex()
    receipt = w3.eth.get_transaction_receipt(r1.transactionHash)
    assert receipt.logs[0]["address"] == notes.address and receipt.logsBloom != b"\x00" * 256


def test_reverted_call_raises_contract_logic_error(w3, accounts):
    notes = deploy_notes(w3, accounts[0])
    with pytest.raises(ContractLogicError, match="unlucky amount"):
        notes.functions.double(13).call()
    with pytest.raises(ContractLogicError, match="unlucky amount"):
        notes.functions.note(b"x" * 32, 13).estimate_gas({"from": accounts[0].address})
    # with gas given, a refused transaction is mined with status 0
    receipt = transact(w3, accounts[0], notes.functions.note(b"x" * 32, 13), gas=100_000)
    assert receipt.status == 0


@pytest.fixture
def full_blocks(data_dir, genesis) -> Web3:
    """A node whose blocks close when 50 transactions are in, never on its block timer (300 s,
    a guard against a hang): how many blocks a burst takes does not depend on how fast it comes."""
    node = LedgerNode(data_dir, genesis=genesis, block_time=300, max_block_txs=50)
    node.start("127.0.0.1", 0)
    yield web3_for(node.url)
    node.stop()


def test_many_in_flight_from_one_sender(full_blocks, accounts):
    w3, (alice, bob) = full_blocks, accounts[:2]
    fee = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "gas": 21000, "chainId": 1337}
    raws = [
        alice.sign_transaction({"to": bob.address, "value": i + 1, "nonce": i, **fee}).raw_transaction
        for i in range(200)
    ]
    hashes = [w3.eth.send_raw_transaction(raw) for raw in raws]
    assert w3.eth.get_transaction_count(alice.address, "pending") == 200
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.05) for h in hashes]
    assert all(r.status == 1 for r in receipts)
    nonces = [w3.eth.get_transaction(h).nonce for h in hashes]
    assert nonces == list(range(200))
    assert w3.eth.get_transaction_count(alice.address) == 200
    assert w3.eth.get_balance(bob.address) == FUNDS + sum(range(1, 201))
    blocks = {r.blockNumber for r in receipts}
    assert len(blocks) < 100  # batched, not one block per transaction


def test_concurrent_senders(w3, accounts):
    def run(acct):
        return [send(w3, acct, {"to": accounts[3].address, "value": 1}) for _ in range(5)]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, accounts[:3]))
    assert all(r.status == 1 for rs in results for r in rs)
    assert w3.eth.get_balance(accounts[3].address) == FUNDS + 15


def test_unlisted_sender_refused_until_allowed(w3, node, accounts, admin_rpc):
    mallory, alice = accounts[3], accounts[0]
    with pytest.raises(Web3RPCError) as info:
        send(w3, mallory, {"to": alice.address, "value": 1, "gas": 21000})
    assert info.value.rpc_response["error"]["code"] == -32007
    assert "not authorized" in info.value.rpc_response["error"]["message"]
    assert admin_rpc.call("perm_addAccountsToAllowlist", [[mallory.address]]) == "Success"
    assert mallory.address.lower() in admin_rpc.allowlist()
    assert send(w3, mallory, {"to": alice.address, "value": 1}).status == 1
    admin_rpc.call("perm_removeAccountsFromAllowlist", [[mallory.address]])
    with pytest.raises(Web3RPCError):
        send(w3, mallory, {"to": alice.address, "value": 1, "gas": 21000})


def test_bad_nonce_and_chain_id_refused(w3, accounts):
    alice, bob = accounts[:2]
    send(w3, alice, {"to": bob.address, "value": 1})
    base = {
        "to": bob.address,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "chainId": 1337,
    }
    for nonce, word in ((0, "too low"), (5, "too high")):
        raw = alice.sign_transaction({**base, "nonce": nonce}).raw_transaction
        with pytest.raises(Web3RPCError, match=word):
            w3.eth.send_raw_transaction(raw)
    raw = alice.sign_transaction({**base, "nonce": 1, "chainId": 1}).raw_transaction
    with pytest.raises(Web3RPCError, match="chain id"):
        w3.eth.send_raw_transaction(raw)
    with pytest.raises(Web3RPCError, match="invalid"):
        w3.eth.send_raw_transaction(b"\x02garbage")
    poor = {**base, "nonce": 1, "value": FUNDS * 2}
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        w3.eth.send_raw_transaction(alice.sign_transaction(poor).raw_transaction)
    with pytest.raises(Web3RPCError):
        w3.eth.estimate_gas({"from": alice.address, "to": bob.address, "value": FUNDS * 2})


def test_jsonrpc_envelope(node):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "no_such"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["nope"]},
    ]
    out = requests.post(node.url, json=batch, timeout=60).json()
    assert out[0]["result"] == "0x539"
    assert out[1]["error"]["code"] == -32601
    assert out[2]["error"]["code"] == -32602
    assert requests.post(node.url, data=b"{", timeout=60).json()["error"]["code"] == -32700
    fees = requests.post(
        node.url,
        json={"jsonrpc": "2.0", "id": 4, "method": "eth_feeHistory", "params": ["0x2", "latest", [50]]},
        timeout=60,
    ).json()
    assert fees["result"]["oldestBlock"] == "0x0"


def _post(url: str, method: str, *params) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return requests.post(url, json=body, timeout=30).json()


def _raw_transfer(acct, to: str, nonce: int) -> str:
    tx = {"to": to, "value": 1, "nonce": nonce, "gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    return "0x" + bytes(acct.sign_transaction({**tx, "chainId": 1337}).raw_transaction).hex()


def test_receipt_request_for_a_pending_transaction_waits_for_its_block(data_dir, genesis, accounts, monkeypatch):
    """The embedded node answers a receipt poll for a transaction in its pool once the block is
    sealed (one request, not a run of nulls); waiting holds none of the executing slots, so a crowd
    of waiting polls does not stop other requests; an unknown hash still answers null."""
    from chain.node import rpc
    from chain.node.server import MAX_EXECUTING

    monkeypatch.setattr(rpc, "RECEIPT_WAIT_S", 60.0)  # the waits end with the blocks, not on time
    alice, bob = accounts[:2]
    node = LedgerNode(data_dir, genesis=genesis, block_time=3.0)  # blocks well after the polls: all must wait
    node.start("127.0.0.1", 0)
    try:
        first = _post(node.url, "eth_sendRawTransaction", _raw_transfer(alice, bob.address, 0))["result"]
        receipt = _post(node.url, "eth_getTransactionReceipt", first)["result"]
        assert receipt is not None and receipt["transactionHash"] == first and receipt["status"] == "0x1"

        sent = [
            _post(node.url, "eth_sendRawTransaction", _raw_transfer(alice, bob.address, n))["result"]
            for n in range(1, 1 + 2 * MAX_EXECUTING)
        ]
        with ThreadPoolExecutor(len(sent)) as pool:
            waiting = [pool.submit(_post, node.url, "eth_getTransactionReceipt", h) for h in sent]
            deadline = time.monotonic() + 30
            while len(node.sealer.lock._waiters) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.01)  # until every poll waits on the sealer (the block is 0.4 s after the first)
            assert len(node.sealer.lock._waiters) >= len(sent), "the receipt polls did not wait"
            assert _post(node.url, "eth_blockNumber")["result"] == "0x1"  # answered while they wait, before the block
            receipts = [w.result()["result"] for w in waiting]
        assert [r["transactionHash"] for r in receipts] == sent and {r["blockNumber"] for r in receipts} == {"0x2"}
        assert _post(node.url, "eth_getTransactionReceipt", "0x" + "ab" * 32)["result"] is None
    finally:
        node.stop()
