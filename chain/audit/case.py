"""Audit verification of one case's trail: a verdict with findings, offline or against the chain.

The checks, in order (each finding names its check):
  (0) bundle      the bundle parses (within size and nesting bounds), its flow definition is a
                  flow, its registry events are the registry's, its ids are hex; it holds handoffs
  (0a) trust      with a trust root (``chain.audit.trust``): the bundle names the pinned chain,
                  contracts and deployment block, and the ledger is read at the pinned addresses
                  (that the node is the pinned chain, ``trust.open_ledger`` checks first); without
                  one, the report says it was checked against what the operator claims
  (1) commitment  keccak(salt || case id) equals the commitment every record carries
  (2) hash        each record's canonical bytes hash to its stated hash
  (3) signature   the signature recovers the stated signer
  (4) signer      that signer is the agency's registered signing key when it was anchored
                  (online: the registry's events on the chain; offline: those the bundle carries);
                  during a rotation's window (from the SignerRotated event until its effective
                  block) the old and the new key both count, after it only the new one
  (5) flow        the record names this flow and definition version; its agency owns the step
  (6) parents     the record's parents are exactly the handoffs of the steps it depends on
  (7) anchor      the hash is anchored, from the agency's registered account, for this step and
                  case (online: read from the ledger; offline: the bundle's claim is present);
                  in a Merkle batch: the inclusion proof leads to the batch's anchored root
                  (check "proof"; see chain.audit.batch)
  (8) order       every parent was anchored before its child
  (9) complete    every anchor of this case on the ledger has its record in the bundle; no
                  handoff appears twice, no step has two completed handoffs
  (10) decision   ``decided_by`` is what the step's approval policy in the flow definition allows
                  (instant: a rule; clerk: a clerk; rules: a rule or a clerk; an escalation is
                  ``rule:sla``, an undo ``applicant:withdrawal``)
  (11) rules      the record's rules hash, and a rule decision's, is the definition's for the step
  (12) attempt    the attempt number is positive and no more than one plus the case's rejections
  (13) time       the record's time agrees with its anchor block's time (see ``check_time``)
  (14) closing    a closed case's trail ends in one closing record (step ``_closing``, signed by
                  the flow's lead agency, decided ``engine:closing``) that names every other
                  handoff in the bundle, no more and no fewer, and is anchored after all of them;
                  without one the report says the case is open (``closed`` is None): its trail
                  may still grow, and an offline check cannot tell it from a trail cut short
  (15) proven     offline under a trust root: each anchor, its block and the signer the registry
                  held there are proven by the bundle's proofs (headers cosigned by a quorum of
                  the root's agencies, or sealed by its QBFT validators; EIP-1186 proofs from
                  their state roots; see
                  ``chain.audit.proven``); a handoff without them is ``unauthenticated``, so such
                  a bundle is never valid under a trust root. ``Report.proven`` counts the proven
A failing check never stops the others: the auditor gets every finding at once.

Each check is a function (``check_*``, and ``_anchors`` for what the ledger holds): ``verify_case``
runs those of the case as a whole, then ``HANDOFF_CHECKS`` on each handoff in trail order. A new
check is a new function in that sequence.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import rfc8785
from pydantic import BaseModel, ValidationError
from pydantic import Field as PydanticField

from chain import jsonguard
from chain.anchors import Anchor
from chain.audit.batch import batched_anchors
from chain.audit.evidence import EvidenceBundle, EvidenceItem
from chain.audit.proven import check_proven
from chain.audit.trust import OPERATOR_CLAIMED, PINNED, TrustBasis, TrustRoot
from chain.errors import VerificationError
from chain.handoff import CLOSED_BY, CLOSING_STEP, agency_id, case_commitment, definition_hash, step_id
from chain.hexid import to_hex

if TYPE_CHECKING:  # only a type here: checking offline never imports the web3 client
    from chain.client import LedgerClient


class Finding(BaseModel):
    check: str
    message: str
    handoff: str | None = None
    step: str | None = None


class Report(BaseModel):
    case_id: str
    ok: bool
    online: bool
    handoffs: int
    anchored: int
    findings: list[Finding]
    trust: TrustBasis = OPERATOR_CLAIMED  # pinned: judged by the auditor's trust root
    closed: str | None = None  # the final state the closing record names; None: the case is open
    proven: int | None = None  # offline under a trust root: handoffs whose anchor, block and signer are proven

    def with_findings(self, first: list[Finding]) -> Report:
        """The report with ``first`` (e.g. a node the trust root refused) before its own findings."""
        findings = [*first, *self.findings]
        return self.model_copy(update={"findings": findings, "ok": not findings})


MAX_BUNDLE_BYTES = 16 * 1024 * 1024  # a case's bundle is tens of kilobytes; this bounds a hostile one
REGISTRY_FIELDS = {  # what each registry event must carry (hex ids as the ledger client writes them)
    "AgencyRegistered": {"agency": 32, "account": 20, "signer": 20},
    "AccountRotated": {"agency": 32, "new_account": 20},
    "SignerRotated": {"agency": 32, "new_signer": 20},
    "AgencySuspended": {"agency": 32},
    "AgencyReinstated": {"agency": 32},
    "StepAssigned": {"agency": 32, "step": 32},
}


def parse_bundle(data: bytes | str | dict[str, Any]) -> EvidenceBundle:
    """(0) Parse a bundle; any malformation is a VerificationError naming the bundle check and
    what is wrong: over MAX_BUNDLE_BYTES or nested deeper than jsonguard allows (refused before
    parsing), not JSON (or NaN, or a lone surrogate), not the bundle's fields and types, a flow
    definition that is not a flow, registry events that are not the registry's, ids not hex."""
    if not isinstance(data, dict):
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        try:
            data = jsonguard.loads(raw, MAX_BUNDLE_BYTES)
        except jsonguard.JsonRefused as exc:
            why = str(exc).replace("request body", "it")
            raise VerificationError("bundle", f"evidence bundle refused: {why}") from exc
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN (below)
            raise VerificationError("bundle", f"evidence bundle is not JSON: {exc}") from exc
        except RecursionError as exc:  # nesting_depth already bounds it; never a traceback
            raise VerificationError("bundle", "evidence bundle nests too deep") from exc
    try:
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        raise VerificationError("bundle", f"evidence bundle holds a value JSON cannot carry: {exc}") from exc
    try:
        bundle = EvidenceBundle.model_validate(data)
    except ValidationError as exc:
        raise VerificationError("bundle", f"evidence bundle does not parse: {_errors(exc)}") from exc
    _check_flow_shape(bundle.flow)
    _check_registry_shape(bundle.registry)
    _check_ids(bundle)
    return bundle


