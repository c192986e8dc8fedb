"""Benchmark of anchoring and audit verification: prints ONE JSON line.

    .venv/bin/onevisit bench ledger [--json] [--handoffs N]
    .venv/bin/python bench/anchoring.py [--handoffs N] [--rate R] ...

On its own embedded node (``python -m chain.node`` in a subprocess, as ``onevisit up`` runs it,
block time 0.05 s), with the contracts deployed and the agencies registered and owning the
business-registration steps, it measures:
  single_tx_per_s          handoffs anchored one transaction each (``Sender.anchor``, as the
                           worker does in single mode: 32 callers per agency, all agencies)
  batched_handoffs_per_s   handoffs anchored through one AnchorBatcher per agency, all handed
                           over at once, until the last anchor returns
  anchor_p95_s             p95 from handing a handoff to the batcher until its Anchor returns,
                           with handoffs arriving at ``rate`` per second (default 20x single)
  verify_handoffs_per_s    offline audit (``verify_case``: hash, signature, proof and the other
                           checks) of real signed business-registration trails anchored in
                           batches, in one thread
  verify_offline_proven_handoffs_per_s
                           the same trails with the proofs a gateway exports (per anchor block:
                           header, EIP-1186 proofs of the ledger's and registry's entries; every
                           agency's checkpoint over the blocks), verified under a trust root with
                           full proof checking (check 15, ``chain.audit.proven``), in one thread
  bundle_bytes_per_handoff, proven_bundle_bytes_per_handoff
                           the bundles' JSON size per handoff without and with those proofs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agencies.keys import AgencyKeys  # noqa: E402
from chain.anchors import Deployment  # noqa: E402
from chain.audit.case import verify_case  # noqa: E402
from chain.audit.evidence import AgencyClaim, ChainRef, EvidenceBundle, EvidenceItem  # noqa: E402
from chain.audit.trust import TrustRoot, pin  # noqa: E402
from chain.batcher import AnchorBatcher  # noqa: E402
from chain.checkpoint import sign_checkpoint  # noqa: E402
from chain.client import Admin, JsonRpc, LedgerClient, Sender, deploy  # noqa: E402
from chain.handoff import Handoff, case_commitment, new_salt, now_rfc3339, sign  # noqa: E402
from chain.node import genesis_for  # noqa: E402
from chain.proving import block_proofs  # noqa: E402
from workflows.catalog import get_flow  # noqa: E402

FLOW = "business_registration"
WORKER_CONCURRENCY = 32  # agencies/worker.py: max_concurrent_activities


def start_node(tmp: Path, accounts: list[str], block_time: float) -> tuple[subprocess.Popen, str]:
    genesis, ready = tmp / "genesis.json", tmp / "ready.json"
    genesis.write_text(json.dumps(genesis_for({a: 10**24 for a in accounts}, accounts, gas_limit=60_000_000)))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chain.node",
            "--data-dir",
            str(tmp / "ledger"),
            "--genesis",
            str(genesis),
            "--ready-file",
            str(ready),
            "--block-time",
            str(block_time),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the ledger node did not start")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["url"]


def fresh() -> str:
    return case_commitment("bench", new_salt())


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def measure_single(senders: dict[str, Sender], owned: dict[str, str], n: int) -> float:
    work = [(a, fresh(), fresh()) for a in senders for _ in range(n // len(senders))]
    with ThreadPoolExecutor(WORKER_CONCURRENCY * len(senders)) as pool:
        start = time.perf_counter()
        list(pool.map(lambda w: senders[w[0]].anchor(w[1], FLOW, owned[w[0]], w[2]), work))
        return len(work) / (time.perf_counter() - start)


def push(
    batchers: dict[str, AnchorBatcher], owned: dict[str, str], n: int, rate: float | None
) -> tuple[float, list[float]]:
    """Hand ``n`` handoffs (round robin over agencies) to the batchers, at ``rate`` per second or
    all at once; returns (handoffs per second until the last anchor, latencies)."""
    agencies = list(batchers)
    work = [(agencies[i % len(agencies)], fresh(), fresh()) for i in range(n)]
    latencies: list[float] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def finished(t0: float):
        def callback(future):
            future.result()
            with lock:
                latencies.append(time.perf_counter() - t0)
            done.release()

        return callback

    start = time.perf_counter()
    for i, (a, h, case) in enumerate(work):
        if rate:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t0 = time.perf_counter()
        batchers[a].submit(h, FLOW, owned[a], case).add_done_callback(finished(t0))
    for _ in work:
        done.acquire()
    return n / (time.perf_counter() - start), latencies


def anchored_trails(
    batchers: dict[str, AnchorBatcher], keys: dict[str, AgencyKeys], ledger: LedgerClient, cases: int
) -> list[EvidenceBundle]:
    """Real signed trails, anchored in batches step by step (parents before children)."""
    flow = get_flow(FLOW)
    steps = [s for s in flow.topological_order() if not flow.step(s).when]
    trails = []
    for n in range(cases):
        case_id, salt = f"BR-BENCH-{n:06d}", new_salt()
        trails.append(
            {"case_id": case_id, "salt": salt, "commitment": case_commitment(case_id, salt), "done": {}, "items": []}
        )
    for sid in steps:  # one wave per step: every case's handoff for it, batched together
        step = flow.step(sid)
        signed = []
        for t in trails:
            record = Handoff(
                flow=flow.name,
                flow_version=flow.version_hash(),
                rules_version=step.approval.version(),
                step=sid,
                case=t["commitment"],
                agency=step.agency,
                outcome="completed",
                outputs={"step": sid},
                parents=[t["done"][d].hash for d in step.depends_on],
                decided_by=f"rule:{step.approval.version()}",
                time=now_rfc3339(),
            )
            t["done"][sid] = sign(record, keys[step.agency].signing_key)
            signed.append(batchers[step.agency].submit(t["done"][sid].hash, flow.name, sid, t["commitment"]))
        for t, future in zip(trails, signed, strict=False):
            t["items"].append(EvidenceItem(handoff=t["done"][sid], anchor=future.result()))
    d = ledger.deployment
    chain = ChainRef(chain_id=d.chain_id, registry=d.registry, ledger=d.ledger, block=d.block)
    claims = {a: AgencyClaim(signer=k.signer, account=k.account) for a, k in keys.items()}
    return [
        EvidenceBundle(
            case_id=t["case_id"],
            salt=t["salt"],
            commitment=t["commitment"],
            flow=flow.model_dump(mode="json"),
            chain=chain,
            agencies=claims,
            handoffs=t["items"],
            exported_at="2026-11-21T10:01:00Z",
        )
        for t in trails
    ]


def measure_verify(bundles: list[EvidenceBundle], rounds: int = 3, trust: TrustRoot | None = None) -> float:
    """Handoffs verified per CPU-second (best of ``rounds``); with ``trust``, each one proven."""
    handoffs = sum(len(b.handoffs) for b in bundles)
    best = 0.0
    for _ in range(rounds):
        start = time.process_time()
        for b in bundles:
            report = verify_case(b, None, trust)
            if not report.ok or (trust is not None and report.proven != len(b.handoffs)):
                raise RuntimeError(f"a benchmark trail does not verify: {report.findings}")
        best = max(best, handoffs / (time.process_time() - start))
    return best


def with_proofs(bundles: list[EvidenceBundle], url: str, keys: dict[str, AgencyKeys]) -> list[EvidenceBundle]:
    """The bundles as a gateway exports them: block proofs from the node, every agency's checkpoint."""
    rpc, out = JsonRpc(url), []
    for b in bundles:
        anchors = [i.anchor for i in b.handoffs]
        d = b.chain
        deployment = Deployment(chain_id=d.chain_id, registry=d.registry, ledger=d.ledger, block=d.block)
        blocks = [(a.block_number, a.block_hash) for a in anchors]
        checkpoints = [sign_checkpoint(d.chain_id, blocks, k.signing_key) for k in keys.values()]
        out.append(b.model_copy(update={"proofs": block_proofs(rpc, deployment, anchors), "checkpoints": checkpoints}))
    return out


