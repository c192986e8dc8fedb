"""(15) proven: offline, under a trust root, each handoff's anchor, block and signer are proven
from the bundle's ``proofs`` rather than taken from the operator (DESIGN.md, "Trust model").

For each block a handoff was anchored in (``chain.audit.evidence.BlockProof``):
  header      the header's RLP hashes to the block hash the anchor names, its number is the
              anchor's block and its time the anchor's (the auditor hashes it and reads its
              state root itself)
  checkpoint  a quorum of the trust root's agencies cosigned that block's hash on the pinned
              chain (the bundle's ``checkpoints``, ``chain.checkpoint``): distinct agencies, each
              by the key the root pins for it; a checkpoint by another key, over another hash or
              chain, or whose signature does not recover its named signer does not count
  ledger      the HandoffLedger's entry for the handoff (for a batched one, its batch root) in
              that block's state holds that block's number (EIP-1186 proof to the state root)
  registry    the AgencyRegistry's entry for the agency in that block's state makes the
              handoff's signer one the registry accepted there (``SignerSchedule``; that the
              agency was active the ledger's entry proves: the contract anchors for no other)
  seal        (a trust root of QBFT validators, Besu) instead of checkpoints: the header's
              committed seals, by a quorum of the pinned validators, over the header itself; its
              block hash taken as Besu takes it (``chain.qbft``)
A handoff whose block has no proof is ``unauthenticated``; a bundle without any proofs gets one
finding saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from chain.anchors import Anchor, SignerSchedule
from chain.audit.evidence import BlockProof, EvidenceBundle, EvidenceItem
from chain.audit.proofs import NodeCache, ProvenStorage, StateNodes, agency_slots
from chain.audit.trust import QbftValidators, TrustRoot
from chain.errors import VerificationError
from chain.header import Header, decode_header
from chain.proving import anchor_slot
from chain.qbft import read_qbft_header

Find = Callable[..., None]


@dataclass
class _Block:
    """One block's proof as judged: its header, if a quorum vouched for it; each contract's account
    proof checked once, on first use (a VerificationError then is kept and reported per handoff).
    ``cache``: the bundle's trie nodes as read and decoded (one per verification, ``NodeCache``)."""

    proof: BlockProof
    header: Header | None
    cache: NodeCache
    _storage: dict[str, ProvenStorage | VerificationError] = field(default_factory=dict)
    _state: StateNodes = field(default_factory=dict)  # the state trie's nodes, read once

    def storage(self, contract: str, address: str) -> ProvenStorage:
        if contract not in self._storage:
            proof = getattr(self.proof, contract)
            try:
                self._storage[contract] = ProvenStorage(self.header.state_root, address, proof, self._state, self.cache)
            except VerificationError as exc:
                self._storage[contract] = exc
        found = self._storage[contract]
        if isinstance(found, VerificationError):
            raise found
        return found


def check_proven(bundle: EvidenceBundle, anchors: dict[str, Anchor], trust: TrustRoot, find: Find) -> int:
    """(15) The number of handoffs whose anchor, block and signer the bundle's proofs prove; a
    finding for every one it cannot prove and every proof that fails."""
    anchored = [(i, anchors[i.handoff.hash.lower()]) for i in bundle.handoffs if i.handoff.hash.lower() in anchors]
    if not anchored:
        return 0
    if isinstance(trust.heads, QbftValidators) and not trust.heads.validators:
        find("unauthenticated", "the trust root pins no QBFT validator: no header is vouched for")
        return 0
    if not bundle.proofs:
        find(
            "unauthenticated",
            "the bundle carries no proofs: its anchors, blocks and signers are the operator's claim, not proven",
        )
        return 0
    blocks = _blocks(bundle, trust, find)
    slots: dict[str, dict[str, int]] = {}  # agency -> its registry slots, for this bundle
    proven = 0
    for item, anchor in anchored:
        block = blocks.get(anchor.block_number)
        if block is None:
            claim = f"no proof for block {anchor.block_number}: its anchor is the operator's claim"
            find("unauthenticated", claim, item)
        elif block.header is not None and _proven(block, item, anchor, trust, find, slots):
            proven += 1
    return proven


def _blocks(bundle: EvidenceBundle, trust: TrustRoot, find: Find) -> dict[int, _Block]:
    """block number -> its proof, the header set only when a quorum vouched for it (else a finding)."""
    out: dict[int, _Block] = {}
    cache = NodeCache()  # this verification's alone: nothing read for another bundle is reused
    for n, proof in enumerate(bundle.proofs):
        try:
            header = decode_header(proof.header)
        except VerificationError as exc:
            find("header", f"proofs[{n}]: {exc.message}")
            continue
        if header.number in out:
            find("header", f"proofs[{n}]: a second proof for block {header.number}")
            continue
        out[header.number] = _Block(proof, header, cache)
    if isinstance(trust.heads, QbftValidators):
        return _sealed(out, trust, find)
    cosigned, ignored = _cosigners(bundle, trust, {(b.header.number, b.header.hash) for b in out.values()})
    for number, block in sorted(out.items()):
        agencies = cosigned.get((number, block.header.hash), set())
        if len(agencies) < trust.heads.quorum:
            notes = [note for at, note in ignored if at in (None, number)]
            find(
                "checkpoint",
                f"block {number} (0x{block.header.hash.hex()}) is cosigned by {len(agencies)} of the trust root's "
                f"agencies ({', '.join(sorted(agencies)) or 'none'}); the quorum is {trust.heads.quorum}"
                + (f"; not counted: {', '.join(notes)}" if notes else ""),
            )
            block.header = None
    return out