def _errors(exc: ValidationError, most: int = 5) -> str:
    """The first few of pydantic's errors, one line each: where, and what is wrong."""
    errs = exc.errors(include_url=False, include_input=False)
    lines = [f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in errs[:most]]
    more = f"; and {len(errs) - most} more" if len(errs) > most else ""
    return "; ".join(lines) + more


class _ApprovalShape(BaseModel):
    mode: Literal["instant", "clerk", "rules"] = "instant"
    rules: list[dict[str, Any]] = []


class _StepShape(BaseModel):
    id: str
    agency: str
    depends_on: list[str] = []
    when: str | None = None
    approval: _ApprovalShape = _ApprovalShape()
    sla_minutes: int = PydanticField(60, gt=0)


class _FlowShape(BaseModel):
    """What the checks read of a flow definition (the rest is hashed, not read)."""

    name: str
    steps: list[_StepShape] = PydanticField(min_length=1)


def _check_flow_shape(flow: dict[str, Any]) -> None:
    try:
        shape = _FlowShape.model_validate(flow)
        definition_hash(flow)
    except ValidationError as exc:
        raise VerificationError("bundle", f"the bundle's flow is not a flow definition: {_errors(exc)}") from exc
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise VerificationError("bundle", f"the bundle's flow cannot be hashed: {exc}") from exc
    ids = [s.id for s in shape.steps]
    if len(set(ids)) != len(ids):
        raise VerificationError("bundle", "the bundle's flow names a step twice")
    for s in shape.steps:
        if unknown := [d for d in s.depends_on if d not in ids]:
            raise VerificationError("bundle", f"the bundle's flow: step {s.id} depends on unknown step(s) {unknown}")


