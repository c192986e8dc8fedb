"""eth_getLogs on ~1,000 events is served from the index, never by walking blocks."""

from __future__ import annotations

from tests.chain.conftest import deploy_notes, transact


def test_get_logs_thousand_events_from_index(w3, node, accounts, monkeypatch):
    alice, bob = accounts[:2]
    notes = deploy_notes(w3, alice)
    keys = [bytes([i]) * 32 for i in range(4)]
    receipts = []
    for i in range(20):  # 20 transactions x 50 events = 1,000 events
        who = alice if i % 2 == 0 else bob
        receipts.append(transact(w3, who, notes.functions.note_many(keys[i % 4], 50)))
    assert all(r.status == 1 and len(r.logs) == 50 for r in receipts)

    # py-evm is out of reach from here on: everything below must come from the index tables
    def no_evm():
        raise AssertionError("getLogs touched py-evm")

    monkeypatch.setattr(node, "reader", no_evm)

    events = notes.events.Noted().get_logs(from_block=0)
    assert len(events) == 1000
    order = [(e.blockNumber, e.logIndex) for e in events]
    assert order == sorted(order)
    assert [e.args.amount for e in events[:50]] == list(range(50))
    key2 = notes.events.Noted().get_logs(from_block=0, argument_filters={"key": keys[2]})
    assert len(key2) == 250 and all(e.args.key == keys[2] for e in key2)
    bobs = notes.events.Noted().get_logs(from_block=0, argument_filters={"who": bob.address})
    assert len(bobs) == 500
    first, last = receipts[0].blockNumber, receipts[9].blockNumber
    ranged = notes.events.Noted().get_logs(from_block=first, to_block=last)
    assert len(ranged) == sum(len(r.logs) for r in receipts if first <= r.blockNumber <= last)
    both = w3.eth.get_logs(
        {"fromBlock": 0, "address": notes.address, "topics": [None, ["0x" + keys[0].hex(), "0x" + keys[1].hex()]]}
    )
    assert len(both) == 500
    assert w3.eth.get_logs({"fromBlock": 0, "topics": [None, "0x" + "ee" * 32]}) == []
