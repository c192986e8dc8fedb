"""Anchors sent without waiting for their block (the engine's generation 3), on the real embedded
ledger: a step acts only while its parents' anchors are pending or mined, so no anchor goes before
its parent's; the confirmation tells a mined anchor from a lost, a refused and a mis-signed one;
and an agency anchors again only what its own journal holds."""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
from collections import Counter

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agencies.adapter import SignedHandoffs
from chain.client import LedgerClient, Sender
from chain.errors import ChainError
from chain.handoff import CLOSING_STEP, sign, step_id
from chain.hexid import to_hex
from tests.agencies.test_adapter import FLOW, adapter, request, run
from tests.fixtures.stack import application
from workflows.messages import PARENT_NOT_ON_LEDGER, AnchorInput, AnchorSent, CloseInput, ConfirmInput, SentHandoff

MARKET = "market_regulation"


def confirm(acts, *sent: SentHandoff):
    return run(acts.confirm_anchors, ConfirmInput(case_id="C", sent=[AnchorSent.of(s) for s in sent]))


def place(anchor) -> tuple[int, int]:
    return anchor.block_number, anchor.log_index


def test_a_step_sent_while_its_parents_anchor_is_pending_is_anchored_after_it(embedded_ledger, tmp_path):
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    app = application()
    name = run(market.submit_step, request("name_check", "P-1", app))
    assert name.tx is not None and name.anchor is None
    licence_req = request("business_licence", "P-1", app, [name.handoff])
    licence = run(market.submit_step, licence_req.model_copy(update={"parent_txs": {name.handoff.hash: name.tx}}))
    confirmed = confirm(tax, name, licence)  # any agency confirms: the ledger is read by all
    assert [c.problem for c in confirmed] == [None, None]
    assert [c.handoff for c in confirmed] == [name.handoff.hash, licence.handoff.hash]
    assert place(confirmed[0].anchor) < place(confirmed[1].anchor)
    assert confirmed[0].anchor == embedded_ledger.ledger().anchor_of(name.handoff.hash)


def test_a_step_whose_parents_anchor_is_lost_does_nothing_until_it_is_anchored_again(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, MARKET)
    app = application()
    name_req = request("name_check", "P-2", app)
    signed = run(market.execute_step, name_req)  # signed and journalled; its transaction "lost"
    lost = "0x" + secrets.token_hex(32)
    licence_req = request("business_licence", "P-2", app, [signed]).model_copy(
        update={"parent_txs": {signed.hash: lost}}
    )
    with pytest.raises(ApplicationError) as err:
        run(market.submit_step, licence_req)
    assert err.value.type == PARENT_NOT_ON_LEDGER and err.value.non_retryable
    assert err.value.details == ([signed.hash],)
    assert SignedHandoffs(tmp_path / f"{MARKET}-journal.db").get(licence_req.key) is None  # nothing signed
    assert market.backend.store.once("P-2", "business_licence", lambda: {"untouched": True}) == {"untouched": True}

    sent = SentHandoff(handoff=signed, key=name_req.key, tx=lost)
    (lost_one,) = confirm(market, sent)
    assert lost_one.problem == "lost" and lost_one.anchor is None and lost in lost_one.detail
    again = run(market.anchor_signed, AnchorInput(flow=FLOW.name, step="name_check", handoff=signed, key=name_req.key))
    assert again.handoff == signed and again.anchor == embedded_ledger.ledger().anchor_of(signed.hash)
    (found,) = confirm(market, sent)  # the lost transaction's anchor is the one sent again
    assert found.problem is None and found.anchor == again.anchor
    licence = run(market.submit_step, licence_req)  # the parent is anchored now: the step acts
    (mined,) = confirm(market, licence)
    assert mined.problem is None and place(again.anchor) < place(mined.anchor)


def test_a_retried_send_finds_the_first_attempts_anchor(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, MARKET)
    req = request("name_check", "P-3", application())
    first = run(market.submit_step, req)
    (mined,) = confirm(market, first)
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)
    again = retry.run(market.submit_step, req)
    assert again.handoff == first.handoff and again.tx is None and again.anchor == mined.anchor
    assert embedded_ledger.ledger().anchors_for_case(first.handoff.record.case) == [mined.anchor]


