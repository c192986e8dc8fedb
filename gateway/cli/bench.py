"""``onevisit bench registrations``: throughput of a running stack through its public API, beside
plain Temporal (the ledger and start-up benchmarks are in ``gateway.cli.audit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.audit import _bench_module, bench_app
from gateway.cli.common import AsJson, Url


@bench_app.command("registrations")
def bench_registrations(
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    n: Annotated[int, typer.Option("--n", min=1, help="registrations measured (after a warm-up)")] = 100,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="registrations in flight")] = 10,
    poll_s: Annotated[float, typer.Option("--poll-s", min=0.01, help="seconds between status reads")] = 0.2,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="the stack's data directory (its run/*.pid: CPU and memory per part)")
    ] = Path(".onevisit"),
    plain: Annotated[bool, typer.Option("--plain/--no-plain", help="also run plain Temporal of the same shape")] = True,
    reads_rps: Annotated[float, typer.Option("--reads-rps", min=0, help="then case reads per second (0: none)")] = 0,
    reads_s: Annotated[float, typer.Option("--reads-s", min=1, help="for this many seconds")] = 10,
) -> None:
    """Registrations submitted and polled through the API of a running stack (`onevisit up`), then
    a plain Temporal workflow of the same shape on the same server: throughput, latency, CPU per
    part and per case, the ratios, and with --reads-rps the latency of case reads at that rate."""
    result = _bench_module("registrations").run(
        url, n, concurrency, poll_s, data_dir, plain, single=5, reads_rps=reads_rps, reads_s=reads_s
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    for label in ("onevisit", "plain"):
        if label in result:
            r = result[label]
            typer.echo(
                f"{label:<9} {r['registrations_per_s']}/s  p50 {r['p50_s']}s  p95 {r['p95_s']}s  p99 {r['p99_s']}s  "
                f"errors {r['errors']}  CPU-s per case {r['cpu_s']['per_case']}"
            )
    typer.echo(f"one registration alone: p50 {result['single_p50_s']}s")
    if "ratios" in result:
        ratios = result["ratios"]
        typer.echo(f"ratios (onevisit / plain): throughput {ratios['throughput']}, p95 {ratios['p95']}")
    if "reads" in result:
        r = result["reads"]
        typer.echo(f"reads at {r['rps']}/s: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, errors {r['errors']}")