def bytes_per_handoff(bundles: list[EvidenceBundle]) -> float:
    return sum(len(b.model_dump_json()) for b in bundles) / sum(len(b.handoffs) for b in bundles)


def run(
    handoffs: int = 4000,
    single: int = 512,
    rate: float | None = None,
    max_batch: int = 512,
    max_wait_s: float = 0.05,
    max_in_flight: int = 4,
    block_time: float = 0.05,
    verify_cases: int = 200,
) -> dict:
    flow = get_flow(FLOW)
    agencies = sorted({s.agency for s in flow.steps if not s.when})
    admin, keys = AgencyKeys.generate("admin"), {a: AgencyKeys.generate(a) for a in agencies}
    owned = {s.agency: s.id for s in reversed(flow.steps)}  # one step per agency for synthetic handoffs
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-") as tmp:
        proc, url = start_node(Path(tmp), [admin.account, *(k.account for k in keys.values())], block_time)
        try:
            ledger = LedgerClient(url, deploy(url, admin.account_key))
            boss = Admin(ledger, admin.account_key)
            for a, k in keys.items():
                boss.register_agency(a, k.account, k.signer)
            for s in flow.steps:
                if s.agency in keys:
                    boss.assign_step(flow.name, s.id, s.agency)
            senders = {a: Sender(ledger, k.account_key) for a, k in keys.items()}
            single_rate = measure_single(senders, owned, single)
            batchers = {
                a: AnchorBatcher(
                    senders[a],
                    Path(tmp) / f"{a}-batches.db",
                    max_batch=max_batch,
                    max_wait_s=max_wait_s,
                    max_in_flight=max_in_flight,
                )
                for a in agencies
            }
            try:
                burst_rate, _ = push(batchers, owned, handoffs, None)
                offered = rate or 20 * single_rate
                paced_rate, latencies = push(batchers, owned, handoffs, offered)
                bundles = anchored_trails(batchers, keys, ledger, verify_cases)
            finally:
                for b in batchers.values():
                    b.close()
            verify_rate = measure_verify(bundles)
            proven = with_proofs(bundles, url, keys)
            trust = pin(url, ledger.deployment.registry, ledger.deployment.ledger)
            proven_rate = measure_verify(proven, trust=trust)
        finally:
            proc.terminate()
            proc.wait(60)
    return {
        "single_tx_per_s": round(single_rate, 1),
        "batched_handoffs_per_s": round(burst_rate, 1),
        "batched_over_single": round(burst_rate / single_rate, 1),
        "anchor_p95_s": round(p95(latencies), 3),
        "anchor_p50_s": round(statistics.median(latencies), 3),
        "paced_handoffs_per_s": round(paced_rate, 1),
        "verify_handoffs_per_s": round(verify_rate, 1),
        "verify_offline_proven_handoffs_per_s": round(proven_rate, 1),
        "bundle_bytes_per_handoff": round(bytes_per_handoff(bundles)),
        "proven_bundle_bytes_per_handoff": round(bytes_per_handoff(proven)),
        "settings": {
            "handoffs": handoffs,
            "single_handoffs": single,
            "single_callers": WORKER_CONCURRENCY * len(agencies),
            "offered_rate_per_s": round(offered, 1),
            "agencies": len(agencies),
            "max_batch": max_batch,
            "max_wait_s": max_wait_s,
            "max_in_flight": max_in_flight,
            "block_time_s": block_time,
            "node": "python -m chain.node (subprocess)",
            "verify_cases": verify_cases,
            "verify_handoffs": sum(len(b.handoffs) for b in bundles),
            "verify_threads": 1,
            "proven_quorum": f"{trust.heads.quorum} of {len(trust.heads.signers)} agencies",
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handoffs", type=int, default=4000, help="handoffs per batched run")
    parser.add_argument("--single", type=int, default=512, help="handoffs anchored one per transaction")
    parser.add_argument("--rate", type=float, help="arrivals per second for the latency run (default 20x single)")
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--max-wait", type=float, default=0.05)
    parser.add_argument("--verify-cases", type=int, default=200)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            run(args.handoffs, args.single, args.rate, args.max_batch, args.max_wait, verify_cases=args.verify_cases)
        )
    )


if __name__ == "__main__":
    main()