def test_a_confirmation_names_the_contracts_refusal(embedded_ledger, tmp_path):
    """An anchor the contract reverts (here: the tax agency's account anchoring a step the market
    regulator owns) is reported refused, with the reason, and is on the ledger as no anchor."""
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    signed = run(tax.execute_step, request("tax_registration", "P-4", application()))
    tx = Sender(embedded_ledger.ledger(), embedded_ledger.keys["tax"].account_key).send_anchor(
        signed.hash, FLOW.name, "name_check", signed.record.case
    )
    (refused,) = confirm(market, SentHandoff(handoff=signed, key="P-4/tax_registration/1", tx=tx))
    assert refused.problem == "refused" and "step owned by another agency" in refused.detail
    assert refused.anchor is None and embedded_ledger.ledger().anchor_of(signed.hash) is None


def test_an_agency_anchors_again_only_what_its_journal_holds(embedded_ledger, tmp_path):
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    req = request("name_check", "P-5", application())
    signed = run(market.execute_step, req)
    # another agency's worker, a key naming no journal entry, a record other than the one journalled
    forged = sign(signed.record.model_copy(update={"outputs": {"name_reserved": 1}}), secrets.token_bytes(32))
    for acts, handoff, key in ((tax, signed, req.key), (market, signed, "P-5/other/1"), (market, forged, req.key)):
        with pytest.raises(ApplicationError, match="anchors only handoffs it signed") as err:
            run(acts.anchor_signed, AnchorInput(flow=FLOW.name, step="name_check", handoff=handoff, key=key))
        assert err.value.non_retryable and err.value.type == "WrongAgency"
    assert embedded_ledger.ledger().anchor_of(signed.hash) is None
    assert embedded_ledger.ledger().anchor_of(forged.hash) is None


def closing_of(case: str, trail: list[str], state: str = "completed", sent=()) -> CloseInput:
    return CloseInput(
        key=f"{case}/_closing",
        case_id=case,
        flow=FLOW.name,
        flow_version=FLOW.version_hash(),
        agency=MARKET,
        commitment="",
        state=state,
        trail=trail,
        sent=[AnchorSent.of(s) for s in sent],
    )


def closings(ledger, commitment: str) -> list:
    closing = to_hex(step_id(FLOW.name, CLOSING_STEP))
    return [a for a in ledger.anchors_for_case(commitment) if a.step.lower() == closing]


def test_the_closing_record_follows_its_pending_anchors_on_the_ledger(embedded_ledger, tmp_path):
    """Sent while the steps' anchors are pending, the closing record is anchored after them (in
    their block where the ledger seals them together), through the contract's ``anchor_after``."""
    market = adapter(embedded_ledger, tmp_path, MARKET)
    app = application()
    name = run(market.submit_step, request("name_check", "P-6", app))
    licence = run(market.submit_step, request("business_licence", "P-6", app, [name.handoff]))
    case = name.handoff.record.case
    trail = [name.handoff.hash, licence.handoff.hash]
    close = closing_of("P-6", trail, sent=[name, licence]).model_copy(update={"commitment": case})
    ledger = embedded_ledger.ledger()
    assert ledger.orders_anchors()

    closed = run(market.confirm_and_close, close)

    assert [c.problem for c in closed.confirmations] == [None, None]
    assert closed.closing.handoff.record.outputs == {"state": "completed", "trail": trail}
    assert max(place(c.anchor) for c in closed.confirmations) < place(closed.closing.anchor)
    assert ledger.anchor_of(closed.closing.handoff.hash) == closed.closing.anchor
    again = run(market.confirm_and_close, close.model_copy(update={"sent": []}))  # asked again: the same one
    assert again.closing == closed.closing and closings(ledger, case) == [closed.closing.anchor]


