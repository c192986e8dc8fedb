"""The agency adapter: Temporal activities on the agency's own task queue.

Thin by design (after samples-python's ``hello_activity_method``): the rules live in the
back-end passed in, the ledger access in the ``Anchorer`` passed in (a transaction per handoff or
per batch). Each activity acts, signs with the agency's key, journals what it signed (so a retry
returns the very same handoff) and anchors it from the agency's account, all in one activity: a
retry after a crash or a ledger outage finds the handoff in the journal and only anchors (which
is idempotent). The adapter decides what is permanent (non-retryable) and what is transient.

Signing keys rotate in two phases (``chain.anchors.SignerSchedule``): the adapter signs with the
newest of its keys the registry accepts, and once a handoff is anchored it makes sure the
registry accepted its signature in the anchor's block; if not (a rotation took effect while the
handoff was in flight, signed by the old key), it signs the same record again with a key the
registry takes there (the same hash, so the same anchor) and journals that instead. A worker that
holds no such key fails the attempt, retryably: the worker restarted with its new key finishes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agencies.backend import AgencyBackend, Broken, Refused, Unavailable
from agencies.heartbeat import heartbeating
from agencies.keys import AgencyKeys
from agencies.localdb import open_local
from agencies.metrics import ANCHOR_SECONDS, LEDGER_ERRORS, STEP_SECONDS
from chain.anchors import Anchor, Anchorer, SignerRegistry, SignerSchedule
from chain.client import MAX_AFTER
from chain.errors import AnchorRefused, ChainError
from chain.handoff import CLOSED_BY, CLOSING_STEP, Handoff, SignedHandoff, agency_id, now_rfc3339, sign
from chain.hexid import to_hex
from workflows.messages import (
    ANCHOR_HANDOFF,
    ANCHOR_SIGNED,
    CLOSE_CASE,
    COMPENSATE_STEP,
    CONFIRM_ANCHORS,
    CONFIRM_AND_CLOSE,
    ESCALATE_STEP,
    EXECUTE_STEP,
    PARENT_NOT_ON_LEDGER,
    PERFORM_STEP,
    SIGN_ESCALATION,
    SUBMIT_STEP,
    UNDO_STEP,
    AnchoredHandoff,
    AnchorInput,
    AnchorSent,
    Closed,
    CloseInput,
    CompensateInput,
    Confirmation,
    ConfirmInput,
    EscalateInput,
    SentHandoff,
    StepInput,
)

log = logging.getLogger(__name__)
SCHEDULE_FOR_S = 60.0  # the longest the signer schedule is trusted without reading it again; every anchor
# checks its own block for a rotation in any case (one log query), which reads it again at once


@dataclasses.dataclass(frozen=True)
class Rotations:
    """The SignerRotated events of every agency in blocks (after, through], read in one query."""

    after: int
    through: int
    events: set[tuple[str, int]]  # (agency id, block)

    def spans(self, lo: int, hi: int) -> bool:
        return self.after <= lo and hi <= self.through

    def changed(self, agency: str, lo: int, hi: int) -> bool:
        """Whether ``agency``'s schedule changed in blocks (lo, hi], which this spans."""
        aid = to_hex(agency_id(agency)).lower()
        return any(a == aid and lo < block <= hi for a, block in self.events)


