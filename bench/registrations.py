"""Throughput of registrations through the public API of a running stack: prints ONE JSON line.

    .venv/bin/onevisit up &                      # or any running stack
    .venv/bin/onevisit bench registrations --n 200 --concurrency 10 --url http://127.0.0.1:8000 --json
    .venv/bin/python bench/registrations.py --n 200 --concurrency 10 --url http://127.0.0.1:8000

A client outside the stack logs in as the demo applicant, submits registrations through
``POST /api/v1/cases`` (each under a fresh company name, the example application otherwise) with
``concurrency`` in flight, and polls ``GET /api/v1/cases/{id}`` every ``poll_s`` until each ends.
Then, on the same Temporal server (the address the stack's /healthz names), it runs the same
number of a plain Temporal workflow of the same shape (bench/plain_flow.py: one step, one step,
three in parallel, no-op activities, default data converter) with its own worker in this process,
at the same concurrency. Printed:

  onevisit / plain       registrations_per_s, p50_s, p95_s, p99_s, errors, and the CPU seconds
                         each part of the stack used (from run/*.pid under --data-dir), per case;
                         "client" is the load's own process (OneVisit: this bench polling; plain:
                         its worker and client, one process), counted in the total as it takes
                         from the same cores
  ratios                 throughput (onevisit / plain, goal >= 0.8), p95 (goal <= 1.25) and
                         cpu_per_case (onevisit / plain: on a CPU-bound machine, about the
                         inverse of the throughput ratio)
  single_p50_s           one registration alone, submit to completed (goal < 1 s)
  reads                  with --reads-rps R: then a separate process reads the status of the cases
                         just made at R requests/s (open loop) for --reads-s seconds; p50/p99/max
                         latency (goal p99 < 50 ms at 200/s), errors, and CPU per read
  memory_mb              each part's peak resident set (VmHWM) and current RSS at the end
  ledger_lead_s          how far the ledger's newest block time is ahead of the clock at the end
                         (blocks faster than one a second spend a lead of 300 s at most)
Run it on a quiet machine: other load shows up one for one in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registration.json"
TERMINAL = {"completed", "rejected", "failed", "withdrawn", "returned"}
TRADE_CHARS = "泉智信达华源诚鼎丰瑞恒通明远安博睿晟德嘉卓越"


class Names:
    """Company names unique across runs: five trade characters counted up from a random start."""

    def __init__(self) -> None:
        self.n = random.randrange(len(TRADE_CHARS) ** 5)

    def __call__(self) -> str:
        self.n, k, trade = self.n + 1, self.n, ""
        for _ in range(5):
            k, d = divmod(k, len(TRADE_CHARS))
            trade += TRADE_CHARS[d]
        return f"济南{trade}信息科技有限公司"


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


def figures(latencies: list[float], elapsed: float, errors: int) -> dict:
    return {
        "n": len(latencies),
        "registrations_per_s": round(len(latencies) / elapsed, 3) if elapsed else None,
        "p50_s": quantile(latencies, 0.50),
        "p95_s": quantile(latencies, 0.95),
        "p99_s": quantile(latencies, 0.99),
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
    }


# ------------------------------------------------------------------------- the stack's parts
def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def stack_pids(data_dir: Path) -> dict[str, int]:
    """Each running process of the stack by its run/NAME.pid. Names sharing a process (every
    agency in `worker all`) count once, under the process's own name ("workers")."""
    names: dict[int, list[str]] = {}
    for f in sorted((data_dir / "run").glob("*.pid")):
        pid = int(f.read_text().strip() or 0)
        if pid and Path(f"/proc/{pid}").exists():
            names.setdefault(pid, []).append(f.stem)
    return {("workers" if "workers" in n else n[0]): pid for pid, n in names.items()}


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = _ticks(pid) / hz
        except OSError:
            out[name] = 0.0
    return out


def cpu_used(before: dict[str, float], after: dict[str, float], cases: int, client: float | None = None) -> dict:
    """CPU seconds each part used, their total and per case. ``client``: the load's own process (for
    OneVisit the bench polling the API; for the plain workflow its worker and client, one process),
    in the total too: on a CPU-bound machine it takes from the same cores."""
    used = {k: round(after.get(k, 0.0) - v, 2) for k, v in before.items()}
    if client is not None:
        used["client"] = round(client, 2)
    total = round(sum(used.values()), 2)
    return {"parts": used, "total": total, "per_case": round(total / cases, 3) if cases else None}