def test_a_closing_record_sent_early_never_goes_before_a_lost_anchor(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, MARKET)
    app = application()
    name = run(market.submit_step, request("name_check", "P-7", app))
    licence_req = request("business_licence", "P-7", app, [name.handoff])
    signed = run(market.execute_step, licence_req)  # signed and journalled; its transaction "lost"
    gone = SentHandoff(handoff=signed, key=licence_req.key, tx="0x" + secrets.token_hex(32))
    case = name.handoff.record.case
    close = closing_of("P-7", [name.handoff.hash, signed.hash], sent=[name, gone]).model_copy(
        update={"commitment": case}
    )
    ledger = embedded_ledger.ledger()

    held = run(market.confirm_and_close, close)
    assert held.closing is None and [c.problem for c in held.confirmations] == [None, "lost"]
    # as the engine does: the lost one sent again by its agency, then the closing asked for again
    resend = AnchorInput(flow=FLOW.name, step="business_licence", handoff=signed, key=gone.key)
    again = run(market.anchor_signed, resend)
    closed = run(market.confirm_and_close, close.model_copy(update={"sent": []}))

    assert place(again.anchor) < place(closed.closing.anchor)
    assert closings(ledger, case) == [closed.closing.anchor]  # the early transaction anchored nothing


def test_a_closing_record_signed_for_a_trail_that_then_changed_is_never_anchored(embedded_ledger, tmp_path):
    """A step's anchor refused: the case fails and its trail changes, so the closing record signed
    early (``completed``) is replaced by one that says so; only that one is on the ledger."""
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    app = application()
    name = run(market.submit_step, request("name_check", "P-8", app))
    refused_one = run(tax.execute_step, request("tax_registration", "P-8", app))
    tx = Sender(embedded_ledger.ledger(), embedded_ledger.keys["tax"].account_key).send_anchor(
        refused_one.hash, FLOW.name, "name_check", refused_one.record.case
    )
    refused = SentHandoff(handoff=refused_one, key="P-8/tax_registration/1", tx=tx)
    case = name.handoff.record.case
    trail = [name.handoff.hash, refused_one.hash]
    close = closing_of("P-8", trail, sent=[name, refused]).model_copy(update={"commitment": case})
    ledger = embedded_ledger.ledger()

    held = run(market.confirm_and_close, close)
    assert held.closing is None and [c.problem for c in held.confirmations] == [None, "refused"]
    failed = run(market.confirm_and_close, close.model_copy(update={"state": "failed", "trail": trail[:1], "sent": []}))

    assert failed.closing.handoff.record.outputs == {"state": "failed", "trail": trail[:1]}
    assert closings(ledger, case) == [failed.closing.anchor]
    assert ledger.anchor_of(refused_one.hash) is None


def test_on_a_ledger_contract_without_anchor_after_the_closing_waits_for_the_confirmations(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, MARKET)
    ledger = market.anchorer.ledger
    older = type(ledger.deployment)(**{**ledger.deployment.to_json(), "ledger": ledger.deployment.registry})
    assert ledger.orders_anchors() and not LedgerClient(ledger.url, older).orders_anchors()
    ledger._orders = False  # as read from a HandoffLedger deployed before anchor_after
    app = application()
    name = run(market.submit_step, request("name_check", "P-9", app))
    signed = run(market.execute_step, request("name_check", "P-9x", app))
    gone = SentHandoff(handoff=signed, key="P-9x/name_check/1", tx="0x" + secrets.token_hex(32))
    case = name.handoff.record.case
    close = closing_of("P-9", [name.handoff.hash], sent=[name, gone]).model_copy(update={"commitment": case})

    held = run(market.confirm_and_close, close)
    assert held.closing is None and [c.problem for c in held.confirmations] == [None, "lost"]
    with sqlite3.connect(tmp_path / f"{MARKET}-journal.db") as journal:  # nothing signed before it is sure
        assert journal.execute("SELECT key FROM signed WHERE key LIKE 'P-9/%'").fetchall() == [("P-9/name_check/1",)]
    closed = run(market.confirm_and_close, close.model_copy(update={"sent": [AnchorSent.of(name)]}))
    assert place(closed.confirmations[0].anchor) < place(closed.closing.anchor)
    assert closings(ledger, case) == [closed.closing.anchor]


class CountingRpc:
    """The ledger client's JSON-RPC, counting the requests each method makes (a batch is one)."""

    def __init__(self, rpc):
        self.rpc, self.requests = rpc, Counter()

    def __call__(self, method, *params):
        self.requests[method] += 1
        return self.rpc(method, *params)

    def batch(self, calls):
        self.requests[f"batch of {calls[0][0]}" if calls else "empty batch"] += 1
        return self.rpc.batch(calls)