class SignedHandoffs:
    """What this agency has signed, by idempotency key, so a retry returns the very same handoff
    (SQLite, AGENCY-journal.db in the agency's own directory; not the batcher's BatchJournal)."""

    def __init__(self, path: Path):
        self._db = open_local(path, "CREATE TABLE IF NOT EXISTS signed (key TEXT PRIMARY KEY, handoff TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> SignedHandoff | None:
        with self._lock:
            row = self._db.execute("SELECT handoff FROM signed WHERE key=?", (key,)).fetchone()
        return SignedHandoff.model_validate_json(row[0]) if row else None

    def put_once(self, key: str, handoff: SignedHandoff) -> SignedHandoff:
        """Store ``handoff`` under ``key`` unless one is there already; return the stored one."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO signed VALUES (?, ?)", (key, handoff.model_dump_json()))
            row = self._db.execute("SELECT handoff FROM signed WHERE key=?", (key,)).fetchone()
        return SignedHandoff.model_validate_json(row[0])

    def resigned(self, key: str, handoff: SignedHandoff) -> None:
        """Keep ``handoff`` under ``key`` instead of what is there: the same record (the same hash),
        signed again by another of the agency's keys."""
        with self._lock:
            row = self._db.execute("SELECT handoff FROM signed WHERE key=?", (key,)).fetchone()
            if row is not None and SignedHandoff.model_validate_json(row[0]).hash != handoff.hash:
                raise ValueError(f"journal entry {key!r} holds another record than {handoff.hash}")
            self._db.execute("INSERT OR REPLACE INTO signed VALUES (?, ?)", (key, handoff.model_dump_json()))


def _step_fields(request: StepInput) -> dict:
    """What a handoff record takes from the step it is about."""
    return {
        "flow": request.flow,
        "flow_version": request.flow_version,
        "rules_version": request.rules_version,
        "step": request.step,
        "case": request.commitment,
        "attempt": request.attempt,
        "decided_by": request.decided_by,
    }


def _reason(request: CompensateInput) -> dict:
    """A withdrawal's reason as the handoff carries it: its salted commitment (the gateway keeps the
    applicant's text under the case's key), or the text itself from a withdrawal made before."""
    if request.reason_commitment:
        return {"reason_commitment": request.reason_commitment}
    return {"reason": request.reason}


class AgencyActivities:
    def __init__(
        self,
        keys: AgencyKeys,
        backend: AgencyBackend,
        anchorer: Anchorer,
        journal: SignedHandoffs,
        registry: SignerRegistry | None = None,
    ):
        """``registry``: where the agency's signer schedule is read (without one, the newest key
        signs and every signature is taken as the registry's)."""
        self.agency = keys.agency
        self.keys = keys
        self.backend = backend
        self.anchorer = anchorer
        self.journal = journal
        self.registry = registry
        # agency -> (known through this block, its schedule): this agency's, and those of the agencies
        # whose anchors it confirms as a flow's lead agency
        self._schedules: dict[str, tuple[int, SignerSchedule]] = {}
        self._schedule_read = 0.0  # when this agency's was last read (monotonic)

    def _check_agency(self, agency: str, step: str) -> None:
        if agency != self.agency:
            raise ApplicationError(
                f"step {step!r} belongs to {agency}, not {self.agency}", type="WrongAgency", non_retryable=True
            )

    def _sign_once(self, key: str, **fields) -> SignedHandoff:
        """Sign the record ``fields`` make (with this agency and the time now) and journal it under
        ``key``: the first signature under a key is the only one."""
        record = Handoff(agency=self.agency, time=now_rfc3339(), **fields)
        return self.journal.put_once(key, sign(record, self._signing_key()))

    # which key signs ------------------------------------------------------------------------
    def _signing_key(self) -> bytes:
        """The newest key the registry accepts in the block after the last one the schedule is known
        through (read at most SCHEDULE_FOR_S ago, and carried forward by each anchor's rotation
        check); the newest key without a registry, or while it cannot be read (the anchor's block
        is checked after anchoring in any case)."""
        if self.registry is None:
            return self.keys.signing_key
        now, known = time.monotonic(), self._schedules.get(self.agency)
        if known is None or now - self._schedule_read > SCHEDULE_FOR_S:
            try:
                self._know(self.agency, *self.registry.signer_schedule(self.agency))
            except Exception as exc:  # unreachable ledger: sign now, judged again at the anchor
                log.warning("%s: signer schedule unreadable (%s); signing with the newest key", self.agency, exc)
                return self.keys.signing_key
            known = self._schedules[self.agency]
        through, schedule = known
        return self._held_key(schedule.accepted_at(through + 1)) or self.keys.signing_key

    def _know(self, agency: str, through: int, schedule: SignerSchedule, read: bool = True) -> None:
        """``agency``'s schedule holds in every block up to ``through``; ``read``: read just now."""
        self._schedules[agency] = (through, schedule)
        if read and agency == self.agency:
            self._schedule_read = time.monotonic()

    def _held_key(self, accepted: set[str]) -> bytes | None:
        """The newest of this agency's keys among ``accepted`` (lower-case addresses), if any."""
        return next((k for address, k in self.keys.signing_keys.items() if address in accepted), None)

    def _accepted_at(self, block: int, agency: str | None = None, seen: Rotations | None = None) -> set[str]:
        """The keys the registry accepts for ``agency`` (this one by default) in ``block``: from the
        schedule last read, when no SignerRotated event of the agency lies between that read and
        ``block`` (one indexed log query, or ``seen``'s where it spans those blocks; the schedule is
        then known through ``block``), else read at ``block`` itself."""
        agency = agency or self.agency
        known = self._schedules.get(agency)
        if known is not None:
            through, schedule = known
            lo, hi = min(through, block), max(through, block)
            try:
                changed = seen.changed(agency, lo, hi) if seen is not None and seen.spans(lo, hi) else None
                if changed is None:
                    changed = self.registry.signer_changed(agency, lo, hi)
                if not changed:
                    if block > through:
                        self._know(agency, block, schedule, read=False)
                    return schedule.accepted_at(block)
            except Exception as exc:  # noqa: BLE001 - the full read below decides
                log.warning("%s: registry events unreadable (%s); reading the schedule at block %d", agency, exc, block)
        self._know(agency, *self.registry.signer_schedule(agency, block))
        return self._schedules[agency][1].accepted_at(block)

    def _accepted_in(
        self, handoff: SignedHandoff, anchor: Anchor, key: str | None, seen: Rotations | None = None
    ) -> SignedHandoff:
        """``handoff`` with a signature the registry accepted in its anchor's block: as it is, or
        the same record signed again by the newest key of ours it accepted there (journalled under
        ``key``). Holding none of those keys fails the attempt, retryably."""
        if self.registry is None:
            return handoff
        accepted = self._accepted_at(anchor.block_number, seen=seen)
        if handoff.signer.lower() in accepted:
            return handoff
        signing = self._held_key(accepted)
        if signing is None:
            raise ApplicationError(
                f"{handoff.hash} is signed by {handoff.signer}, which the registry no longer accepts for "
                f"{self.agency} (block {anchor.block_number}), and this worker holds none of the keys it does: "
                "start it with the agency's new key file",
                type="SignerRetired",
            )
        again = sign(handoff.record, signing)
        if key is not None:
            self.journal.resigned(key, again)
        log.info(
            "%s: %s signed again by %s (its first signer's key was retired)", self.agency, again.hash, again.signer
        )
        return again

    # the activities: act (exactly once per idempotency key), sign, journal, anchor ------------
    @activity.defn(name=PERFORM_STEP)
    def perform_step(self, request: StepInput) -> AnchoredHandoff:
        """Act on a step (or sign a clerk's rejection) exactly once per idempotency key, and anchor it."""
        started = time.monotonic()
        with heartbeating():
            done = self._anchored(self._executed(request), request.key)
        outcome = done.handoff.record.outcome
        STEP_SECONDS.labels(self.agency, request.step, outcome).observe(time.monotonic() - started)
        return done

    @activity.defn(name=SUBMIT_STEP)
    def submit_step(self, request: StepInput) -> SentHandoff:
        """Act on a step exactly once per idempotency key, sign, journal, and send its anchor
        without waiting for the block: the steps after it act at once, and their anchors follow
        this one in the ledger's order. Refused before acting (PARENT_NOT_ON_LEDGER) while a
        parent's anchor is neither pending nor mined, so no anchor ever goes before its parent's."""
        started = time.monotonic()
        with heartbeating():
            self._check_agency(request.agency, request.step)
            self._check_parents(request)
            sent = self._sent(self._executed(request), request.key)
        outcome = sent.handoff.record.outcome
        STEP_SECONDS.labels(self.agency, request.step, outcome).observe(time.monotonic() - started)
        return sent

    @activity.defn(name=CONFIRM_ANCHORS)
    def confirm_anchors(self, request: ConfirmInput) -> list[Confirmation]:
        """Wait for the anchors of a case's sent handoffs, whichever agency sent them (the ledger is
        read by all), and say of each whether the registry accepted its signer in its block."""
        with heartbeating():
            return self._confirmations(request.sent)

    @activity.defn(name=CONFIRM_AND_CLOSE)
    def confirm_and_close(self, request: CloseInput) -> Closed:
        """As the flow's lead agency, confirm the case's sent anchors and, if nothing is wrong with
        any, sign and anchor its closing record, which goes after them all on the ledger. Where the
        ledger contract orders anchors (``anchor_after``), the closing record is sent before the
        confirmations, to follow the pending anchors in their block rather than in the next one:
        the contract refuses it unless each is anchored before it, so a lost or refused one never
        has a closing record ahead of it (it is then anchored after, once the engine asks again)."""
        with heartbeating():
            early = self._close_early(request)
            receipts, seen = self._mined(request.sent, early[2] if early else None)
            confirmations = [self._confirmation(s, receipts.get(s.tx), seen) for s in request.sent]
            if any(c.problem for c in confirmations):
                return Closed(confirmations=confirmations)
            if early is not None:
                closing, key, tx = early
                ledger = self.anchorer.ledger
                try:
                    anchor = ledger.confirm_anchor(tx, closing.hash, receipt=receipts.get(tx))
                except AnchorRefused as exc:  # ordered before one it follows (a foreign node), or refused
                    log.info("%s: closing record %s refused early (%s); anchoring it again", self.agency, tx, exc)
                    anchor = None
                if anchor is not None:
                    signed = self._accepted_in(closing, anchor, key, seen)
                    return Closed(confirmations=confirmations, closing=AnchoredHandoff(handoff=signed, anchor=anchor))
                return Closed(confirmations=confirmations, closing=self._anchored(closing, key))
            return Closed(confirmations=confirmations, closing=self._anchored(*self._closed(request)))

    def _close_early(self, request: CloseInput) -> tuple[SignedHandoff, str, str] | None:
        """Sign the closing record and send its anchor to follow the pending anchors of ``request``
        (closing record, journal key, transaction); None where it waits for their confirmations:
        nothing pending, a retried attempt (an earlier one may have anchored it), an anchorer that
        sends no single transactions, or a ledger contract without ``anchor_after``."""
        after = [sent.handoff for sent in request.sent if sent.anchor is None]
        send = getattr(self.anchorer, "send_anchor_after", None)
        if not after or len(after) > MAX_AFTER or send is None or activity.info().attempt > 1:
            return None
        if not self.anchorer.ledger.orders_anchors():
            return None
        closing, key = self._closed(request)
        self._check_own(closing, key)
        record = closing.record
        try:
            tx = send(closing.hash, record.flow, record.step, record.case, after)
        except Exception:  # unreachable, refused (a stale nonce): the activity is retried; counted here
            LEDGER_ERRORS.labels(self.agency, "unavailable").inc()
            raise
        return closing, key, tx

    @activity.defn(name=ANCHOR_SIGNED)
    def anchor_signed(self, request: AnchorInput) -> AnchoredHandoff:
        """Anchor a handoff this agency signed (again, when its transaction was lost; a retry finds
        the anchor there), signed again if the registry retired its signer by the anchor's block.
        Only what its journal holds under ``key``: the journal, not the request, says what it signed."""
        journalled = self.journal.get(request.key) if request.key else None
        if journalled is None or journalled.hash != request.handoff.hash:
            raise ApplicationError(
                f"{self.agency} journalled no handoff {request.handoff.hash} under {request.key!r}: "
                "an agency anchors only handoffs it signed itself",
                type="WrongAgency",
                non_retryable=True,
            )
        with heartbeating():
            return self._anchored(journalled, request.key)

    @activity.defn(name=UNDO_STEP)
    def undo_step(self, request: CompensateInput) -> AnchoredHandoff:
        """Undo a completed step on withdrawal: a handoff whose only parent is the one undone."""
        with heartbeating():
            return self._anchored(self._compensated(request), request.key)

    @activity.defn(name=SIGN_ESCALATION)
    def sign_escalation(self, request: EscalateInput) -> AnchoredHandoff:
        """Sign that a step this agency holds went past its SLA (the trail shows who was late)."""
        with heartbeating():
            return self._anchored(self._escalated(request), request.key)

    @activity.defn(name=CLOSE_CASE)
    def close_case(self, request: CloseInput) -> AnchoredHandoff:
        """As the flow's lead agency, sign and anchor the case's closing record: its final state and
        every handoff of its trail, so that a trail missing any of them is seen to be incomplete."""
        with heartbeating():
            return self._anchored(*self._closed(request))

    # the same, signing and anchoring apart: what cases started before one-activity steps call
    @activity.defn(name=EXECUTE_STEP)
    def execute_step(self, request: StepInput) -> SignedHandoff:
        with heartbeating():
            return self._executed(request)

    @activity.defn(name=COMPENSATE_STEP)
    def compensate_step(self, request: CompensateInput) -> SignedHandoff:
        with heartbeating():
            return self._compensated(request)

    @activity.defn(name=ESCALATE_STEP)
    def escalate_step(self, request: EscalateInput) -> SignedHandoff:
        with heartbeating():
            return self._escalated(request)

    @activity.defn(name=ANCHOR_HANDOFF)
    def anchor_handoff(self, request: AnchorInput) -> Anchor:
        with heartbeating():
            return self._anchored(request.handoff).anchor

    def activities(self) -> list:
        return [
            self.submit_step,
            self.confirm_anchors,
            self.confirm_and_close,
            self.anchor_signed,
            self.perform_step,
            self.undo_step,
            self.sign_escalation,
            self.execute_step,
            self.compensate_step,
            self.escalate_step,
            self.anchor_handoff,
            self.close_case,
        ]

    # ------------------------------------------------------------------------------------------
    def _executed(self, request: StepInput) -> SignedHandoff:
        self._check_agency(request.agency, request.step)
        done = self.journal.get(request.key)
        if done is not None:
            return done
        if request.decision == "reject":
            said = (
                {"reason_commitment": request.reason_commitment}  # the text stays with the gateway, erasable
                if request.reason_commitment
                else {"reason": request.reason or "rejected by a clerk"}
            )
            outputs, outcome = {**said, "code": "ClerkRejected"}, "rejected"
        else:
            try:
                outputs, outcome = self.backend.perform(request), "completed"
            except Refused as refusal:
                outputs, outcome = {"reason": refusal.reason, "code": refusal.code}, "rejected"
            except Unavailable as exc:
                raise ApplicationError(str(exc), type="AgencyUnavailable") from exc  # retried
            except Broken as exc:
                raise ApplicationError(str(exc), type="AgencyBroken", non_retryable=True) from exc
        parents = [p.hash for p in request.parents]
        signed = self._sign_once(
            request.key, **_step_fields(request), outcome=outcome, outputs=outputs, parents=parents
        )
        activity.logger.info(
            "%s %s: %s",
            self.agency,
            request.step,
            outcome,
            extra={"case_id": request.case_id, "step": request.step, "agency": self.agency},
        )
        return signed

    def _compensated(self, request: CompensateInput) -> SignedHandoff:
        done = request.handoff.record
        self._check_agency(done.agency, done.step)
        if request.handoff.signer.lower() not in self.keys.signing_keys:  # any key of its own, rotated or not
            raise ApplicationError(
                "an agency undoes only what it signed itself", type="WrongAgency", non_retryable=True
            )
        signed = self.journal.get(request.key)
        if signed is not None:
            return signed
        try:
            outputs = self.backend.compensate(request)
        except Unavailable as exc:
            raise ApplicationError(str(exc), type="AgencyUnavailable") from exc
        return self._sign_once(
            request.key,
            **done.model_dump(include={"flow", "flow_version", "rules_version", "step", "case", "attempt"}),
            decided_by="applicant:withdrawal",
            outcome="compensated",
            outputs={"action": request.action, **_reason(request), **outputs},
            parents=[request.handoff.hash],
        )

    def _escalated(self, request: EscalateInput) -> SignedHandoff:
        self._check_agency(request.step.agency, request.step.step)
        signed = self.journal.get(request.key)
        if signed is not None:
            return signed
        return self._sign_once(
            request.key,
            **{**_step_fields(request.step), "decided_by": "rule:sla"},
            outcome="escalated",
            outputs={"sla_minutes": request.sla_minutes, "since": request.since},
            parents=[p.hash for p in request.step.parents],
        )

    def _closed(self, request: CloseInput) -> tuple[SignedHandoff, str]:
        """The case's closing record, signed once for what it says (the state and the trail: a record
        signed early for a trail that then changed, a step's anchor having been refused, is not
        anchored and not used again), with its journal key."""
        self._check_agency(request.agency, CLOSING_STEP)
        outputs = {"state": request.state, "trail": request.trail}
        signed = self.journal.get(request.key)  # journalled under the case's key by an older worker
        if signed is not None and signed.record.outputs == outputs:
            return signed, request.key
        said = hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()[:16]
        key = f"{request.key}/{said}"
        signed = self._sign_once(
            key,
            flow=request.flow,
            flow_version=request.flow_version,
            rules_version=request.flow_version,  # decided by no rules: the definition's own hash
            step=CLOSING_STEP,
            case=request.commitment,
            decided_by=CLOSED_BY,
            outcome="closed",
            outputs=outputs,
        )
        return signed, key

    def _check_parents(self, request: StepInput) -> None:
        """Every parent whose anchor the engine has not confirmed yet has its transaction pending
        or mined, or is anchored by another (a transaction lost with a restarted ledger's pool and
        sent again); else nothing is done, and the engine confirms those parents first."""
        if not request.parent_txs:
            return
        ledger = self.anchorer.ledger
        missing = [
            parent
            for parent, tx in request.parent_txs.items()
            if not ledger.tx_known(tx) and not ledger.anchored_at(parent)
        ]
        if missing:
            raise ApplicationError(
                f"the anchor of parent {', '.join(missing)} is neither pending nor mined: "
                f"confirm it before {request.step}",
                missing,
                type=PARENT_NOT_ON_LEDGER,
                non_retryable=True,
            )

    def _sent(self, handoff: SignedHandoff, key: str) -> SentHandoff:
        """Send the anchor of a handoff this agency signed and journalled under ``key``, without
        waiting for its block; anchored at once by an anchorer that sends no single transactions
        (``chain.batcher``), or when a retry finds the handoff anchored by an earlier attempt."""
        send = getattr(self.anchorer, "send_anchor", None)
        if send is None:
            done = self._anchored(handoff, key)
            return SentHandoff(handoff=done.handoff, key=key, anchor=done.anchor)
        self._check_own(handoff, key)
        if activity.info().attempt > 1:  # an earlier attempt may have sent it, and it may be mined
            anchor = self.anchorer.ledger.anchor_of(handoff.hash)
            if anchor is not None:
                return SentHandoff(handoff=self._accepted_in(handoff, anchor, key), key=key, anchor=anchor)
        record = handoff.record
        try:
            tx = send(handoff.hash, record.flow, record.step, record.case)
        except Exception:  # unreachable, refused (a stale nonce): the activity is retried; counted here
            LEDGER_ERRORS.labels(self.agency, "unavailable").inc()
            raise
        return SentHandoff(handoff=handoff, key=key, tx=tx)

    def _confirmations(self, sent: list[AnchorSent]) -> list[Confirmation]:
        receipts, seen = self._mined(sent)
        return [self._confirmation(s, receipts.get(s.tx), seen) for s in sent]

    def _mined(self, sent: list[AnchorSent], closing_tx: str | None = None) -> tuple[dict[str, dict], Rotations | None]:
        """The receipts of the transactions of ``sent`` (and of ``closing_tx``, this agency's,
        sent last) that are mined, and every signer rotation over their blocks: of two or more,
        one request waits for the block of the last sent (the ledger's order puts the others in
        it or before), one batch request reads all their receipts, one their blocks' times and
        one log query all the rotations. A receipt still missing (a lost transaction, or one a
        foreign node put later) is then waited for alone, and a block outside the rotations read
        is asked of alone."""
        txs = [s.tx for s in sent if s.anchor is None and s.tx] + ([closing_tx] if closing_tx else [])
        if len(txs) < 2:
            return {}, None
        ledger = self.anchorer.ledger
        try:
            last = ledger.receipt_now(txs[-1])  # the embedded node answers once it is sealed
            found = [*ledger.receipts(txs[:-1]), last]
            receipts = {tx: r for tx, r in zip(txs, found, strict=True) if r is not None}
            blocks = [int(r["blockNumber"], 16) for r in receipts.values()]
            ledger.block_timestamps(set(blocks))  # what each anchor tells of its block, in one batch too
        except ChainError as exc:  # a node without batch requests, say: each is confirmed alone
            log.warning("%s: receipts not read in a batch (%s); one by one", self.agency, exc)
            return {}, None
        agencies = {s.agency for s in sent} | ({self.agency} if closing_tx else set())
        return receipts, (self._rotations(agencies, blocks) if blocks else None)

    def _rotations(self, agencies: set[str], blocks: list[int]) -> Rotations | None:
        """Every signer rotation over ``blocks`` and back to where the schedules of ``agencies``
        are known through, in one log query (None: a schedule not known yet is read whole)."""
        known = [self._schedules.get(a) for a in agencies]
        if self.registry is None or any(k is None for k in known):
            return None
        marks = [through for through, _ in known] + blocks
        after, through = min(marks), max(marks)
        try:
            return Rotations(after, through, self.registry.signer_rotations(after, through))
        except Exception as exc:  # noqa: BLE001 - each confirmation asks on its own
            log.warning("%s: registry events unreadable (%s)", self.agency, exc)
            return None

    def _confirmation(self, sent: AnchorSent, receipt: dict | None = None, seen: Rotations | None = None):
        anchor = sent.anchor
        if anchor is None:
            try:
                anchor = self.anchorer.ledger.confirm_anchor(sent.tx, sent.handoff, receipt=receipt)
            except AnchorRefused as exc:
                LEDGER_ERRORS.labels(sent.agency, "refused").inc()
                return Confirmation(handoff=sent.handoff, problem="refused", detail=f"ledger refused the anchor: {exc}")
            if anchor is None:
                detail = f"transaction {sent.tx} is not on the ledger (lost from a restarted ledger's pool?)"
                return Confirmation(handoff=sent.handoff, problem="lost", detail=detail)
        if anchor.handoff != sent.handoff.lower():
            raise ApplicationError(
                f"transaction {sent.tx} anchors {anchor.handoff}, not {sent.handoff}", non_retryable=True
            )
        if self.registry is not None and sent.signer.lower() not in self._accepted_at(
            anchor.block_number, sent.agency, seen
        ):
            return Confirmation(handoff=sent.handoff, anchor=anchor, problem="resign")
        return Confirmation(handoff=sent.handoff, anchor=anchor)

    def _check_own(self, handoff: SignedHandoff, key: str | None) -> None:
        signer = handoff.verify().lower()
        if handoff.record.agency != self.agency or (key is None and signer not in self.keys.signing_keys):
            raise ApplicationError(
                "an agency anchors only handoffs it signed itself", type="WrongAgency", non_retryable=True
            )

    def _anchored(self, handoff: SignedHandoff, key: str | None = None) -> AnchoredHandoff:
        """Anchor a handoff this agency signed (again: a retry finds the anchor already there), with
        a signature the registry accepted in the anchor's block. ``key``: its journal entry, which
        vouches that this agency signed it even by a key the worker no longer holds."""
        self._check_own(handoff, key)
        record = handoff.record
        try:
            with ANCHOR_SECONDS.labels(self.agency).time():
                anchor = self.anchorer.anchor(handoff.hash, record.flow, record.step, record.case)
        except AnchorRefused as exc:
            LEDGER_ERRORS.labels(self.agency, "refused").inc()
            raise ApplicationError(
                f"ledger refused the anchor: {exc}", type="AnchorRefused", non_retryable=True
            ) from exc
        except Exception:  # unreachable, timed out...: the activity is retried; counted here
            LEDGER_ERRORS.labels(self.agency, "unavailable").inc()
            raise
        return AnchoredHandoff(handoff=self._accepted_in(handoff, anchor, key), anchor=anchor)
