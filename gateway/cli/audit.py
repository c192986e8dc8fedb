"""``onevisit audit`` and ``onevisit bench``: verify trails, export and re-verify evidence, reconcile, measure."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import AsJson, LedgerRpc, Password, Url, User, api, call, fail

audit_app = typer.Typer(help="Verify a case's handoff trail, export and re-verify evidence bundles.")


def _print_report(report, as_json: bool) -> None:
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        where = "against the ledger" if report.online else "offline (signatures, hashes, order)"
        verdict = "VALID" if report.ok else "INVALID"
        typer.echo(
            f"{verdict}: case {report.case_id}, {report.handoffs} handoffs, {report.anchored} anchored, checked {where}"
        )
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


def _ledger_for(bundle, url: str | None, ledger_rpc: str | None):
    from chain.anchors import Deployment
    from chain.client import LedgerClient
    from chain.errors import ChainError

    if ledger_rpc is None and url is None:
        return None
    if ledger_rpc is None:
        from gateway.client import Api

        ledger_rpc = call(Api(url, "", "").health).get("ledger_rpc")
    c = bundle.chain
    try:
        return LedgerClient(
            ledger_rpc, Deployment(chain_id=c.chain_id, registry=c.registry, ledger=c.ledger, block=c.block)
        )
    except ChainError as exc:
        fail(str(exc))


@audit_app.command("verify")
def audit_verify(
    case_id: str,
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    ledger_rpc: LedgerRpc = None,
    user: User = None,
    password: Password = None,
) -> None:
    """Verify a case's whole trail against the ledger; exit 0 only when it is valid."""
    from chain.audit.case import parse_bundle, verify_case
    from chain.errors import VerificationError

    try:
        bundle = parse_bundle(call(api(url, user, password, "auditor").get, f"/api/cases/{case_id}/evidence"))
    except VerificationError as exc:
        _print_unparsed(Path(f"the evidence of case {case_id}"), exc, as_json)
    _print_report(verify_case(bundle, _ledger_for(bundle, url, ledger_rpc)), as_json)


@audit_app.command("export")
def audit_export(
    case_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the bundle")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Write a case's evidence bundle (records, signatures, anchors) to a file."""
    bundle = call(api(url, user, password, "auditor").get, f"/api/cases/{case_id}/evidence")
    output.write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {output} ({len(bundle['handoffs'])} handoffs)")


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    file: Path,
    url: Annotated[str | None, typer.Option("--url", help="also check against the ledger this gateway names")] = None,
    ledger_rpc: LedgerRpc = None,
    as_json: AsJson = False,
) -> None:
    """Re-verify an exported bundle: offline, or against the ledger with --url/--ledger-rpc."""
    from chain.audit.case import parse_bundle, verify_case
    from chain.errors import VerificationError

    try:
        bundle = parse_bundle(file.read_bytes())
    except FileNotFoundError:
        fail(f"{file}: no such file", 2)
    except OSError as exc:
        fail(f"{file}: cannot be read: {exc.strerror or exc}", 2)
    except VerificationError as exc:
        _print_unparsed(file, exc, as_json)
    _print_report(verify_case(bundle, _ledger_for(bundle, url, ledger_rpc)), as_json)


def _print_unparsed(file: Path, exc, as_json: bool) -> None:
    """A bundle that does not parse is INVALID with one finding naming what is wrong (exit 1)."""
    finding = {"check": exc.check, "message": exc.message, "handoff": exc.handoff, "step": None}
    if as_json:
        typer.echo(
            json.dumps(
                {"case_id": None, "ok": False, "online": False, "handoffs": 0, "anchored": 0, "findings": [finding]},
                indent=2,
            )
        )
    else:
        typer.echo(f"INVALID: {file} is not a usable evidence bundle")
        typer.echo(f"  [{exc.check}] - : {exc.message}")
    raise typer.Exit(1)