def ledger_lead_s(rpc: str) -> int:
    """How far the newest block's time is ahead of the clock: a burst of more than one block a
    second spends the embedded node's lead (300 s at most; then it seals one block a second)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]}
    head = httpx.post(rpc, json=body, timeout=10).json()["result"]
    return max(0, int(head["timestamp"], 16) - int(time.time()))


def memory_mb(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    out = {}
    for name, pid in pids.items():
        try:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        out[name] = {k: round(int(status[f"Vm{k}"].split()[0]) / 1024, 1) for k in ("HWM", "RSS")}
    return out


# ------------------------------------------------------------------------------- OneVisit
async def login(http: httpx.AsyncClient, user: str) -> dict[str, str]:
    resp = await http.post("/api/v1/auth/token", data={"username": user, "password": user})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def one_registration(
    http: httpx.AsyncClient, headers: dict, app: dict, poll_s: float, ids: list[str]
) -> tuple[float | None, str]:
    t0 = time.perf_counter()
    resp = await http.post("/api/v1/cases", json=app, headers=headers)
    if resp.status_code != 201:
        return None, f"submit {resp.status_code}: {resp.text[:200]}"
    case_id = resp.json()["case_id"]
    ids.append(case_id)
    while True:
        await asyncio.sleep(poll_s)
        resp = await http.get(f"/api/v1/cases/{case_id}", headers=headers)
        if resp.status_code != 200:
            return None, f"status {resp.status_code}: {resp.text[:200]}"
        state = resp.json()["status"]
        if state in TERMINAL:
            return time.perf_counter() - t0, state


async def onevisit_load(url: str, n: int, concurrency: int, poll_s: float, ids: list[str]) -> dict:
    template = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    names = Names()
    latencies: list[float] = []
    problems: list[str] = []
    limits = httpx.Limits(max_connections=concurrency * 2 + 4, max_keepalive_connections=concurrency * 2 + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        headers = await login(http, "applicant")
        gate = asyncio.Semaphore(concurrency)

        async def run_one() -> None:
            app = json.loads(json.dumps(template))
            app["company"]["name"] = names()
            async with gate:
                try:
                    took, state = await one_registration(http, headers, app, poll_s, ids)
                except httpx.HTTPError as exc:
                    took, state = None, f"{type(exc).__name__}: {exc}"
            if took is not None and state == "completed":
                latencies.append(took)
            else:
                problems.append(state)

        t0 = time.perf_counter()
        await asyncio.gather(*(run_one() for _ in range(n)))
        elapsed = time.perf_counter() - t0
    return {**figures(latencies, elapsed, len(problems)), "error_samples": problems[:5]}


# ---------------------------------------------------------------------------- plain Temporal
async def plain_load(temporal: str, namespace: str, n: int, concurrency: int) -> dict:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.plain_flow import PLAIN_QUEUE, PlainRegistration, plain_step

    client = await Client.connect(temporal, namespace=namespace)
    latencies: list[float] = []
    errors: list[str] = []
    queue = f"{PLAIN_QUEUE}-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[PlainRegistration], activities=[plain_step]):
        gate = asyncio.Semaphore(concurrency)

        async def run_one(i: int) -> None:
            async with gate:
                t0 = time.perf_counter()
                try:
                    await client.execute_workflow(
                        PlainRegistration.run, f"plain-{i}", id=f"{queue}-{i}", task_queue=queue
                    )
                    latencies.append(time.perf_counter() - t0)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        await run_one(-1)  # warm the worker's caches, as the stack's are warm
        latencies.clear()
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(run_one(i) for i in range(n)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {**figures(latencies, elapsed, len(errors)), "error_samples": errors[:5], "process_cpu_s": round(cpu, 2)}


# ------------------------------------------------------------------------------------ reads
async def read_load(url: str, ids: list[str], rps: float, seconds: float) -> dict:
    """Case status reads on a fixed schedule (open loop): each starts when due, whether or not the
    earlier ones were answered, so a server that falls behind shows it in the latencies."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        headers = await login(http, "applicant")

        async def one(case_id: str) -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                resp = await http.get(f"/api/v1/cases/{case_id}", headers=headers)
                if resp.status_code != 200:
                    errors += 1
                    return
            except httpx.HTTPError:
                errors += 1
                return
            latencies.append(time.perf_counter() - t0)

        tasks, start, i = [], time.perf_counter(), 0
        while (due := start + i / rps) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(ids[i % len(ids)])))
            i += 1
        await asyncio.gather(*tasks)
    return {
        "requests": i,
        "rps": rps,
        "p50_ms": round(1000 * (quantile(latencies, 0.5) or 0), 2),
        "p99_ms": round(1000 * (quantile(latencies, 0.99) or 0), 2),
        "max_ms": round(1000 * max(latencies, default=0), 2),
        "errors": errors,
    }


