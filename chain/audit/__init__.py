"""The auditor: everything that judges evidence rather than producing it.

evidence   the evidence bundle a case exports (records, signatures, anchors, registry history)
case       ``parse_bundle`` and ``verify_case``: one function per numbered check, each finding named
batch      handoffs anchored inside Merkle batches, as the chain's batch events tell them
ledger     the whole ledger reconciled with the store (every anchor its record, every record its anchor)
proofs     EIP-1186 state proofs, verified offline against a block's state root
proven     check 15: offline under a trust root, each anchor, block and signer proven by the bundle's
           headers (cosigned by agencies, or sealed by QBFT validators) and state proofs
trust      the auditor's trust root: the chain, contracts and head keys pinned once, and what departs from it
"""
