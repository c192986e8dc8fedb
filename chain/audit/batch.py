"""(7b) Handoffs anchored inside a Merkle batch, for the auditor (``chain.audit``).

The bundle's anchor for such a handoff names the batch root, the leaf index, the batch size and
the inclusion proof. The leaf is rebuilt from the record itself (``handoff hash || step id ||
case commitment``, see ``chain.batch``), so a proof that verifies binds the record's step and
case too.
  offline  the proof must lead to the root the bundle claims (of the size it claims);
  online   the root must be anchored on the ledger (``BatchAnchored``), by the record's agency,
           and the proof must lead to it for the size the ledger logged; the anchor judged from
           then on is the ledger's event (account, block, log), not the bundle's claim.
Which account may anchor for the agency, and that the agency owned the step, at that block, is
checked by ``verify_case`` from the registry's history like any anchor.

Not checkable here: batched handoffs of the case missing from the bundle (9). A batch's event
names the root and count, not the cases inside, so only the agency's batch contents could tell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chain.anchors import Anchor, BatchAnchor
from chain.audit.evidence import EvidenceBundle, EvidenceItem
from chain.batch import anchor_in_batch, verify_proof
from chain.errors import ChainValueError, VerificationError
from chain.handoff import agency_id
from chain.hexid import bytes32, to_hex

if TYPE_CHECKING:  # only a type here: checking offline never imports the web3 client
    from chain.client import LedgerClient


def batched_anchors(
    bundle: EvidenceBundle, ledger: LedgerClient | None, singles: dict[str, Anchor], find
) -> dict[str, Anchor]:
    """hash -> the anchor to judge by, for every item whose claimed anchor is a batch's and whose
    handoff is not anchored alone; each failure is a finding (``proof`` or ``anchor``)."""
    events: dict[str, BatchAnchor | None] = {}
    found: dict[str, Anchor] = {}
    for item in bundle.handoffs:
        claim, h = item.anchor, item.handoff.hash.lower()
        if claim is None or claim.batch_root is None or h in singles:
            continue
        anchor = _judge(item, claim, ledger, events, find)
        if anchor is not None:
            found[h] = anchor
    return found


def _judge(item: EvidenceItem, claim: Anchor, ledger: LedgerClient | None, events: dict, find) -> Anchor | None:
    rec = item.handoff.record
    if claim.leaf_index is None or claim.batch_size is None or claim.proof is None:
        find("proof", f"the batch anchor (root {claim.batch_root}) lacks its leaf index, size or proof", item)
        return None
    root = claim.batch_root.lower()
    try:
        bytes32(root, "batch root")
    except ChainValueError:
        find("proof", f"the batch root {claim.batch_root!r} is not 32 bytes of hex", item)
        return None
    size = claim.batch_size
    event = None
    if ledger is not None:
        if root not in events:
            events[root] = ledger.batch_of(root)
        event = events[root]
        if event is None:
            find("anchor", f"batch root {root} was never anchored on the ledger", item)
            return None
        size = event.count
    try:
        leaf = verify_proof(item.handoff.hash, rec.flow, rec.step, rec.case, claim.leaf_index, size, claim.proof, root)
    except (VerificationError, ValueError) as exc:
        message = exc.message if isinstance(exc, VerificationError) else str(exc)
        find("proof", f"not included in batch {root} of {size}: {message}", item)
        return None
    if event is None:
        return claim
    if event.agency.lower() != to_hex(agency_id(rec.agency)):
        find("anchor", f"batch {root} was anchored by agency {event.agency}, not by {rec.agency}", item)
    if (claim.block_hash, claim.tx_hash) != (event.block_hash, event.tx_hash):
        find("anchor", "the bundle's anchor reference differs from the ledger's", item)
    return anchor_in_batch(event, item.handoff.hash.lower(), leaf, claim.leaf_index, size, claim.proof)
