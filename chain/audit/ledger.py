"""The whole ledger against the off-chain store: every anchor on the chain has its record in the
store, and every stored record has its anchor. Pure over the two sides (``reconcile``); only
``reconcile_ledger`` reads the chain.

Findings use the auditor's check names (chain.audit):
  complete  an anchor on the ledger whose record the store does not hold (a single anchor, or a
            batch root anchoring more leaves than the store's records prove: distinct leaves,
            each by a proof that leads to the root, so a record listed twice hides no missing
            one); a record the store lists twice
  anchor    a stored record the ledger has no anchor of, or whose anchor disagrees with the record
            (another case, step or agency) or with the store's anchor reference
A record's anchor is judged by its kind: ``KINDS`` maps each kind to its check, so a new way of
anchoring adds one function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel

from chain.anchors import Anchor, BatchAnchor
from chain.audit.case import Finding
from chain.audit.trust import OPERATOR_CLAIMED, TrustBasis
from chain.batch import verify_proof
from chain.errors import VerificationError
from chain.handoff import agency_id, step_id
from chain.hexid import to_hex

if TYPE_CHECKING:  # only a type here: checking offline never imports the web3 client
    from chain.client import LedgerClient


class StoredRecord(BaseModel):
    """One handoff as the store keeps it, without personal data (what an auditor may list)."""

    hash: str
    case_id: str
    case_commitment: str
    flow: str
    step: str
    agency: str
    outcome: str
    anchor: Anchor | None = None


class LedgerReport(BaseModel):
    ok: bool
    anchors_on_chain: int
    batches_on_chain: int = 0
    records_in_store: int
    matched: int
    findings: list[Finding]
    trust: TrustBasis = OPERATOR_CLAIMED  # pinned: the contracts and node judged by the trust root

    def with_findings(self, first: list[Finding]) -> LedgerReport:
        """The report with ``first`` (e.g. what the trust root refused) before its own findings."""
        findings = [*first, *self.findings]
        return self.model_copy(update={"findings": findings, "ok": not findings})


@dataclass
class _Chain:
    """The ledger's side, indexed, and what the store's records have claimed of it so far."""

    anchors: dict[str, Anchor]
    batches: dict[str, BatchAnchor]
    claimed: set[str] = field(default_factory=set)
    in_batch: defaultdict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # root -> proven leaves


Find = Callable[..., None]


def _single(record: StoredRecord, chain: _Chain, find: Find) -> bool:
    """A handoff anchored alone: its HandoffAnchored event says the same as the record."""
    real = chain.anchors.get(record.hash.lower())
    if real is None:
        find("anchor", "the store holds this record but the ledger has no anchor of it")
        return False
    chain.claimed.add(record.hash.lower())
    _same_owner(record, real.case_commitment, real.step, real.agency, find)
    ref = record.anchor
    if ref is None:
        find("anchor", f"the store has no anchor reference, but the ledger anchored it in block {real.block_number}")
    elif (ref.tx_hash.lower(), ref.block_hash.lower()) != (real.tx_hash.lower(), real.block_hash.lower()):
        find("anchor", f"the store's anchor reference (tx {ref.tx_hash}) differs from the ledger's (tx {real.tx_hash})")
    return True


def _batched(record: StoredRecord, chain: _Chain, find: Find) -> bool:
    """A handoff anchored in a Merkle batch: the root is on the ledger, from the record's agency,
    and the stored inclusion proof leads from the record's leaf to it."""
    ref = record.anchor
    root = (ref.batch_root or "").lower()
    batch = chain.batches.get(root)
    if batch is None:
        find("anchor", f"the store says batch {root}, which the ledger does not hold")
        return False
    if (alone := chain.anchors.get(record.hash.lower())) is not None:
        chain.claimed.add(record.hash.lower())
        find("anchor", f"anchored twice: alone in block {alone.block_number} and in batch {root}")
    if batch.agency.lower() != to_hex(agency_id(record.agency)):
        find("anchor", f"batch {root} was anchored by another agency than {record.agency}")
    try:
        verify_proof(
            record.hash,
            record.flow,
            record.step,
            record.case_commitment,
            ref.leaf_index or 0,
            batch.count,
            ref.proof or [],
            root,
        )
    except VerificationError as exc:
        find("anchor", f"the stored inclusion proof does not lead to batch {root}: {exc}")
    else:  # the proof fixes the leaf's index in the batch of its size: one record per leaf
        chain.in_batch[root].add(ref.leaf_index or 0)
    return True


KINDS: dict[str, Callable[[StoredRecord, _Chain, Find], bool]] = {"single": _single, "batch": _batched}


def _kind(record: StoredRecord) -> str:
    return "batch" if record.anchor is not None and record.anchor.batch_root else "single"


def _same_owner(record: StoredRecord, case: str, step: str, agency: str, find: Find) -> None:
    if case.lower() != record.case_commitment.lower():
        find("anchor", "the ledger anchored it for another case than the store records")
    if step.lower() != to_hex(step_id(record.flow, record.step)):
        find("anchor", f"the ledger anchored it for another step than {record.flow}/{record.step}")
    if agency.lower() != to_hex(agency_id(record.agency)):
        find("anchor", f"the ledger anchored it for another agency than {record.agency}")


def reconcile(
    records: Iterable[StoredRecord], anchors: Iterable[Anchor], batches: Iterable[BatchAnchor] = ()
) -> LedgerReport:
    records = list(records)
    chain = _Chain({a.handoff.lower(): a for a in anchors}, {b.root.lower(): b for b in batches})
    findings: list[Finding] = []
    matched = 0
    seen: set[str] = set()
    for record in records:

        def find(check: str, message: str, record: StoredRecord = record) -> None:
            findings.append(
                Finding(check=check, message=f"case {record.case_id}: {message}", handoff=record.hash, step=record.step)
            )

        if record.hash.lower() in seen:
            find("complete", "the store lists this record twice")
            continue
        seen.add(record.hash.lower())
        matched += KINDS[_kind(record)](record, chain, find)
    for h, a in chain.anchors.items():
        if h not in chain.claimed:
            findings.append(
                Finding(
                    check="complete",
                    handoff=h,
                    message=(
                        f"anchored on the ledger (block {a.block_number}, tx {a.tx_hash}, account {a.account}) "
                        "but the store has no record of it"
                    ),
                )
            )
    for root, b in chain.batches.items():
        if len(chain.in_batch[root]) < b.count:
            findings.append(
                Finding(
                    check="complete",
                    message=(
                        f"batch {root} (block {b.block_number}) anchors {b.count} handoffs; the store's records "
                        f"prove {len(chain.in_batch[root])} distinct leaves of it"
                    ),
                )
            )
    return LedgerReport(
        ok=not findings,
        anchors_on_chain=len(chain.anchors),
        batches_on_chain=len(chain.batches),
        records_in_store=len(records),
        matched=matched,
        findings=findings,
    )


def reconcile_ledger(records: Iterable[StoredRecord], ledger: LedgerClient) -> LedgerReport:
    """Every HandoffAnchored and BatchAnchored event since the deployment block, against the store."""
    return reconcile(records, ledger.all_anchors(), ledger.all_batches())


__all__ = ["KINDS", "LedgerReport", "StoredRecord", "reconcile", "reconcile_ledger"]