def test_a_case_is_confirmed_and_closed_in_a_few_requests_whatever_its_steps(embedded_ledger, tmp_path):
    """One request waits for the closing's block, one batch reads every receipt, and one log query
    checks every signer over those blocks: not a receipt and a log query per anchor."""
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    ledger = market.anchorer.ledger
    market.registry = ledger  # the registry's schedules read as a running worker reads them
    app = application()
    name = run(market.submit_step, request("name_check", "P-10", app))
    licence = run(market.submit_step, request("business_licence", "P-10", app, [name.handoff]))
    taxed = run(tax.submit_step, request("tax_registration", "P-10", app, [licence.handoff]))
    case = name.handoff.record.case
    trail = [name.handoff.hash, licence.handoff.hash, taxed.handoff.hash]
    close = closing_of("P-10", trail, sent=[name, licence, taxed]).model_copy(update={"commitment": case})
    ledger.orders_anchors()  # read once per worker: the contract's code
    for agency in ("tax", MARKET):  # as a running worker has: each agency's schedule read once
        market._know(agency, *ledger.signer_schedule(agency))
    counting = ledger.rpc = CountingRpc(ledger.rpc)
    try:
        closed = run(market.confirm_and_close, close)
    finally:
        ledger.rpc = counting.rpc

    assert [c.problem for c in closed.confirmations] == [None, None, None] and closed.closing is not None
    assert counting.requests["eth_getTransactionReceipt"] == 1  # the closing's, held until its block
    assert counting.requests["batch of eth_getTransactionReceipt"] == 1
    assert counting.requests["eth_getLogs"] == 1  # every agency's signer rotations over those blocks
    assert counting.requests["batch of eth_getBlockByNumber"] <= 1  # the blocks' times, unless known
    assert counting.requests["eth_sendRawTransaction"] == 1  # the closing record's anchor
    assert sum(counting.requests.values()) <= 6, counting.requests  # and perhaps the fees, read again


class SwappingRpc:
    """A hostile or broken ledger node: asked for the receipts of ``ours``, it answers with the
    receipt of ``stranger`` (a transaction the contract refused), in single and batch requests."""

    def __init__(self, rpc, ours: set[str], stranger: str):
        self.rpc, self.ours, self.stranger = rpc, ours, stranger

    def _swapped(self, method, params):
        if method == "eth_getTransactionReceipt" and params[0] in self.ours:
            return "eth_getTransactionReceipt", [self.stranger]
        return method, params

    def __call__(self, method, *params):
        method, params = self._swapped(method, list(params))
        return self.rpc(method, *params)

    def batch(self, calls):
        return self.rpc.batch([self._swapped(m, p) for m, p in calls])


def test_a_stranger_refused_transactions_receipt_never_passes_for_an_anchors(embedded_ledger, tmp_path):
    """A node answering another transaction's receipt (reverted) for a case's anchors: no step is
    taken as refused on its word; the confirmation fails (retried), and succeeds from an honest node."""
    market, tax = adapter(embedded_ledger, tmp_path, MARKET), adapter(embedded_ledger, tmp_path, "tax")
    app = application()
    name = run(market.submit_step, request("name_check", "P-11", app))
    licence = run(market.submit_step, request("business_licence", "P-11", app, [name.handoff]))
    wrong = run(tax.execute_step, request("tax_registration", "P-11", app))
    stranger = Sender(embedded_ledger.ledger(), embedded_ledger.keys["tax"].account_key).send_anchor(
        wrong.hash, FLOW.name, "name_check", wrong.record.case
    )  # the contract refuses it: a step owned by another agency
    ledger = tax.anchorer.ledger
    assert ledger.receipt(stranger)["status"] == "0x0"
    honest = ledger.rpc
    ledger.rpc = SwappingRpc(honest, {name.tx, licence.tx}, stranger)
    try:
        with pytest.raises(ChainError, match="answered the receipt of"):
            confirm(tax, name, licence)  # two anchors: the batch path, then one by one
        with pytest.raises(ChainError, match="answered the receipt of"):
            confirm(tax, licence)  # one: the lone path
    finally:
        ledger.rpc = honest
    assert [c.problem for c in confirm(tax, name, licence)] == [None, None]