def reconcile_from_start(stored: Callable[[], list], ledger, settle_s: float):
    """(report, block): the store against the ledger as it stood when the audit began.

    ``block`` is the head read first. Every anchor and batch up to it must have its records;
    later ones are judged only when a record claims them (it is then judged in full), the rest
    wait for the next audit. A handoff is recorded just after it is anchored, so while an anchor
    up to ``block`` lacks its record (a ``complete`` finding) the store is read again, until it
    has them or ``settle_s`` has passed: a bound on reporting a real disagreement only."""
    from chain.audit.ledger import reconcile

    block = ledger.w3.eth.block_number
    deadline, pause = time.monotonic() + settle_s, 0.05
    while True:
        records = stored()
        claimed = {r.hash.lower() for r in records}
        roots = {r.anchor.batch_root.lower() for r in records if r.anchor is not None and r.anchor.batch_root}
        report = reconcile(
            records,
            [a for a in ledger.all_anchors() if a.block_number <= block or a.handoff.lower() in claimed],
            [b for b in ledger.all_batches() if b.block_number <= block or b.root.lower() in roots],
        )
        if not any(f.check == "complete" for f in report.findings) or time.monotonic() >= deadline:
            return report, block
        time.sleep(pause)
        pause = min(2 * pause, 1.0)


@audit_app.command("ledger")
def audit_ledger(
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    ledger_rpc: LedgerRpc = None,
    user: User = None,
    password: Password = None,
    settle: Annotated[
        float,
        typer.Option(
            help="at most this many seconds to wait for the records of anchors mined "
            "before the audit began (a handoff is recorded just after it is "
            "anchored): bounds a real disagreement's report, never delays agreement"
        ),
    ] = 30.0,
) -> None:
    """Reconcile the whole ledger with the store: every anchor on the chain has its record, every
    record its anchor; exit 0 only when they agree. The ledger is read as it stood when the audit
    began (see ``reconcile_from_start``)."""
    from chain.anchors import Deployment
    from chain.audit.ledger import StoredRecord
    from chain.client import LedgerClient
    from chain.errors import ChainError

    client = api(url, user, password, "auditor")

    def stored() -> list[StoredRecord]:
        found, after = [], ""
        while True:
            page = call(client.get, f"/api/audit/handoffs?limit=1000{after and '&after=' + after}")
            found += [StoredRecord.model_validate(r) for r in page["items"]]
            if not (after := page["next"]):
                return found

    try:
        ledger = LedgerClient(
            ledger_rpc or call(client.health).get("ledger_rpc"), Deployment(**call(client.get, "/api/audit/deployment"))
        )
        report, block = reconcile_from_start(stored, ledger, settle)
    except ChainError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**report.model_dump(mode="json"), "block": block}, indent=2))
    else:
        typer.echo(
            f"{'AGREE' if report.ok else 'DISAGREE'}: {report.anchors_on_chain} anchors and "
            f"{report.batches_on_chain} batches on the ledger as of block {block}, "
            f"{report.records_in_store} records in the store, {report.matched} matched"
        )
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------ bench
bench_app = typer.Typer(help="Measure the ledger or start-up on throw-away data (not tests: figures vary by machine).")


def _bench_module(name: str):
    """bench/NAME.py from the source tree (the benchmarks are not in the wheel), loaded lazily."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    if not path.is_file():
        fail(f"{path} is missing: the benchmarks ship with the source tree only")
    spec = importlib.util.spec_from_file_location(f"onevisit_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@bench_app.command("ledger")
def bench_ledger(
    as_json: AsJson = False,
    handoffs: Annotated[int, typer.Option("--handoffs", min=10, help="handoffs per batched run")] = 4000,
) -> None:
    """Anchor single and batched, time an anchor's latency under load and offline verification."""
    result = _bench_module("anchoring").run(handoffs=handoffs)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        if key != "settings":
            typer.echo(f"{key:<24} {value}")
    typer.echo("settings: " + ", ".join(f"{k}={v}" for k, v in result["settings"].items()))


@bench_app.command("startup")
def bench_startup(
    as_json: AsJson = False,
    runs: Annotated[int, typer.Option("--runs", min=1, help="warm starts after the fresh one")] = 3,
    split_workers: Annotated[
        bool, typer.Option("--split-workers", help="one process per worker (production shape)")
    ] = False,
) -> None:
    """Seconds from `up` to healthy on a fresh and on a warm data directory, and each part's CPU."""
    result = _bench_module("startup").run(runs=runs, split_workers=split_workers)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"fresh: healthy in {result['fresh_s']:.2f}s; warm: {result['warm_s']:.2f}s (median of {runs})")
    for label in ("fresh", "warm"):
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in result[label]["cpu_s"].items())
        stages = ", ".join(f"{k} {v:.2f}" for k, v in result[label]["milestones"].items())
        typer.echo(f"{label}: stages (s) {stages}\n       CPU-s {cpu}")
