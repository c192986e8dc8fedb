"""Random sequences of registry changes and anchors: the contracts agree with a Python model.

The model applies the same rules in the same order as the contracts, so each step predicts
either success or the exact revert reason; after each run every view is compared."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from contracts.tests.conftest import signer_address
from contracts.tests.helpers import EMPTY, ZERO_ADDRESS, agency_id, h, only_event, reverts, step_id, transact

NAMES = ["market_regulation", "tax_administration", "social_security", "never_registered"]
STEPS = [step_id("business_registration", s) for s in ("licence", "tax_number", "insurance", "seal")]
HANDOFFS = [h(f"handoff {i}") for i in range(6)]
ROOTS = [h(f"root {i}") for i in range(3)]
SIGNERS = [signer_address(str(i)) for i in range(3)] + [ZERO_ADDRESS]
CASE = h("case commitment")


@dataclass
class ModelAgency:
    account: str
    signer: str
    active: bool = True
    next_signer: str = ZERO_ADDRESS  # scheduled to replace signer from block next_from
    next_from: int = 0

    def settle(self, block: int) -> None:
        if self.next_signer != ZERO_ADDRESS and block >= self.next_from:
            self.signer, self.next_signer, self.next_from = self.next_signer, ZERO_ADDRESS, 0

    def signer_at(self, block: int) -> str:
        return self.next_signer if self.next_signer != ZERO_ADDRESS and block >= self.next_from else self.signer


@dataclass
class Model:
    """What the registry and the ledger should hold; each method returns the expected revert
    reason, or None after applying the change."""

    admin: str
    agencies: dict[bytes, ModelAgency] = field(default_factory=dict)
    agency_of: dict[str, bytes] = field(default_factory=dict)
    owner_of_step: dict[bytes, bytes] = field(default_factory=dict)
    anchored_at: dict[bytes, int] = field(default_factory=dict)
    batch_anchored_at: dict[bytes, int] = field(default_factory=dict)

    def _account_refusal(self, account: str) -> str | None:
        if account == ZERO_ADDRESS:
            return "zero account"
        if account in self.agency_of:
            return "account already in use"
        return None

    def _admin_refusal(self, sender: str, agency: bytes) -> str | None:
        if sender != self.admin:
            return "caller is not admin"
        if agency not in self.agencies:
            return "unknown agency"
        return None

    def register(self, sender, agency, account, signer):
        if sender != self.admin:
            return "caller is not admin"
        if agency in self.agencies:
            return "agency already registered"
        if refusal := self._account_refusal(account):
            return refusal
        if signer == ZERO_ADDRESS:
            return "zero signer"
        self.agencies[agency] = ModelAgency(account, signer)
        self.agency_of[account] = agency

    def rotate_account(self, sender, agency, account):
        if refusal := self._admin_refusal(sender, agency) or self._account_refusal(account):
            return refusal
        del self.agency_of[self.agencies[agency].account]
        self.agency_of[account] = agency
        self.agencies[agency].account = account

    def rotate_signer(self, sender, agency, signer, effective, block):
        """``block``: the block the transaction is mined in."""
        if refusal := self._admin_refusal(sender, agency):
            return refusal
        if effective <= block:
            return "effective block not after the current block"
        a = self.agencies[agency]
        a.settle(block)
        if a.next_signer != ZERO_ADDRESS:
            return "rotation already pending"
        if signer == ZERO_ADDRESS:
            return "zero signer"
        if signer == a.signer:
            return "signer unchanged"
        a.next_signer, a.next_from = signer, effective

    def suspend(self, sender, agency):
        if refusal := self._admin_refusal(sender, agency):
            return refusal
        if not self.agencies[agency].active:
            return "agency already suspended"
        self.agencies[agency].active = False

    def reinstate(self, sender, agency):
        if refusal := self._admin_refusal(sender, agency):
            return refusal
        if self.agencies[agency].active:
            return "agency not suspended"
        self.agencies[agency].active = True

    def assign(self, sender, step, agency):
        if refusal := self._admin_refusal(sender, agency):
            return refusal
        self.owner_of_step[step] = agency

    def sender_refusal(self, sender) -> str | None:
        if sender not in self.agency_of:
            return "unregistered account"
        if not self.agencies[self.agency_of[sender]].active:
            return "agency suspended"
        return None

    def anchor_refusal(self, sender, handoff, step) -> str | None:
        if refusal := self.sender_refusal(sender):
            return refusal
        if step not in self.owner_of_step:
            return "step not assigned"
        if self.owner_of_step[step] != self.agency_of[sender]:
            return "step owned by another agency"
        if handoff in self.anchored_at:
            return "handoff already anchored"
        return None

    def batch_refusal(self, sender, root, count) -> str | None:
        if refusal := self.sender_refusal(sender):
            return refusal
        if count == 0:
            return "empty batch"
        if root in self.batch_anchored_at:
            return "batch already anchored"
        return None


class LedgerMachine(RuleBasedStateMachine):
    """Runs against the deployment that ``bound`` attaches; each run starts from its snapshot."""

    tester = registry = ledger = snapshot = None
    admin: str
    stranger: str
    pool: list[str]  # funded accounts that agencies may use

    @classmethod
    def bound(cls, *, tester, registry, ledger, admin, stranger, pool) -> type[LedgerMachine]:
        attrs = dict(tester=tester, registry=registry, ledger=ledger, admin=admin, stranger=stranger, pool=pool)
        return type("BoundLedgerMachine", (cls,), {**attrs, "snapshot": tester.take_snapshot()})

    def __init__(self):
        super().__init__()
        self.tester.revert_to_snapshot(self.snapshot)
        self.model = Model(admin=self.admin)

    def expect(self, fn, sender, refusal):
        """Send ``fn``; it must succeed if the model refused nothing, else revert with its reason."""
        if refusal is None:  # a fixed gas limit skips estimation, which halves the run time
            receipt = fn.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": 300_000}))
            assert receipt.status == 1, f"{fn.fn_name} reverted, the model expected success"
            return receipt
        with reverts(refusal):
            transact(fn, sender)
        return None

    def caller(self, by_admin: bool) -> str:
        return self.admin if by_admin else self.stranger

    def account(self, i: int) -> str:
        return ZERO_ADDRESS if i >= len(self.pool) else self.pool[i]

    def sender(self, choice: tuple[str, int]) -> str:
        """An agency's current account (the stranger if it has none), or any pool account."""
        kind, i = choice
        if kind == "pool":
            return self.pool[i]
        agency = self.model.agencies.get(agency_id(NAMES[i]))
        return agency.account if agency else self.stranger

    by_admin = st.sampled_from([True, True, True, False])
    name = st.sampled_from(NAMES)
    account_index = st.integers(0, 5)  # 5 stands for the zero address
    signer = st.sampled_from(SIGNERS)
    step = st.sampled_from(STEPS)
    anchor_sender = st.tuples(st.sampled_from(["agency", "agency", "pool"]), st.integers(0, 3))
    anchor_step = st.one_of(st.none(), step)  # None: a step the sender's agency owns, if any

    @initialize()
    def two_agencies_with_a_step_each(self):
        """Start where anchoring is possible; the rules then change it at random."""
        for i in range(2):
            self.register(True, NAMES[i], i, SIGNERS[i])
            self.assign(True, STEPS[i], NAMES[i])

    # registry ------------------------------------------------------------------------------
    @rule(by_admin=by_admin, name=name, i=account_index, signer=signer)
    def register(self, by_admin, name, i, signer):
        sender, aid, account = self.caller(by_admin), agency_id(name), self.account(i)
        refusal = self.model.register(sender, aid, account, signer)
        self.expect(self.registry.functions.register_agency(aid, name, account, signer), sender, refusal)
        assert self.registry.functions.agency_of(account).call() == self.model.agency_of.get(account, EMPTY)

    @rule(by_admin=by_admin, name=name, i=account_index)
    def rotate_account(self, by_admin, name, i):
        sender, aid, account = self.caller(by_admin), agency_id(name), self.account(i)
        refusal = self.model.rotate_account(sender, aid, account)
        self.expect(self.registry.functions.rotate_account(aid, account), sender, refusal)

    @rule(by_admin=by_admin, name=name, signer=signer, delay=st.integers(-1, 3))
    def rotate_signer(self, by_admin, name, signer, delay):
        sender, aid = self.caller(by_admin), agency_id(name)
        block = self.registry.w3.eth.block_number + 1  # one block per transaction
        effective = max(block + delay, 0)
        refusal = self.model.rotate_signer(sender, aid, signer, effective, block)
        self.expect(self.registry.functions.rotate_signer(aid, signer, effective), sender, refusal)

    @rule(by_admin=by_admin, name=name)
    def suspend(self, by_admin, name):
        sender, aid = self.caller(by_admin), agency_id(name)
        self.expect(self.registry.functions.suspend_agency(aid), sender, self.model.suspend(sender, aid))

    @rule(by_admin=by_admin, name=name)
    def reinstate(self, by_admin, name):
        sender, aid = self.caller(by_admin), agency_id(name)
        self.expect(self.registry.functions.reinstate_agency(aid), sender, self.model.reinstate(sender, aid))

    @rule(by_admin=by_admin, step=step, name=name)
    def assign(self, by_admin, step, name):
        sender, aid = self.caller(by_admin), agency_id(name)
        self.expect(self.registry.functions.assign_step(step, aid), sender, self.model.assign(sender, step, aid))

    # ledger --------------------------------------------------------------------------------
    @rule(who=anchor_sender, handoff=st.sampled_from(HANDOFFS), step=anchor_step)
    def anchor(self, who, handoff, step):
        sender = self.sender(who)
        if step is None:
            owned = [s for s, a in self.model.owner_of_step.items() if a == self.model.agency_of.get(sender)]
            step = owned[0] if owned else STEPS[-1]
        refusal = self.model.anchor_refusal(sender, handoff, step)
        receipt = self.expect(self.ledger.functions.anchor(handoff, step, CASE), sender, refusal)
        if receipt is not None:
            self.model.anchored_at[handoff] = receipt.blockNumber
            event = only_event(self.ledger, "HandoffAnchored", receipt)
            assert (event["agency"], event["account"]) == (self.model.agency_of[sender], sender)

    @rule(who=anchor_sender, root=st.sampled_from(ROOTS), count=st.integers(0, 3))
    def anchor_batch(self, who, root, count):
        sender = self.sender(who)
        refusal = self.model.batch_refusal(sender, root, count)
        receipt = self.expect(self.ledger.functions.anchor_batch(root, count), sender, refusal)
        if receipt is not None:
            self.model.batch_anchored_at[root] = receipt.blockNumber

    def teardown(self):
        m, r, led = self.model, self.registry.functions, self.ledger.functions
        head = self.registry.w3.eth.block_number
        for name in NAMES:
            aid = agency_id(name)
            agency = m.agencies.get(aid)
            assert r.account_of(aid).call() == (agency.account if agency else ZERO_ADDRESS)
            assert r.signer_of(aid).call(block_identifier=head) == (agency.signer_at(head) if agency else ZERO_ADDRESS)
            assert r.is_active(aid).call() == (agency is not None and agency.active)
        for account in [*self.pool, self.admin, self.stranger]:
            assert r.agency_of(account).call() == m.agency_of.get(account, EMPTY)
        for step in STEPS:
            assert r.owner_of_step(step).call() == m.owner_of_step.get(step, EMPTY)
        for handoff in HANDOFFS:
            assert led.anchored_at(handoff).call() == m.anchored_at.get(handoff, 0)
        for root in ROOTS:
            assert led.batch_anchored_at(root).call() == m.batch_anchored_at.get(root, 0)


def test_contracts_agree_with_the_model(tester, registry, ledger, admin, stranger, accounts):
    machine = LedgerMachine.bound(
        tester=tester, registry=registry, ledger=ledger, admin=admin, stranger=stranger, pool=accounts[4:9]
    )
    run_state_machine_as_test(machine, settings=settings(max_examples=20, stateful_step_count=25, deadline=None))