def _sealed(blocks: dict[int, _Block], trust: TrustRoot, find: Find) -> dict[int, _Block]:
    """Besu: each header's block hash as Besu takes it, vouched for by the committed seals of a
    quorum of the validators the trust root pins (else a "seal" finding; ``chain.qbft``). The
    pinned set is judged as it is: validator changes after pinning need a new trust root."""
    pinned = {v.lower() for v in trust.heads.validators}
    for number, block in sorted(blocks.items()):
        try:
            q = read_qbft_header(block.proof.header)
        except VerificationError as exc:
            find("header", f"block {number}: {exc.message}")
            block.header = None
            continue
        block.header = replace(block.header, hash=q.hash)
        counted = {s for s in q.sealers if s in pinned}
        if len(counted) < trust.heads.quorum:
            others = [s for s in q.sealers if s not in pinned]
            find(
                "seal",
                f"block {number} (0x{q.hash.hex()}) is sealed by {len(counted)} of the trust root's validators; "
                f"the quorum is {trust.heads.quorum}"
                + (f"; not counted: seals by {', '.join(others)}, keys the trust root does not pin" if others else ""),
            )
            block.header = None
    return blocks


def _cosigners(
    bundle: EvidenceBundle, trust: TrustRoot, needed: set[tuple[int, bytes]]
) -> tuple[dict[tuple[int, bytes], set[str]], list[tuple[int | None, str]]]:
    """(block number, hash) -> the trust root's agencies whose checkpoints cosign it; and what was
    not counted, each with the block it concerns (None: every block). Recovers one signature per
    checkpoint and stops once every block ``needed`` has its quorum."""
    keys = {address.lower(): agency for agency, address in trust.heads.signers.items()}
    cosigned: dict[tuple[int, bytes], set[str]] = {}
    ignored: list[tuple[int | None, str]] = []
    numbers = {number: block_hash for number, block_hash in needed}
    digests: dict[tuple, bytes] = {}  # (chain, blocks) -> their digest: the agencies cosign the same blocks
    for cp in bundle.checkpoints:
        if all(len(cosigned.get(b, ())) >= trust.heads.quorum for b in needed):
            break
        if cp.chain_id != trust.chain_id:
            ignored.append((None, f"one by {cp.signer} over chain {cp.chain_id}"))
            continue
        refs = (cp.chain_id, *((ref.number, ref.hash) for ref in cp.blocks))
        if refs not in digests:
            digests[refs] = cp.digest()
        try:
            signer = cp.recovered_address(digests[refs])
        except VerificationError:
            signer = None
        if signer != cp.signer.lower():
            ignored.append((None, f"one whose signature does not recover its signer {cp.signer}"))
            continue
        if signer not in keys:
            ignored.append((None, f"one by {cp.signer}, a key the trust root does not pin"))
            continue
        for ref in cp.blocks:
            block_hash = bytes.fromhex(ref.hash[2:])
            if numbers.get(ref.number, block_hash) != block_hash:
                ignored.append((ref.number, f"{keys[signer]}'s over another hash of block {ref.number} ({ref.hash})"))
            cosigned.setdefault((ref.number, block_hash), set()).add(keys[signer])
    return cosigned, ignored


def _proven(
    block: _Block, item: EvidenceItem, anchor: Anchor, trust: TrustRoot, find: Find, slots: dict[str, dict[str, int]]
) -> bool:
    header, number = block.header, anchor.block_number
    if "0x" + header.hash.hex() != anchor.block_hash.lower():
        find("header", f"the anchor names block hash {anchor.block_hash}, the proven block {number} is another", item)
        return False
    if header.timestamp != anchor.timestamp:
        find(
            "header",
            f"the anchor claims block time {anchor.timestamp}; block {number}'s header says {header.timestamp}",
            item,
        )
        return False
    try:
        value = block.storage("ledger", trust.ledger).value(anchor_slot(anchor))
    except VerificationError as exc:
        find("ledger-proof", f"block {number}: {exc}", item)
        return False
    what = "its batch root" if anchor.batched else "the handoff"
    if value != number:
        held = f"block {value}" if value else "nothing (never anchored)"
        find("ledger-proof", f"the ledger's state at block {number} holds {held} for {what}, not block {number}", item)
        return False
    agency_id = anchor.agency.lower()
    if agency_id not in slots:
        slots[agency_id] = agency_slots(agency_id)
    entry = _registry_entry(block, slots[agency_id], trust, item, find)
    if entry is None:
        return False
    agency, signer = item.handoff.record.agency, item.handoff.signer.lower()
    schedule = SignerSchedule(
        _address(entry["signer"]),
        _address(entry["next_signer"]) if entry["next_signer"] else None,
        entry["next_signer_from"] if entry["next_signer"] else 0,
    )
    if signer not in schedule.accepted_at(number):
        find(
            "registry-proof",
            f"signed by {item.handoff.signer}, but the registry's state at block {number} accepts "
            f"{' or '.join(sorted(schedule.accepted_at(number)))} for {agency}",
            item,
        )
        return False
    return True


def _registry_entry(block: _Block, slots: dict[str, int], trust: TrustRoot, item: EvidenceItem, find: Find):
    """member -> value of the agency's registry entry (``slots``: its members' slots) in the block's
    state (None: a finding)."""
    try:
        registry = block.storage("registry", trust.registry)
        entry = {"signer": registry.value(slots["signer"]), "next_signer": registry.value(slots["next_signer"])}
        entry["next_signer_from"] = registry.value(slots["next_signer_from"]) if entry["next_signer"] else 0
        return entry
    except VerificationError as exc:
        find("registry-proof", f"block {block.header.number}: {exc}", item)
        return None


def _address(value: int) -> str:
    return "0x" + value.to_bytes(20, "big").hex()


__all__ = ["check_proven"]
