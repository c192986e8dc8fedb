"""Sealing rules: one block per batch, refused transactions left out, gas limit respected."""

from __future__ import annotations

from chain.node import LedgerNode, genesis_for
from chain.node.index import get_block, get_receipt
from tests.chain.conftest import FUNDS

FEE = {"gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": 1337}


def raw(acct, to, nonce, **extra):
    return bytes(acct.sign_transaction({"to": to, "value": 1, "nonce": nonce, **FEE, **extra}).raw_transaction)


def seal_pending(node):
    batch, node.sealer.pending = node.sealer.pending, []
    node.sealer.seal(batch)


def test_refused_transaction_is_left_out_of_the_block(data_dir, genesis, accounts):
    alice, bob = accounts[:2]
    node = LedgerNode(data_dir, genesis=genesis)  # not started: we drive the sealer by hand
    try:
        good = node.send_raw_transaction(raw(alice, bob.address, 0))
        # slip in a transaction the EVM refuses (nonce gap), bypassing submission checks
        bad = node._tx_builder.decode(raw(alice, bob.address, 5))
        with node.sealer.lock:
            node.sealer.add(bad, bytes.fromhex(alice.address[2:]))
        seal_pending(node)
        with node.store.read() as conn:
            block = get_block(conn, number=1)
            assert block["transactions"] == ["0x" + good.hex()]
            assert get_receipt(conn, bad.hash) is None
        assert bad.hash in node.sealer.dropped
        assert node.sealer.next_nonce == {} and node.sealer.inflight == {}
        assert node.pending_nonce(bytes.fromhex(alice.address[2:])) == 1
    finally:
        node.stop()


def test_block_gas_limit_defers_the_rest(data_dir, accounts):
    alice, bob = accounts[:2]
    genesis = genesis_for({alice.address: FUNDS}, [alice.address], gas_limit=100_000)
    node = LedgerNode(data_dir, genesis=genesis)
    try:
        hashes = [node.send_raw_transaction(raw(alice, bob.address, i)) for i in range(10)]
        counts = []
        while node.sealer.pending:
            seal_pending(node)
            with node.store.read() as conn:
                counts.append(len(get_block(conn, number=len(counts) + 1)["transactions"]))
        assert counts == [4, 4, 2]
        with node.store.read() as conn:
            assert all(get_receipt(conn, h)["status"] == "0x1" for h in hashes)
    finally:
        node.stop()


def test_evm_failure_drops_only_the_culprit(data_dir, genesis, accounts, monkeypatch):
    from chain.node.evm import VM_CLASS

    alice, bob, carol = accounts[:3]
    node = LedgerNode(data_dir, genesis=genesis)
    try:
        hashes = [node.send_raw_transaction(raw(a, accounts[3].address, 0)) for a in (alice, bob, carol)]
        original = VM_CLASS.apply_transaction

        def flaky(self, header, tx):
            if tx.hash == hashes[1]:
                raise RuntimeError("boom")
            return original(self, header, tx)

        monkeypatch.setattr(VM_CLASS, "apply_transaction", flaky)
        seal_pending(node)
        with node.store.read() as conn:
            assert get_block(conn, number=1)["transactions"] == ["0x" + hashes[0].hex(), "0x" + hashes[2].hex()]
            assert get_block(conn, number=2) is None
        assert hashes[1] in node.sealer.dropped
    finally:
        node.stop()


def test_block_times_run_ahead_of_the_clock_by_a_bounded_lead(data_dir, genesis, accounts, monkeypatch):
    """Blocks in a burst get whole-second times, each after its parent's; past MAX_LEAD_S ahead of
    the clock the sealer waits for it (service levels and the audit read block times)."""
    import time

    from chain.node import sealer

    monkeypatch.setattr(sealer, "MAX_LEAD_S", 1)
    alice, bob = accounts[:2]
    node = LedgerNode(data_dir, genesis=genesis, block_time=0.001)
    node.start("127.0.0.1", 0)
    try:
        for nonce in range(4):  # one block each, back to back: unbounded, the fourth would be ~4 s ahead
            h = node.send_raw_transaction(raw(alice, bob.address, nonce))
            while True:
                with node.store.read() as conn:
                    receipt = get_receipt(conn, h)
                if receipt is not None:
                    break
                time.sleep(0.002)
            with node.store.read() as conn:
                block = get_block(conn, number=int(receipt["blockNumber"], 16))
            assert int(block["timestamp"], 16) <= time.time() + 1 + 1  # the lead, plus the second it rounds to
    finally:
        node.stop()
