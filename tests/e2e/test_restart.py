"""Parts of the production shape restarted under load (`onevisit up --split-workers`, each worker in
its own process): a crashed agency worker is started again, and an agency's signing key is rotated
with cases in flight. (SIGTERM and `up` again on the same data: the end of test_faults.)"""

from __future__ import annotations

import json
import re
import time

import psutil
import pytest

from tests.e2e.test_clerks import review_application, step, wait_for
from tests.fixtures.http import loopback
from tests.fixtures.stack import application, wait_all_ended, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("postgres")]  # the split stack lives beside PostgreSQL


def apply_and_wait(stack, tmp_path) -> dict:
    path = write_application(tmp_path, application())
    return json.loads(
        stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout
    )


def test_a_crashed_agency_worker_is_started_again_and_cases_go_on(split_stack, tmp_path):
    tax = next(
        p for p in psutil.Process(split_stack.proc.pid).children() if p.cmdline()[-3:] == ["worker", "agency", "tax"]
    )
    tax.kill()
    tax.wait(120)
    assert apply_and_wait(split_stack, tmp_path)["status"] == "completed"
    assert "agency-tax exited" in (split_stack.data_dir.parent / "data-up.log").read_text()
    assert split_stack.proc.poll() is None  # the stack stayed up


def worker_starts(stack, agency: str) -> tuple[str, int]:
    """The agency worker's pid and how often a worker of it has begun polling so far."""
    log = (stack.data_dir / "logs" / f"agency-{agency}.log").read_text()
    return (stack.data_dir / "run" / f"agency-{agency}.pid").read_text(), log.count(f"agency {agency} polling")


def wait_for_new_worker(stack, agency: str, before: tuple[str, int]) -> None:
    """Until the supervisor has started the agency's worker again and it polls its queue."""
    while True:
        pid, starts = worker_starts(stack, agency)
        if pid != before[0] and starts > before[1]:
            return
        assert stack.proc.poll() is None, "the stack stopped"
        time.sleep(0.1)


def registry_row(stack, agency: str) -> dict:
    shown = stack.cli("registry", "show", "--data-dir", str(stack.data_dir), "--json", check=True).stdout
    return json.loads(shown)[agency]


def evidence(stack, case_id: str) -> dict:
    return loopback.get(
        f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor"), timeout=60
    ).json()


def signer_of(bundle: dict, step: str, outcome: str = "completed") -> str:
    return next(
        i["handoff"]["signer"]
        for i in bundle["handoffs"]
        if (i["handoff"]["record"]["step"], i["handoff"]["record"]["outcome"]) == (step, outcome)
    )


def seal_up_to(stack, block: int) -> None:
    """Seal blocks until the ledger's head is ``block``: the node seals only when it has
    transactions, so the admin sends itself empty ones, one block each."""
    from eth_account import Account
    from web3 import Web3

    from agencies.keys import AgencyKeys
    from chain.client import fees

    w3 = Web3(Web3.HTTPProvider(json.loads((stack.data_dir / "run" / "ledger.json").read_text())["url"]))
    admin = Account.from_key(AgencyKeys.load(stack.data_dir / "keys" / "admin.json").account_key)
    while w3.eth.block_number < block:
        nonce = w3.eth.get_transaction_count(admin.address, "pending")
        tx = {"to": admin.address, "value": 0, "gas": 21000, "nonce": nonce, "chainId": w3.eth.chain_id, **fees(w3)}
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(admin.sign_transaction(tx).raw_transaction))


def test_a_signing_key_rotation_with_cases_in_flight_leaves_no_gap(split_stack, tmp_path):
    """Two-phase: cases held by a market-regulation clerk (their name checks signed by the old key)
    are in flight when the agency's key is rotated, and more are applied while its worker restarts
    with the new key; they all complete, one is withdrawn after the new key took over (undoing what
    the old key signed), and every trail verifies, online and from its bundle."""
    stack, agency = split_stack, "market_regulation"
    done_before = apply_and_wait(stack, tmp_path)
    held = []
    for n in range(2):  # each waits for a market-regulation clerk: its name check signed by the old key
        path = tmp_path / f"review-{n}.json"
        path.write_text(json.dumps(review_application(), ensure_ascii=False), encoding="utf-8")
        held.append(
            json.loads(stack.cli_in_process("apply", str(path), "--url", stack.url, "--json", check=True).stdout)
        )
    for case in held:
        wait_for(stack, case["case_id"], lambda c: step(c, "business_licence")["state"] == "awaiting_decision")
    old_signer = stack.deployment()["agencies"][agency]["signer"]
    worker_before = worker_starts(stack, agency)
    out = stack.cli(
        "registry", "rotate-signer", agency, "--data-dir", str(stack.data_dir), "--blocks", "24", check=True
    )
    effective = int(re.search(r"from block (\d+)", out.stdout).group(1))
    new_signer = stack.deployment()["agencies"][agency]["signer"]
    assert f"signer {old_signer} -> {new_signer} from block {effective}" in out.stdout
    assert registry_row(stack, agency) | {"account": None} == {
        "account": None,
        "signer": old_signer,  # the old key is still in force, the new one scheduled
        "next_signer": new_signer,
        "next_signer_from": effective,
        "active": True,
    }
    applicant = stack.token("applicant")  # applied while the agency's worker restarts: they wait for it
    flying = [
        loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=applicant, timeout=60).json()
        for _ in range(3)
    ]
    wait_for_new_worker(stack, agency, worker_before)

    ended = wait_all_ended(stack, [c["case_id"] for c in flying])
    assert {c["status"] for c in ended.values()} == {"completed"}
    stack.cli_in_process("decide", held[0]["case_id"], "approve", "--url", stack.url, "--agency", agency, check=True)
    wait_for(stack, held[0]["case_id"], lambda c: c["status"] == "completed")
    seal_up_to(stack, effective)  # the new key takes over
    after = [apply_and_wait(stack, tmp_path)]
    assert registry_row(stack, agency)["signer"] == new_signer
    stack.cli_in_process(
        "withdraw", held[1]["case_id"], "--reason", "premises fell through", "--url", stack.url, check=True
    )
    withdrawn = wait_for(stack, held[1]["case_id"], lambda c: c["status"] == "withdrawn")
    assert step(withdrawn, "name_check")["state"] == "compensated"

    undone = evidence(stack, held[1]["case_id"])
    assert signer_of(undone, "name_check") == old_signer  # signed before the rotation...
    assert signer_of(undone, "name_check", "compensated") == new_signer  # ...undone after it took effect
    assert signer_of(evidence(stack, held[0]["case_id"]), "business_licence") == new_signer  # a clerk, after
    assert signer_of(evidence(stack, after[-1]["case_id"]), "name_check") == new_signer
    assert {signer_of(evidence(stack, c["case_id"]), "name_check") for c in flying} == {new_signer}
    assert signer_of(evidence(stack, done_before["case_id"]), "name_check") == old_signer
    for case in [done_before, *held, *flying, *after]:  # each judged by the keys registered at its anchors
        verified = stack.cli_in_process("audit", "verify", case["case_id"], "--url", stack.url)
        assert verified.returncode == 0, verified.stdout
    for case in (done_before, held[1]):
        bundle = tmp_path / f"{case['case_id']}.json"
        stack.cli_in_process("audit", "export", case["case_id"], "-o", str(bundle), "--url", stack.url, check=True)
        offline = stack.cli_in_process("audit", "verify-bundle", str(bundle))  # the bundle carries the key history
        assert offline.returncode == 0, offline.stdout
