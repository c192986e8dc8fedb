"""A worker killed mid-step (kill -9) and restarted: the case completes, and no agency action
is performed twice, no handoff signed twice, no handoff anchored twice."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from cryptography.fernet import Fernet
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from gateway.deployment import write_deployment
from tests.fixtures.engine import FLOW, engine_rig
from tests.fixtures.stack import application
from workflows.codec import agency_recipient, data_converter, payload_key
from workflows.messages import SUBMIT_STEP

ROOT = Path(__file__).resolve().parents[2]


def tax_worker(env, data_dir: Path, latency_s: float = 0) -> subprocess.Popen:
    """The tax agency's worker as its own process (`onevisit worker agency tax`); each action takes
    ``latency_s`` before it is performed."""
    environment = {
        **os.environ,
        "ONEVISIT_DATA_DIR": str(data_dir),
        "ONEVISIT_LEDGER_RPC": env["ledger"],
        "ONEVISIT_TEMPORAL_ADDRESS": env["temporal"],
        "ONEVISIT_SIMULATED_LATENCY_S": str(latency_s),
    }
    log = open(data_dir / "tax-worker.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", "agency", "tax"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


async def tax_step_started(handle, worker: subprocess.Popen) -> bool:
    """The tax step is running in that very worker process (not another agency's step)."""
    desc = await handle.describe()
    return any(
        p.activity_type.name == SUBMIT_STEP
        and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        and p.last_worker_identity.startswith(f"{worker.pid}@")
        for p in desc.raw_description.pending_activities
    )


async def test_killing_the_agency_worker_mid_step_repeats_nothing(time_skipping_env, embedded_ledger, tmp_path):
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    key = Fernet.generate_key().decode()  # the engine's data key; the worker process holds only its payload key
    tax_keys = dataclasses.replace(embedded_ledger.keys["tax"], payload_key=payload_key(key, agency_recipient("tax")))
    tax_keys.save(data / "keys" / "tax.json")
    write_deployment(
        data / "deployment.json",
        embedded_ledger.deployment,
        {n: {"signer": k.signer, "account": k.account} for n, k in embedded_ledger.keys.items()},
    )
    client = Client(
        time_skipping_env.client.service_client,
        namespace=time_skipping_env.client.namespace,
        data_converter=data_converter(key),
    )
    target = time_skipping_env.client.service_client.config.target_host
    env = {"ledger": embedded_ledger.url, "temporal": target}
    in_process = dataclasses.replace(
        embedded_ledger, keys={n: k for n, k in embedded_ledger.keys.items() if n != "tax"}
    )
    # the first worker holds the tax step until it is killed (its action would take 300 s), so the
    # kill lands mid-step however slowly this machine gets there; the retry comes once the dead
    # attempt's heartbeats are missed for the engine's heartbeat timeout (10 s, not the attempt's
    # 60 s), while the live retried attempt heartbeats however slowly it runs
    worker = tax_worker(env, data, latency_s=300)
    try:
        # the subprocess polls the production queue name agency-tax: run the rest on that prefix too
        async with engine_rig(SimpleNamespace(client=client), "agency-", in_process, tmp_path) as rig:
            handle = await rig.start(application())
            async with asyncio.timeout(180):
                while not await tax_step_started(handle, worker):
                    await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = tax_worker(env, data)
            status = await asyncio.wait_for(handle.result(), 240)
            history = await handle.fetch_history()
    finally:
        worker.terminate()
        worker.wait(30)
    assert status.state == "completed"
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) == 2  # the killed attempt, then one retry
    trail = rig.trail(status.case_id)
    assert sorted(h.handoff.record.step for h in trail) == sorted(
        [*(s.id for s in FLOW.steps if not s.when), "_closing"]
    )
    on_chain = embedded_ledger.ledger().anchors_for_case(trail[0].handoff.record.case)
    assert sorted(a.handoff for a in on_chain) == sorted(h.handoff.hash for h in trail)  # one anchor each
    state = data / "agencies" / "tax"
    actions = sqlite3.connect(state / "tax-backend.db").execute(
        "SELECT count(*) FROM actions WHERE case_id=?", (status.case_id,)
    )
    signed = sqlite3.connect(state / "tax-journal.db").execute(
        "SELECT count(*) FROM signed WHERE key LIKE ?", (f"{status.case_id}/%",)
    )
    assert actions.fetchone()[0] == 1 and signed.fetchone()[0] == 1
