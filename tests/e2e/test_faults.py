"""Faults on the real embedded stack, with cases in flight: the whole stack killed with SIGKILL at
random moments (Temporal, the ledger, the workers and the gateway at once) and started again, and
the ledger node frozen for a while. Every case completes; each agency acted once per step, signed
once per step and anchored each handoff once; `onevisit audit ledger` is clean. Last, a clean
stop (SIGTERM) leaves no part running, and `up` again resumes with all the data."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
import uuid

import psutil
import pytest

from chain.client import LedgerClient
from gateway.deployment import read_deployment
from tests.fixtures.http import loopback
from tests.fixtures.stack import RunningStack, application, start_stack, wait_all_ended

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

ROUNDS, PER_ROUND = 2, 4


def kill_9(stack: RunningStack) -> None:
    """SIGKILL to `up` and every process it started, all at once: nothing gets to shut down."""
    root = psutil.Process(stack.proc.pid)
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=60)
    stack.proc.wait(timeout=60)


def submit(stack: RunningStack, n: int) -> list[str]:
    headers = stack.token("applicant")
    ids = []
    for _ in range(n):
        key = {"Idempotency-Key": f"faults-{uuid.uuid4().hex}"}
        resp = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=headers | key, timeout=60)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["case_id"])
    return ids


def count(db, sql: str, *args) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchone()[0]


def test_kill_9_of_the_whole_stack_and_a_frozen_ledger_lose_and_repeat_nothing(tmp_path):
    rng = random.Random(20261122)
    data = tmp_path / "data"
    stack = start_stack(data)
    ids: list[str] = []
    in_flight_at_kill = 0
    try:
        for _ in range(ROUNDS):
            ids += submit(stack, PER_ROUND)
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere mid-step, mid-anchor or mid-record
            kill_9(stack)
            in_flight_at_kill += count(data / "onevisit.db", "SELECT count(*) FROM 'case' WHERE status='running'")
            stack = start_stack(data)
        assert in_flight_at_kill > 0  # the kills landed with work under way
        # the ledger node frozen (SIGSTOP) while cases need it, then thawed: they wait, then go on
        ledger = psutil.Process(int((data / "run" / "ledger.pid").read_text()))
        ids += submit(stack, PER_ROUND)
        ledger.send_signal(signal.SIGSTOP)
        time.sleep(4)
        ledger.send_signal(signal.SIGCONT)
        cases = wait_all_ended(stack, ids)

        assert {c["status"] for c in cases.values()} == {"completed"}, {k: c["status"] for k, c in cases.items()}
        agencies = data / "agencies"
        auditor = stack.token("auditor")
        chain = LedgerClient(stack.health["ledger_rpc"], read_deployment(data / "deployment.json")[0])
        for case_id, case in cases.items():
            done = [s for s in case["steps"] if s["state"] == "completed"]
            evidence = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=auditor, timeout=60).json()
            handoffs = [i["handoff"]["hash"] for i in evidence["handoffs"]]
            assert len(handoffs) == len(set(handoffs)) == len(done) + 1  # one per step and the closing, none twice
            assert evidence["handoffs"][-1]["handoff"]["hash"] == case["closing"]  # the trail ends in its closing
            anchors = chain.anchors_for_case(evidence["commitment"])
            assert sorted(a.handoff for a in anchors) == sorted(handoffs)  # each anchored once
            for step in done:
                name = step["agency"]
                backend, journal = agencies / name / f"{name}-backend.db", agencies / name / f"{name}-journal.db"
                acted = count(
                    backend, "SELECT count(*) FROM actions WHERE case_id=? AND action=?", case_id, step["step"]
                )
                signed = count(journal, "SELECT count(*) FROM signed WHERE key LIKE ?", f"{case_id}/{step['step']}/%")
                assert (acted, signed) == (1, 1), (case_id, step["step"])
            journal = agencies / "market_regulation" / "market_regulation-journal.db"
            closings = f"{case_id}/_closing%"  # keyed by what it says: one, as nothing changed the trail
            assert count(journal, "SELECT count(*) FROM signed WHERE key LIKE ?", closings) == 1
            market = agencies / "market_regulation" / "market_regulation-backend.db"
            security = agencies / "public_security" / "public_security-backend.db"
            assert count(market, "SELECT count(*) FROM issued WHERE case_id=? AND kind='uscc'", case_id) == 1
            assert count(security, "SELECT count(*) FROM issued WHERE case_id=? AND kind='seal'", case_id) == 5
        audit = stack.cli_in_process("audit", "ledger", "--url", stack.url)
        assert audit.returncode == 0, audit.stdout + audit.stderr

        # last, a clean stop: SIGTERM stops every part, and up again resumes with all the data
        case_id = ids[0]
        before = json.loads(stack.cli_in_process("status", case_id, "--url", stack.url, "--json", check=True).stdout)
        deployment, children = stack.deployment(), psutil.Process(stack.proc.pid).children(recursive=True)
        assert len(children) >= 4  # temporal, ledger, the workers (engine and every agency), gateway
        stack.stop()
        assert stack.proc.returncode == 0
        gone, alive = psutil.wait_procs(children, timeout=120)  # a hang guard: up waited for them already
        assert not alive, f"still running after stop: {[p.cmdline() for p in alive]}"
        stack = start_stack(data)
        again = json.loads(stack.cli_in_process("status", case_id, "--url", stack.url, "--json", check=True).stdout)
        assert again == before
        assert stack.cli_in_process("audit", "verify", case_id, "--url", stack.url).returncode == 0
        assert stack.deployment() == deployment  # contracts deployed once, on the first start
        new = wait_all_ended(stack, submit(stack, 1))  # the ledger and the engine carry on
        assert [c["status"] for c in new.values()] == ["completed"]
    finally:
        if stack.proc.poll() is None:
            stack.stop()