def _check_registry_shape(events: list[dict[str, Any]]) -> None:
    """Registry events as ``LedgerClient.registry_events`` writes them: known names, block and log
    numbers, hex ids, in chain order, no change to an agency before it was registered."""
    registered: set[str] = set()
    last = (-1, -1)
    for n, e in enumerate(events):
        name, where = e.get("event"), f"registry[{n}]"
        if name not in REGISTRY_FIELDS:
            raise VerificationError("bundle", f"{where}: {name!r} is not a registry event")
        pos = (e.get("block_number"), e.get("log_index"))
        if not all(type(x) is int and x >= 0 for x in pos):
            raise VerificationError("bundle", f"{where}: block_number and log_index must be non-negative integers")
        if pos <= last:
            raise VerificationError("bundle", f"{where}: registry events are not in chain order")
        last = pos
        for key, size in REGISTRY_FIELDS[name].items():
            if not _is_hex(e.get(key), size):
                raise VerificationError("bundle", f"{where}: {name}.{key} is not {size} bytes of hex")
        if name == "SignerRotated" and "effective_block" in e:  # absent: a rotation that took effect at once
            effective = e["effective_block"]
            if type(effective) is not int or effective <= e["block_number"]:
                raise VerificationError(
                    "bundle", f"{where}: SignerRotated.effective_block must be a block after the event's"
                )
        agency = e["agency"].lower()
        if name == "AgencyRegistered":
            registered.add(agency)
        elif name != "StepAssigned" and agency not in registered:
            raise VerificationError(
                "bundle", f"{where}: {name} of agency {agency}, which was never registered before it"
            )


def _is_hex(value: Any, size: int) -> bool:
    """``0x`` and exactly ``size`` bytes of ASCII hex (``int(x, 16)`` also takes other digits)."""
    return (
        isinstance(value, str)
        and value.isascii()
        and len(value) == 2 + 2 * size
        and value[:2] == "0x"
        and all(c in string.hexdigits for c in value[2:])
    )


def _check_ids(bundle: EvidenceBundle) -> None:
    """Every id the checks hash, compare or recover is ASCII hex of its size."""
    fields: list[tuple[str, Any, int]] = [
        ("salt", bundle.salt, 32),
        ("commitment", bundle.commitment, 32),
        ("chain.registry", bundle.chain.registry, 20),
        ("chain.ledger", bundle.chain.ledger, 20),
    ]
    for name, claim in bundle.agencies.items():
        fields += [(f"agencies.{name}.signer", claim.signer, 20), (f"agencies.{name}.account", claim.account, 20)]
    for n, item in enumerate(bundle.handoffs):
        h, at = item.handoff, f"handoffs[{n}]"
        fields += [
            (f"{at}.hash", h.hash, 32),
            (f"{at}.signer", h.signer, 20),
            (f"{at}.signature", h.signature, 65),
            (f"{at}.record.case", h.record.case, 32),
        ]
        fields += [(f"{at}.record.parents[{k}]", p, 32) for k, p in enumerate(h.record.parents)]
        if (a := item.anchor) is not None:  # the batch root and proof are judged by check "proof"
            fields += [
                (f"{at}.anchor.{k}", getattr(a, k), 32)
                for k in ("handoff", "agency", "case_commitment", "step", "tx_hash", "block_hash")
            ]
            fields.append((f"{at}.anchor.account", a.account, 20))
    for name, value, size in fields:
        if not _is_hex(value, size):
            raise VerificationError("bundle", f"{name} is not {size} bytes of hex: {value[:80]!r}")


