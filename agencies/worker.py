"""Run one agency's worker: its activities on its own task queue, with its own keys and account
(and its cosigning of ledger blocks, ``agencies.cosign``)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from agencies.adapter import AgencyActivities, SignedHandoffs
from agencies.backend import AgencyBackend, RemoteBackend
from agencies.cosign import Cosigner
from agencies.keys import AgencyKeys
from agencies.metrics import BATCH_SIZE
from agencies.simulated import SimulatedBackend
from chain.anchors import Anchorer, Deployment
from chain.batcher import AnchorBatcher
from chain.client import LedgerClient, Sender
from workflows.authority import Keyring
from workflows.flows import agency_queue

log = logging.getLogger("onevisit.agency")


def build_activities(
    keys: AgencyKeys,
    ledger: LedgerClient,
    state_dir: Path,
    backend_url: str | None = None,
    batch: bool = False,
    backend_token: str | None = None,
    gateway_keys: Keyring | None = None,
) -> AgencyActivities:
    """``backend_url``: the agency's service over HTTP (else its simulated back-end in
    ``state_dir``). ``batch``: anchor through an AnchorBatcher (one transaction per Merkle batch, its journal
    beside the agency's) instead of one transaction per handoff."""
    backend: AgencyBackend = (
        RemoteBackend(keys.agency, backend_url, token=backend_token)
        if backend_url
        else SimulatedBackend(keys.agency, state_dir, gateway_keys=gateway_keys)
    )
    sender = Sender(ledger, keys.account_key)
    anchorer: Anchorer = (
        AnchorBatcher(sender, state_dir / f"{keys.agency}-batches.db", on_batch=BATCH_SIZE.labels(keys.agency).observe)
        if batch
        else sender
    )
    return AgencyActivities(keys, backend, anchorer, SignedHandoffs(state_dir / f"{keys.agency}-journal.db"), ledger)


async def run_agency_worker(
    client: Client,
    keys: AgencyKeys,
    ledger_url: str,
    deployment: Deployment,
    state_dir: Path,
    stop: asyncio.Event,
    backend_url: str | None = None,
    batch: bool = False,
    backend_token: str | None = None,
    gateway_keys: Keyring | None = None,
) -> None:
    ledger = await asyncio.to_thread(LedgerClient, ledger_url, deployment)
    activities = build_activities(keys, ledger, state_dir, backend_url, batch, backend_token, gateway_keys)
    with ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"agency-{keys.agency}") as pool:
        worker = Worker(
            client,
            task_queue=agency_queue(keys.agency),
            activities=[*activities.activities(), *Cosigner(keys, ledger).activities()],
            activity_executor=pool,
            max_concurrent_activities=32,
        )
        async with worker:
            log.info(
                "agency %s polling %s (signer %s, account %s, anchoring %s)",
                keys.agency,
                agency_queue(keys.agency),
                keys.signer,
                keys.account,
                "in batches" if batch else "singly",
            )
            await stop.wait()
    await asyncio.to_thread(activities.anchorer.close)


async def run_agency_workers(
    client: Client,
    agencies: list[AgencyKeys],
    ledger_url: str,
    deployment: Deployment,
    state_root: Path,
    stop: asyncio.Event,
    backend_urls: dict[str, str] | None = None,
    batch: bool = False,
    backend_tokens: dict[str, str] | None = None,
    gateway_keys: Keyring | None = None,
) -> None:
    """Each agency's worker (its own task queue, adapter, keys, ledger account and state in
    ``state_root/NAME``, its back-end at ``backend_urls[NAME]`` if named there) on one Temporal
    client; the first to fail stops them all."""
    async with asyncio.TaskGroup() as group:
        for keys in agencies:
            group.create_task(
                run_agency_worker(
                    client,
                    keys,
                    ledger_url,
                    deployment,
                    state_root / keys.agency,
                    stop,
                    (backend_urls or {}).get(keys.agency),
                    batch,
                    (backend_tokens or {}).get(keys.agency),
                    gateway_keys,
                )
            )
