"""Record Temporal histories of real cases for the replay tests.

    .venv/bin/python -m tests.workflows.record_histories [NAME ...]   # NAMEs: save only those

Runs cases on the time-skipping server with the real agency adapters and the embedded ledger,
and saves each history (finished, and stopped half-way for in-flight ones) as JSON under
tests/workflows/histories/. Re-record only when a workflow change is meant to be incompatible
(and then guard running cases with ``workflow.patched``); otherwise the replay test is what
tells you a change would break the cases running in production.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from chain.handoff import new_salt, text_commitment
from chain.node import LedgerNode, genesis_for
from tests.fixtures.engine import engine_rig
from tests.fixtures.ledger import new_keys, onboard
from tests.fixtures.stack import application
from tests.fixtures.temporal import venv_binary
from workflows.engine import CaseWorkflow
from workflows.messages import Correction, Decision, Withdrawal

OUT = Path(__file__).with_name("histories")
REVIEW = {"business_scope": "食品经营；日用百货销售"}


def clerk(approve=True, reason=None) -> Decision:
    return Decision(
        step="business_licence",
        approve=approve,
        reason=reason,
        clerk="clerk-market_regulation",
        clerk_agency="market_regulation",
    )


def awaiting(s) -> bool:
    return s.steps[1].state == "awaiting_decision"


ONLY = set(sys.argv[1:])  # histories to save (default: all)


async def save(name: str, handle) -> None:
    if ONLY and name not in ONLY:
        return
    history = await handle.fetch_history()
    (OUT / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print("saved", name, len(history.events), "events")


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    with tempfile.TemporaryDirectory() as tmp:
        admin, keys = new_keys()
        accounts = [admin.account, *(k.account for k in keys.values())]
        node = LedgerNode(
            Path(tmp) / "ledger", genesis=genesis_for({a: 10**24 for a in accounts}, accounts), block_time=0.01
        )
        ledger = onboard("embedded", node.start("127.0.0.1", 0), admin.account_key, keys)
        try:
            async with engine_rig(env, "rec-", ledger, Path(tmp)) as rig:
                h = await rig.start(application() | {"options": {"bank_account": True}})
                await h.result()
                await save("completed_standard", h)

                h = await rig.start(application(**REVIEW))
                await rig.until(h, awaiting)
                await save("inflight_awaiting_clerk", h)
                await env.sleep(timedelta(days=1))
                await rig.until(h, lambda s: s.steps[1].escalated)
                await h.execute_update(CaseWorkflow.decide, clerk())
                await h.result()
                await save("completed_escalated_then_approved", h)

                returned = application(**REVIEW)
                h = await rig.start(returned)
                await rig.until(h, awaiting)
                await h.execute_update(CaseWorkflow.decide, clerk(False, "permit missing"))
                await rig.until(h, lambda s: s.state == "returned")
                await save("inflight_returned", h)
                # the correction changes only what the rejected step judged (the business scope)
                corrected = json.loads(json.dumps(returned))
                corrected["company"]["business_scope"] = application()["company"]["business_scope"]
                await h.execute_update(CaseWorkflow.correct, Correction(applicant="applicant", application=corrected))
                await h.result()
                await save("completed_corrected", h)

                h = await rig.start(application(**REVIEW))
                await rig.until(h, awaiting)
                await h.execute_update(CaseWorkflow.withdraw, Withdrawal(applicant="applicant", reason="changed plans"))
                await h.result()
                await save("withdrawn", h)

                # reasons as salted commitments (the gateway keeps the text), returned then withdrawn
                h = await rig.start(application(**REVIEW))
                await rig.until(h, awaiting)
                committed = text_commitment("permit missing", new_salt())
                await h.execute_update(
                    CaseWorkflow.decide, clerk(False).model_copy(update={"reason_commitment": committed})
                )
                await rig.until(h, lambda s: s.state == "returned")
                await save("inflight_returned_committed", h)
                withdrawal = Withdrawal(applicant="applicant", reason_commitment=text_commitment("later", new_salt()))
                await h.execute_update(CaseWorkflow.withdraw, withdrawal)
                await h.result()
                await save("withdrawn_committed", h)
        finally:
            node.stop()
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