def plain_in_subprocess(temporal: str, n: int, concurrency: int) -> dict:
    """The plain workflows from a process of their own (its worker's CPU apart from this client's)."""
    argv = [sys.executable, __file__, "--plain-only", temporal, "--n", str(n), "--concurrency", str(concurrency)]
    out = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout)


def reads_in_subprocess(url: str, ids: list[str], rps: float, seconds: float) -> subprocess.Popen:
    argv = [sys.executable, __file__, "--url", url, "--reads-only", ",".join(ids)]
    argv += ["--reads-rps", str(rps), "--reads-s", str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


# -------------------------------------------------------------------------------------- run
def run(
    url: str,
    n: int = 100,
    concurrency: int = 10,
    poll_s: float = 0.2,
    data_dir: Path = Path(".onevisit"),
    plain: bool = True,
    single: int = 5,
    reads_rps: float = 0.0,
    reads_s: float = 10.0,
) -> dict:
    health = httpx.get(f"{url}/healthz", timeout=10).json()
    if health.get("status") != "ok":
        raise SystemExit(f"the stack at {url} is not healthy: {health.get('problems')}")
    pids = stack_pids(data_dir)
    ids: list[str] = []
    asyncio.run(onevisit_load(url, min(n, 2 * concurrency), concurrency, poll_s, ids))  # warm-up, not counted
    singles = [asyncio.run(onevisit_load(url, 1, 1, poll_s, ids))["p50_s"] for _ in range(single)]

    before, client = cpu_now(pids), time.process_time()
    onevisit = asyncio.run(onevisit_load(url, n, concurrency, poll_s, ids))
    onevisit["cpu_s"] = cpu_used(before, cpu_now(pids), onevisit["n"], client=time.process_time() - client)
    reads = None
    if reads_rps:
        before = cpu_now(pids)
        reads = json.loads(reads_in_subprocess(url, ids, reads_rps, reads_s).communicate()[0])
        reads["cpu_s"] = cpu_used(before, cpu_now(pids), reads["requests"])

    result: dict = {"onevisit": onevisit, "single_p50_s": statistics.median([s for s in singles if s] or [0])}
    if plain:
        temporal = {k: v for k, v in pids.items() if k == "temporal"}
        before = cpu_now(temporal)
        base = plain_in_subprocess(health["temporal"], n, concurrency)
        base["cpu_s"] = cpu_used(before, cpu_now(temporal), base["n"], client=base.pop("process_cpu_s"))
        result["plain"] = base
        if base["registrations_per_s"] and onevisit["registrations_per_s"] and base["p95_s"] and onevisit["p95_s"]:
            result["ratios"] = {
                "throughput": round(onevisit["registrations_per_s"] / base["registrations_per_s"], 3),
                "p95": round(onevisit["p95_s"] / base["p95_s"], 3),
            }
            if base["cpu_s"]["per_case"] and onevisit["cpu_s"]["per_case"]:
                result["ratios"]["cpu_per_case"] = round(onevisit["cpu_s"]["per_case"] / base["cpu_s"]["per_case"], 3)
    if reads:
        result["reads"] = reads
    result["memory_mb"] = memory_mb(pids)
    if health.get("ledger_rpc"):
        result["ledger_lead_s"] = ledger_lead_s(health["ledger_rpc"])
    result["settings"] = {"n": n, "concurrency": concurrency, "poll_s": poll_s, "url": url, "parts": sorted(pids)}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=0.2)
    parser.add_argument("--data-dir", type=Path, default=Path(".onevisit"))
    parser.add_argument("--no-plain", action="store_true")
    parser.add_argument("--reads-rps", type=float, default=0.0)
    parser.add_argument("--reads-s", type=float, default=10.0)
    parser.add_argument("--reads-only", help=argparse.SUPPRESS)  # the reader subprocess: case ids
    parser.add_argument("--plain-only", help=argparse.SUPPRESS)  # the plain-Temporal subprocess: its address
    args = parser.parse_args(argv)
    if args.plain_only:
        print(json.dumps(asyncio.run(plain_load(args.plain_only, "default", args.n, args.concurrency))), flush=True)
        os._exit(0)  # not through interpreter shutdown, which the Temporal client's threads can crash
    if args.reads_only:
        print(json.dumps(asyncio.run(read_load(args.url, args.reads_only.split(","), args.reads_rps, args.reads_s))))
        return
    result = run(
        args.url,
        args.n,
        args.concurrency,
        args.poll_s,
        args.data_dir,
        not args.no_plain,
        5,
        args.reads_rps,
        args.reads_s,
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
