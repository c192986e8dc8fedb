"""Fixtures for the embedded ledger node: keys, a compiled test contract, a started node."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from chain.adminrpc import AdminRpc, new_admin_key
from chain.node import LedgerNode, genesis_for

KEYS = ["0x" + f"{i:064x}" for i in (0xA11CE, 0xB0B, 0xCA401, 0xD00D)]
FUNDS = 10**24

NOTES_SOURCE = """
# pragma version ~=0.4
# pragma evm-version cancun

event Noted:
    key: indexed(bytes32)
    who: indexed(address)
    amount: uint256

counter: public(uint256)

@external
def note(key: bytes32, amount: uint256):
    assert amount != 13, "unlucky amount"
    self.counter += 1
    log Noted(key=key, who=msg.sender, amount=amount)

@external
def note_many(key: bytes32, n: uint256):
    for i: uint256 in range(n, bound=200):
        log Noted(key=key, who=msg.sender, amount=i)
    self.counter += n

@external
@view
def double(amount: uint256) -> uint256:
    assert amount != 13, "unlucky amount"
    return amount * 2
"""


@functools.lru_cache(maxsize=1)
def notes_artifact() -> tuple[list, str]:
    import vyper

    out = vyper.compile_code(NOTES_SOURCE, output_formats=["abi", "bytecode"])
    return out["abi"], out["bytecode"]


@pytest.fixture
def accounts():
    """alice, bob, carol are on the allowlist; mallory is funded but not allowed."""
    return [Account.from_key(k) for k in KEYS]


@pytest.fixture
def genesis(accounts):
    funded = {a.address: FUNDS for a in accounts}
    return genesis_for(funded, [a.address for a in accounts[:3]], chain_id=1337)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "ledger"


ADMIN_KEY = new_admin_key()  # (private PEM, public PEM) of the operator, for the node's admin interface


@pytest.fixture
def node(data_dir, genesis):
    n = LedgerNode(data_dir, genesis=genesis, block_time=0.02)
    n.start("127.0.0.1", 0, admin_public_key=ADMIN_KEY[1])
    yield n
    n.stop()


@pytest.fixture
def admin_rpc(node) -> AdminRpc:
    """The operator's client of the node's admin interface (perm_*, loopback, JWT)."""
    return AdminRpc(node.admin_url, ADMIN_KEY[0])


def web3_for(url: str) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))


@pytest.fixture
def w3(node) -> Web3:
    return web3_for(node.url)


def send(w3: Web3, acct, tx: dict, wait: bool = True):
    """Fill, sign, send raw; return the receipt (or the hash when wait=False)."""
    tx = {"from": acct.address, "chainId": w3.eth.chain_id, **tx}
    if "nonce" not in tx:
        tx["nonce"] = w3.eth.get_transaction_count(acct.address, "pending")
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        tx["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
        tx["maxFeePerGas"] = tx["maxPriorityFeePerGas"] + 2 * w3.eth.get_block("latest")["baseFeePerGas"]
    tx.pop("from")
    tx_hash = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    if not wait:
        return tx_hash
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)


def deploy_notes(w3: Web3, acct):
    abi, bytecode = notes_artifact()
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor().build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
    )
    tx.pop("from", None)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction), timeout=60, poll_latency=0.02
    )
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=abi)


def transact(w3: Web3, acct, fn, **extra):
    """Build a contract call with web3's defaults (gas estimate, EIP-1559 fees), sign, send."""
    tx = fn.build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending"), **extra}
    )
    tx.pop("from", None)
    tx_hash = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)