class RegistryHistory:
    """The registry's events replayed: which account, signer and step owner held when. An agency's
    entry carries its signer in force and, during a rotation, the ``next_signer`` scheduled to
    take over from block ``next_from`` (both sign until then); a SignerRotated event without an
    effective block (contracts before two-phase rotation) took effect at once."""

    def __init__(self, events: list[dict[str, Any]]):
        self.events = events
        self._states: dict[tuple[int, int], tuple[dict[str, dict[str, Any]], dict[str, str]]] = {}

    def state_at(self, block: int, log_index: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """(agency id -> account, signer, next_signer, next_from, active; step id -> agency id) just
        before that log, a scheduled signer whose block has come being the signer."""
        key = (block, log_index)
        if key not in self._states:
            self._states[key] = self._replay(block, log_index)
        return self._states[key]

    def _replay(self, block: int, log_index: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        agencies: dict[str, dict[str, Any]] = {}
        steps: dict[str, str] = {}
        for e in self.events:
            if (e["block_number"], e["log_index"]) >= (block, log_index):
                break
            a = e.get("agency")
            if e["event"] == "AgencyRegistered":
                agencies[a] = {"account": e["account"], "signer": e["signer"], "next_signer": None, "active": True}
            elif e["event"] == "AccountRotated":
                agencies[a]["account"] = e["new_account"]
            elif e["event"] == "SignerRotated":
                _settle(agencies[a], e["block_number"])
                if "effective_block" in e:
                    agencies[a].update(next_signer=e["new_signer"], next_from=e["effective_block"])
                else:
                    agencies[a]["signer"] = e["new_signer"]
            elif e["event"] in ("AgencySuspended", "AgencyReinstated"):
                agencies[a]["active"] = e["event"] == "AgencyReinstated"
            elif e["event"] == "StepAssigned":
                steps[e["step"]] = a
        for entry in agencies.values():
            _settle(entry, block)
        return agencies, steps


def _settle(entry: dict[str, Any], block: int) -> None:
    """A scheduled signer whose effective block has come is the signer, and none is scheduled."""
    if entry.get("next_signer") and block >= entry["next_from"]:
        entry.update(signer=entry["next_signer"], next_signer=None)


Find = Callable[..., None]


def verify_case(bundle: EvidenceBundle, ledger: LedgerClient | None = None, trust: TrustRoot | None = None) -> Report:
    """Every check over one case's trail, online against ``ledger`` or offline: first those of the
    case as a whole, then ``HANDOFF_CHECKS`` on each handoff in trail order. With ``trust``, the
    bundle and the ledger are judged by the auditor's trust root (the ledger should come from
    ``trust.open_ledger``); without it, by what the bundle itself claims."""
    findings: list[Finding] = []
    if not bundle.handoffs:
        findings.append(Finding(check="bundle", message="the bundle holds no handoffs: an empty trail proves nothing"))

    def find(
        check: str,
        message: str,
        item: EvidenceItem | None = None,
        *,
        handoff: str | None = None,
        step: str | None = None,
    ) -> None:
        findings.append(
            Finding(
                check=check,
                message=message,
                handoff=item.handoff.hash if item else handoff,
                step=item.handoff.record.step if item else step,
            )
        )

    if trust is not None:
        check_trust(bundle, ledger, trust, find)
    check_case_commitment(bundle, find)
    check_each_handoff_once(bundle, find)
    completed = check_one_completed_per_step(bundle, find)
    anchors = _anchors(bundle, ledger, find, pinned=trust is not None)
    events = ledger.registry_events() if ledger else bundle.registry
    trail = Trail(bundle, completed, anchors, RegistryHistory(events) if events else None, online=ledger is not None)
    for item in bundle.handoffs:
        for check in HANDOFF_CHECKS:
            check(trail, item, find)
    proven = check_proven(bundle, anchors, trust, find) if trust is not None and ledger is None else None
    closed = check_closing(bundle, anchors, find)
    return Report(
        case_id=bundle.case_id,
        ok=not findings,
        online=ledger is not None,
        handoffs=len(bundle.handoffs),
        anchored=len(anchors),
        findings=findings,
        trust=PINNED if trust is not None else OPERATOR_CLAIMED,
        closed=closed,
        proven=proven,
    )


@dataclass
class Trail:
    """What the handoff checks judge each handoff by, gathered once per case."""

    bundle: EvidenceBundle
    completed: dict[str, str]  # step -> hash of its completed handoff
    anchors: dict[str, Anchor]  # hash -> the anchor to judge by
    history: RegistryHistory | None  # None without registry events: judged by bundle.agencies
    online: bool = False  # anchors (and their block times) read from the ledger, not the bundle
    flow_name: str | None = field(init=False)
    flow_version: str = field(init=False)
    policy: dict[str, tuple[str, list[str]]] = field(init=False)
    optional: set[str] = field(init=False)
    steps: dict[str, dict[str, Any]] = field(init=False)  # step id -> its definition
    rejections: int = field(init=False)  # rejected handoffs in the trail: each may start a new attempt
    _approvals: dict[str, tuple[str, str] | None] = field(init=False, default_factory=dict)  # step -> approval()

    def __post_init__(self) -> None:
        self.flow_name = self.bundle.flow.get("name")
        self.flow_version = definition_hash(self.bundle.flow)
        self.policy = self.bundle.step_policy()
        self.optional = {s["id"] for s in self.bundle.flow.get("steps", []) if s.get("when")}
        self.steps = {s["id"]: s for s in self.bundle.flow.get("steps", [])}
        self.rejections = sum(i.handoff.record.outcome == "rejected" for i in self.bundle.handoffs)

    def approval(self, step: str) -> tuple[str, str] | None:
        """(mode, rules hash) of the step's approval policy in the definition, as
        ``workflows.rules.Approval.version`` hashes it; None for a step the flow lacks. Hashed once
        per step in this verification (this Trail's own memo)."""
        if step in self._approvals:
            return self._approvals[step]
        s = self.steps.get(step)
        if s is None:
            found = None
        else:
            a = s.get("approval") or {}
            policy = {"mode": a.get("mode", "instant"), "rules": a.get("rules", [])}
            found = policy["mode"], definition_hash(policy)
        self._approvals[step] = found
        return found

    def agencies(self) -> set[str]:
        return {s.get("agency") for s in self.steps.values()} | set(self.bundle.agencies)

    def anchor(self, item: EvidenceItem) -> Anchor | None:
        return self.anchors.get(item.handoff.hash.lower())

    def registered(self, agency: str, anchor: Anchor) -> dict[str, Any] | None:
        """The agency's registry entry (account, signer) when ``anchor`` was made."""
        agencies, _ = self.history.state_at(anchor.block_number, anchor.log_index)
        return agencies.get(to_hex(agency_id(agency)))


# (0a)(1)(9) the case as a whole (and _anchors, below) --------------------------------------


def check_trust(bundle: EvidenceBundle, ledger: LedgerClient | None, trust: TrustRoot, find: Find) -> None:
    """(0a) The bundle names the chain, contracts and deployment block the trust root pins, and the
    ledger checked against is read at the pinned addresses (not at ones the bundle gave it)."""
    c = bundle.chain
    for message in trust.differences(
        "the bundle", chain_id=c.chain_id, registry=c.registry, ledger=c.ledger, block=c.block
    ):
        find("trust", message)
    if ledger is not None:
        d = ledger.deployment
        for message in trust.differences(
            "the ledger client", chain_id=d.chain_id, registry=d.registry, ledger=d.ledger, block=d.block
        ):
            find("trust", message)


def check_case_commitment(bundle: EvidenceBundle, find: Find) -> None:
    """(1) The salt and case id open the case commitment."""
    if case_commitment(bundle.case_id, bundle.salt) != bundle.commitment.lower():
        find("commitment", "the salt and case id do not open the case commitment")


def check_each_handoff_once(bundle: EvidenceBundle, find: Find) -> None:
    """(9) No handoff appears twice in the trail."""
    seen: set[str] = set()
    for item in bundle.handoffs:
        if item.handoff.hash.lower() in seen:
            find("complete", "the same handoff appears twice in the bundle", item)
        seen.add(item.handoff.hash.lower())


def check_one_completed_per_step(bundle: EvidenceBundle, find: Find) -> dict[str, str]:
    """(9) step -> hash of its one completed handoff (rejected attempts, escalations and undos stay
    in the trail beside it; two completed handoffs for one step is a finding)."""
    by_step: dict[str, list[EvidenceItem]] = {}
    for item in bundle.handoffs:
        by_step.setdefault(item.handoff.record.step, []).append(item)
    completed: dict[str, str] = {}
    for step, items in by_step.items():
        done = [i for i in items if i.handoff.record.outcome == "completed"]
        for extra in done[1:]:
            find("complete", f"a second completed handoff for step {step}", extra)
        if done:
            completed[step] = done[0].handoff.hash.lower()
    return completed


# (1)-(8) each handoff, in this order ---------------------------------------------------------


def check_hash_and_signature(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(2) The record hashes to its stated hash; (3) the signature recovers the stated signer."""
    try:
        item.handoff.verify_address()
    except VerificationError as exc:
        find(exc.check, exc.message, item)
    except rfc8785.CanonicalizationError as exc:  # e.g. an integer beyond 2^53: no canonical bytes
        find("hash", f"the record has no canonical bytes to hash: {exc}", item)


def check_record_case(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(1) The record carries this case's commitment."""
    if item.handoff.record.case != trail.bundle.commitment.lower():
        find("commitment", "the record belongs to another case", item)


def check_flow(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(5) The record names this flow and definition version, and its agency owns the step."""
    rec = item.handoff.record
    if rec.flow != trail.flow_name or rec.flow_version != trail.flow_version:
        find(
            "flow",
            f"record names flow {rec.flow} {rec.flow_version}, not this bundle's "
            f"{trail.flow_name} {trail.flow_version}",
            item,
        )
    owner, _ = trail.policy.get(rec.step, (None, []))
    if owner is None:
        find("flow", f"the flow has no step {rec.step!r}", item)
    elif owner != rec.agency:
        find("flow", f"step {rec.step} belongs to {owner}, but {rec.agency} emitted it", item)


def check_parents(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(6) The parents are exactly the handoffs of the steps it depends on (latest attempt); an
    undo hangs off the handoff it undoes."""
    rec = item.handoff.record
    if rec.outcome == "compensated":
        expected = [trail.completed[rec.step]] if rec.step in trail.completed else []
    else:
        _, deps = trail.policy.get(rec.step, (None, []))
        expected = sorted(trail.completed[d] for d in deps if d in trail.completed)
        missing_deps = [d for d in deps if d not in trail.completed and d not in trail.optional]
        if missing_deps:
            find(
                "parents",
                f"depends on step(s) {', '.join(missing_deps)} that have no completed handoff in the trail",
                item,
            )
    if sorted(p.lower() for p in rec.parents) != expected:
        find("parents", "parent links do not match the handoffs of the steps it depends on", item)


def check_anchor(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(7) The hash is anchored, for this case and step. The checks after it need the anchor and
    pass over a handoff without one."""
    rec, anchor = item.handoff.record, trail.anchor(item)
    if anchor is None:
        find("anchor", "the handoff is not anchored on the ledger", item)
    elif anchor.case_commitment.lower() != rec.case or anchor.step.lower() != to_hex(step_id(rec.flow, rec.step)):
        find("anchor", "the anchor was made for another case or step", item)


def check_signer(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(4) The signer is the agency's registered signing key when it was anchored, and the agency
    was not suspended then (offline without registry events: the key the bundle gives for it)."""
    h, rec, anchor = item.handoff, item.handoff.record, trail.anchor(item)
    if anchor is None:
        return
    if trail.history is None:
        claim = trail.bundle.agencies.get(rec.agency)
        if claim is None or claim.signer.lower() != h.signer.lower():
            find("signer", f"signed by {h.signer}, not the key the bundle gives for {rec.agency}", item)
        return
    reg = trail.registered(rec.agency, anchor)
    if reg is None:
        find("signer", f"{rec.agency} was not a registered agency when anchored", item)
    elif not reg["active"]:
        find("signer", f"{rec.agency} was suspended when anchored (block {anchor.block_number})", item)
    elif h.signer.lower() not in {reg["signer"].lower(), (reg["next_signer"] or "").lower()}:
        scheduled = (
            f" (or {reg['next_signer']}, taking over from block {reg['next_from']})" if reg["next_signer"] else ""
        )
        find(
            "signer",
            f"signed by {h.signer}, but {rec.agency}'s registered key at block "
            f"{anchor.block_number} was {reg['signer']}{scheduled}",
            item,
        )


def check_anchor_account(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(7) The anchor was sent from the agency's registered account, and a batch's handoff was of a
    step the agency owned at that block (a batch names no step on-chain; the contract checks a
    single anchor's step itself). Offline, the account is judged only for the key the bundle gives."""
    h, rec, anchor = item.handoff, item.handoff.record, trail.anchor(item)
    if anchor is None:
        return
    if trail.history is None:
        claim = trail.bundle.agencies.get(rec.agency)
        vouched = claim is not None and claim.signer.lower() == h.signer.lower()
        if vouched and claim.account.lower() != anchor.account.lower():
            find("anchor", f"anchored from {anchor.account}, not {rec.agency}'s account", item)
        return
    reg = trail.registered(rec.agency, anchor)
    if reg is not None and reg["account"].lower() != anchor.account.lower():
        find("anchor", f"anchored from {anchor.account}, not {rec.agency}'s account {reg['account']}", item)
    if anchor.batched:
        _, steps = trail.history.state_at(anchor.block_number, anchor.log_index)
        if steps.get(anchor.step.lower()) != to_hex(agency_id(rec.agency)):
            find("anchor", f"step {rec.step} was not {rec.agency}'s at block {anchor.block_number}", item)


def check_order(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(8) Every parent was anchored before its child."""
    anchor = trail.anchor(item)
    if anchor is None:
        return
    for parent in item.handoff.record.parents:
        pa = trail.anchors.get(parent.lower())
        if pa is not None and (pa.block_number, pa.log_index) >= (anchor.block_number, anchor.log_index):
            find("order", f"anchored before its parent {parent}", item)


# (10)-(13) what the handoff says about its decision ------------------------------------------

ESCALATED_BY = "rule:sla"  # what an agency writes when it signs that a step passed its SLA
WITHDRAWN_BY = "applicant:withdrawal"  # what an agency writes when it undoes a step
CLOCK_SKEW_S = 300  # an agency's clock may run this far ahead of the ledger's
ANCHOR_DELAY_S = 86_400  # beyond the step's SLA, the longest an honest anchor may follow its signature


def check_closing(bundle: EvidenceBundle, anchors: dict[str, Anchor], find: Find) -> str | None:
    """(14) The closing record names every other handoff of the bundle, no more and no fewer, and
    was anchored after each of them. Returns the final state it names (None: the case is open)."""
    closings = [i for i in bundle.handoffs if i.handoff.record.step == CLOSING_STEP]
    for extra in closings[1:]:
        find("closing", "a second closing record: a case is closed once", extra)
    if not closings:
        return None
    closing = closings[0]
    outputs = closing.handoff.record.outputs
    named, state = outputs.get("trail"), outputs.get("state")
    if not (isinstance(named, list) and all(_is_hex(h, 32) for h in named)) or not isinstance(state, str):
        find("closing", "the closing record does not name the case's state and a list of handoff hashes", closing)
        return None
    named_set = {h.lower() for h in named}
    others = {i.handoff.hash.lower(): i for i in bundle.handoffs if i.handoff.record.step != CLOSING_STEP}
    for h in sorted(named_set - set(others)):
        find("closing", f"the closing record names handoff {h}, which is missing from the trail", handoff=h)
    for h in sorted(set(others) - named_set):
        find("closing", "the closing record does not name this handoff: it is not of the closed trail", others[h])
    last = anchors.get(closing.handoff.hash.lower())
    if last is not None:
        for h, item in others.items():
            a = anchors.get(h)
            if a is not None and (a.block_number, a.log_index) >= (last.block_number, last.log_index):
                find("closing", "anchored after the case's closing record", item)
    return state


def check_decision(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(10) ``decided_by`` is what the step's approval policy allows: an escalation is signed
    ``rule:sla`` and an undo ``applicant:withdrawal`` whatever the policy; otherwise ``instant`` is
    decided by a rule, ``clerk`` by a clerk, ``rules`` by a rule (all held) or a clerk (one failed).
    A clerk is ``clerk:<user>``; the bundle carries no roster of clerks, so beyond the owning
    agency's signature over the name, a name of the ``clerk-<agency>`` form must name the owner."""
    rec = item.handoff.record
    if (rec.step == CLOSING_STEP) != (rec.outcome == "closed") or (
        rec.step == CLOSING_STEP and rec.decided_by != CLOSED_BY
    ):
        find(
            "decision",
            f"a {rec.outcome} handoff of step {rec.step} decided by {rec.decided_by!r}: only the engine's "
            f"closing record ({CLOSING_STEP}, {CLOSED_BY!r}) is closed",
            item,
        )
        return
    policy = trail.approval(rec.step)
    if policy is None:
        return  # (5) already names the unknown step
    mode, _ = policy
    kind, _, who = rec.decided_by.partition(":")
    if rec.outcome in ("escalated", "compensated"):
        expected = ESCALATED_BY if rec.outcome == "escalated" else WITHDRAWN_BY
        if rec.decided_by != expected:
            find(
                "decision",
                f"the {rec.outcome} handoff says it was decided by {rec.decided_by!r}, not {expected!r}",
                item,
            )
        return
    allowed = {"instant": {"rule"}, "clerk": {"clerk"}, "rules": {"rule", "clerk"}}.get(mode, set())
    if kind not in allowed or not who:
        find(
            "decision",
            f"decided by {rec.decided_by!r}, but step {rec.step} in {mode} mode is decided by "
            f"{' or '.join(sorted(allowed)) or 'nothing'}",
            item,
        )
    elif kind == "clerk":
        named = who.removeprefix("clerk-") if who.startswith("clerk-") else None
        if not who.isprintable() or who != who.strip():
            find("decision", f"the clerk's name {who!r} is not a user name", item)
        elif named is not None and named != rec.agency and named in trail.agencies():
            find("decision", f"decided by {who}, a clerk of {named}, not of {rec.agency} which owns {rec.step}", item)


def check_rules_hash(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(11) The record's rules hash is the one the definition gives the step, and a rule decision
    names that same hash (a rule decision under other rules is not the definition's decision)."""
    rec = item.handoff.record
    if rec.step == CLOSING_STEP:  # decided by no rules: it carries the definition's own hash
        if rec.rules_version != trail.flow_version:
            find("rules", f"the closing record's rules hash {rec.rules_version} is not the definition's", item)
        return
    policy = trail.approval(rec.step)
    if policy is None:
        return
    _, rules = policy
    if rec.rules_version != rules:
        find("rules", f"rules hash {rec.rules_version} is not the definition's {rules} for {rec.step}", item)
    kind, _, who = rec.decided_by.partition(":")
    if kind == "rule" and rec.outcome in ("completed", "rejected") and who != rules:
        find("rules", f"decided by rules {who!r}, not the definition's {rules}", item)


def check_attempt(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(12) The attempt is at least 1 and at most one more than the rejected handoffs in the trail:
    a step runs again only after the applicant corrects a returned case, and a case is returned
    only for a rejection. (The definition's ``retry`` bounds retries of the agency's action within
    one attempt, which sign nothing, so it does not bound this number.)"""
    rec = item.handoff.record
    if not 1 <= rec.attempt <= 1 + trail.rejections:
        find(
            "attempt",
            f"attempt {rec.attempt}, but the trail allows 1 to {1 + trail.rejections} "
            f"({trail.rejections} rejection(s))",
            item,
        )


def check_time(trail: Trail, item: EvidenceItem, find: Find) -> None:
    """(13) The record's time is RFC 3339 and, against its anchor block's time B: not after
    B + CLOCK_SKEW_S (5 minutes; an agency signs before it anchors), and not before B minus the
    step's SLA minus ANCHOR_DELAY_S (a day; an honest anchor follows its signature within retries,
    a re-signed record with an old time does not). Online B is the chain's block time; offline it
    is the block time the bundle claims, and the finding says which."""
    rec, anchor = item.handoff.record, trail.anchor(item)
    try:
        when = datetime.fromisoformat(rec.time)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        signed = when.timestamp()
    except (ValueError, OverflowError) as exc:
        find("time", f"the time {rec.time!r} is not an RFC 3339 time: {exc}", item)
        return
    if anchor is None:
        return
    source = "the chain's" if trail.online else "the bundle's claimed"
    block = anchor.timestamp
    sla_s = 60 * int((trail.steps.get(rec.step) or {}).get("sla_minutes", 60))
    if signed > block + CLOCK_SKEW_S:
        find(
            "time",
            f"signed at {rec.time}, {signed - block:.0f} s after its anchor block {anchor.block_number} "
            f"({source} block time; at most {CLOCK_SKEW_S} s of clock skew is allowed)",
            item,
        )
    elif signed < block - sla_s - ANCHOR_DELAY_S:
        find(
            "time",
            f"signed at {rec.time}, {block - signed:.0f} s before its anchor block {anchor.block_number} "
            f"({source} block time; at most the step's SLA plus {ANCHOR_DELAY_S} s is allowed)",
            item,
        )


HANDOFF_CHECKS: tuple[Callable[[Trail, EvidenceItem, Find], None], ...] = (
    check_hash_and_signature,
    check_record_case,
    check_flow,
    check_parents,
    check_anchor,
    check_signer,
    check_anchor_account,
    check_order,
    check_decision,
    check_rules_hash,
    check_attempt,
    check_time,
)


def _anchors(bundle: EvidenceBundle, ledger: LedgerClient | None, find, *, pinned: bool = False) -> dict[str, Anchor]:
    """(7)(9) The anchors to judge by: the ledger's own when online, else the bundle's claims.
    Without a trust root (``pinned``), the ledger is at least the one the bundle names; with one,
    (0a) has judged both by the root instead."""
    if ledger is None:
        claims = {
            i.handoff.hash.lower(): i.anchor for i in bundle.handoffs if i.anchor is not None and not i.anchor.batched
        }
        return {**claims, **batched_anchors(bundle, None, claims, find)}
    d = ledger.deployment
    if not pinned and (d.chain_id, d.registry.lower(), d.ledger.lower()) != (
        bundle.chain.chain_id,
        bundle.chain.registry.lower(),
        bundle.chain.ledger.lower(),
    ):
        find("anchor", "the bundle names another chain or contracts than the ledger checked against")
    on_chain = {a.handoff.lower(): a for a in ledger.anchors_for_case(bundle.commitment)}
    in_bundle = {i.handoff.hash.lower() for i in bundle.handoffs}
    step_names = {to_hex(step_id(str(bundle.flow.get("name")), s)): s for s in bundle.step_policy()}
    for h, a in on_chain.items():
        if h not in in_bundle:
            find(
                "complete",
                f"the ledger holds an anchor of this case ({h}, block {a.block_number}) "
                "whose handoff is missing from the trail",
                handoff=h,
                step=step_names.get(a.step.lower()),
            )
    for item in bundle.handoffs:
        claimed, real = item.anchor, on_chain.get(item.handoff.hash.lower())
        if (
            claimed is not None
            and real is not None
            and (claimed.block_hash, claimed.tx_hash) != (real.block_hash, real.tx_hash)
        ):
            find("anchor", "the bundle's anchor reference differs from the ledger's", item)
    return {**on_chain, **batched_anchors(bundle, ledger, on_chain, find)}
