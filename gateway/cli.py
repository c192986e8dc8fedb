"""The ``onevisit`` command line: run the stack, apply, follow a case, audit it."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(help="OneVisit: one-visit government services with a verifiable ledger trail.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
worker_app = typer.Typer(help="Run one worker (used by `onevisit up`; run them yourself to split machines).")
audit_app = typer.Typer(help="Verify a case's handoff trail, export and re-verify evidence bundles.")
app.add_typer(worker_app, name="worker")
app.add_typer(audit_app, name="audit")

Url = Annotated[str, typer.Option("--url", envvar="ONEVISIT_URL", help="the gateway's URL")]
User = Annotated[Optional[str], typer.Option("--user", envvar="ONEVISIT_USER", help="sign in as (default: the demo account for the command)")]
Password = Annotated[Optional[str], typer.Option("--password", envvar="ONEVISIT_PASSWORD", help="password (demo accounts: the user name)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
TERMINAL = {"completed", "rejected", "failed", "withdrawn", "returned"}  # returned: the applicant must act


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def api(url: str, user: str | None, password: str | None, default_user: str):
    from gateway.client import Api

    user = user or default_user
    return Api(url, user, password if password is not None else user)


def call(fn, *args):
    from gateway.client import ApiError

    try:
        return fn(*args)
    except ApiError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------------- running
@app.command()
def up(data_dir: Annotated[Path, typer.Option("--data-dir", help="where everything persists")] = Path(".onevisit"),
       port: Annotated[int, typer.Option("--port", help="the gateway's port")] = 8000,
       host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
       temporal_port: Annotated[Optional[int], typer.Option(help="Temporal gRPC port (default: a free one)")] = None,
       temporal_ui_port: Annotated[Optional[int], typer.Option(help="Temporal Web UI port (default: a free one)")] = None,
       ledger_port: Annotated[Optional[int], typer.Option(help="ledger JSON-RPC port (default: a free one)")] = None) -> None:
    """Start everything one machine needs; Ctrl-C stops it all. Run again on DIR to resume."""
    from gateway.stack import Stack

    stack = Stack(data_dir, port, host, temporal_port, temporal_ui_port, ledger_port)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        urls = stack.start()
        typer.echo(f"OneVisit is up (data in {stack.data_dir})")
        typer.echo(f"  gateway          {urls['gateway']}")
        typer.echo(f"  Temporal Web UI  {urls['temporal_ui']}   (gRPC {urls['temporal']})")
        typer.echo(f"  ledger JSON-RPC  {urls['ledger_rpc']}")
        typer.echo("Demo accounts (password = name): applicant, auditor, admin, clerk-<agency>. Ctrl-C stops.")
        while True:
            stack.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("stopping…")
    except Exception as exc:  # any part that fails to start: stop the others, say why, keep the logs
        stack.stop()
        fail(f"{exc} (logs in {stack.logs})")
    stack.stop()
    typer.echo("stopped")


@app.command()
def provision(ledger_rpc: Annotated[str, typer.Option("--ledger-rpc", help="a node of the network (e.g. Besu)")],
              data_dir: Annotated[Path, typer.Option("--data-dir", help="holds keys/ (admin.json, AGENCY.json); deployment.json is written here")],
              admitted: Annotated[bool, typer.Option(help="agency accounts are already allowed and funded (in the genesis)")] = True) -> None:
    """Deploy the contracts (once) and register every agency and flow step on a ledger."""
    from agencies.directory import AGENCIES
    from agencies.keys import AgencyKeys
    from gateway.provision import load_agency_keys, provision as run

    try:
        keys = load_agency_keys(data_dir / "keys", AGENCIES)
        admin = AgencyKeys.load(data_dir / "keys" / "admin.json")
    except FileNotFoundError as exc:
        fail(str(exc), 2)
    allowed = {k.account for k in keys.values()} if admitted else set()
    run(ledger_rpc, admin.account_key, keys, data_dir / "deployment.json", allowed, typer.echo)
    typer.echo(f"provisioned: {data_dir / 'deployment.json'}")


@app.command()
def keygen(kind: Annotated[str, typer.Argument(help="data (a data key, printed) or agency")],
           name: Annotated[Optional[str], typer.Argument(help="the agency (or admin), for kind agency")] = None,
           output: Annotated[Optional[Path], typer.Option("-o", "--output", help="where to write agency keys (0600)")] = None) -> None:
    """Make keys: `keygen data` prints a data key; `keygen agency NAME -o FILE` writes an agency's keys."""
    from cryptography.fernet import Fernet

    from agencies.keys import AgencyKeys

    if kind == "data":
        typer.echo(Fernet.generate_key().decode())
    elif kind == "agency" and name and output:
        keys = AgencyKeys.generate(name)
        keys.save(output)
        typer.echo(json.dumps({"agency": name, "signer": keys.signer, "account": keys.account}))
    else:
        fail("use `keygen data` or `keygen agency NAME -o FILE`", 2)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the gateway alone (settings from ONEVISIT_* environment variables)."""
    import uvicorn

    from gateway.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _run_until_signal(make) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await make(stop)

    asyncio.run(main())


@worker_app.command("engine")
def worker_engine() -> None:
    """The flow engine's worker (workflow + store activities)."""
    from gateway.app import connect_temporal
    from gateway.settings import get_settings
    from gateway.store import make_engine
    from gateway.workers import run_engine_worker

    settings = get_settings()

    async def make(stop):
        client = await connect_temporal(settings)
        await run_engine_worker(client, make_engine(settings.db_url), stop)

    _run_until_signal(make)


@worker_app.command("agency")
def worker_agency(name: str,
                  backend_url: Annotated[Optional[str], typer.Option(help="a remote agency service; default: the simulated back-end")] = None,
                  anchor_mode: Annotated[str, typer.Option("--anchor-mode", envvar="ONEVISIT_ANCHOR_MODE", help="single: one transaction per handoff; batch: Merkle batches")] = "single") -> None:
    """One agency's worker, holding that agency's keys (DIR/keys/NAME.json)."""
    if anchor_mode not in ("single", "batch"):
        fail(f"ONEVISIT_ANCHOR_MODE/--anchor-mode must be single or batch, not {anchor_mode!r}", 2)
    from agencies.keys import AgencyKeys
    from agencies.worker import run_agency_worker
    from gateway.app import connect_temporal
    from gateway.deployment import read_deployment
    from gateway.settings import get_settings

    settings = get_settings()
    keys = AgencyKeys.load(settings.data_dir / "keys" / f"{name}.json")
    deployment, _ = read_deployment(settings.deployment_file)

    async def make(stop):
        client = await connect_temporal(settings)
        await run_agency_worker(client, keys, settings.ledger_rpc, deployment,
                                settings.data_dir / "agencies" / name, stop, backend_url, batch=anchor_mode == "batch")

    _run_until_signal(make)


# ------------------------------------------------------------------------------- applicants
def _print_case(case: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_case_json(case), ensure_ascii=False, indent=2))
        return
    typer.echo(f"case {case['case_id']}: {case['status']}" + (f" ({case['reason']})" if case.get("reason") else ""))
    if case.get("uscc"):
        typer.echo(f"  {case.get('company_name')}  unified social credit code {case['uscc']}")
    for s in case["steps"]:
        anchor = s.get("anchor") or {}
        where = f"block {anchor['block_number']} tx {anchor['tx_hash'][:12]}…" if anchor else ""
        flags = " ESCALATED" if s.get("escalated") else ""
        typer.echo(f"  {s['state']:<17} {s['step']:<18} {s['agency']:<18} {where}{flags}")
        if s["state"] == "awaiting_decision":
            typer.echo(f"  {'':<17} waits for a clerk: {'; '.join(s.get('review_reasons') or [])}")


def _case_json(case: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": case["case_id"], "status": case["status"], "reason": case.get("reason"),
            "uscc": case.get("uscc"), "company_name": case.get("company_name"), "result": case["result"],
            "steps": case["steps"], "events": case.get("events", [])}


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"{file}: no such file", 2)
    except json.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", 2)


@app.command()
def apply(file: Annotated[Path, typer.Argument(help="the application, JSON")], url: Url = "http://127.0.0.1:8000",
          wait: Annotated[bool, typer.Option("--wait", help="follow the case until it ends")] = False,
          as_json: AsJson = False, user: User = None, password: Password = None,
          timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 600) -> None:
    """Submit an application as the applicant; with --wait, follow it until it ends or needs you."""
    body = _read_json(file)
    client = api(url, user, password, "applicant")
    case = call(client.post, "/api/cases", body)
    if wait:
        deadline = time.monotonic() + timeout
        last = None
        while case["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                fail(f"case {case['case_id']} still {case['status']} after {timeout:.0f}s")
            progress = ", ".join(f"{s['step']}={s['state']}" for s in case["steps"])
            if progress != last:
                typer.echo(f"[{case['case_id']}] {progress}", err=True)
                last = progress
            time.sleep(0.3)
            case = call(client.get, f"/api/cases/{case['case_id']}")
    _print_case(case, as_json)
    if case["status"] in ("rejected", "failed", "returned", "withdrawn"):
        raise typer.Exit(1)


@app.command()
def status(case_id: str, url: Url = "http://127.0.0.1:8000", as_json: AsJson = False,
           user: User = None, password: Password = None) -> None:
    """Show a case: every step, who holds it, its handoff and anchor."""
    _print_case(call(api(url, user, password, "applicant").get, f"/api/cases/{case_id}"), as_json)


@app.command()
def correct(case_id: str, file: Annotated[Path, typer.Argument(help="the corrected application, JSON")],
            url: Url = "http://127.0.0.1:8000", user: User = None, password: Password = None) -> None:
    """Resubmit a case that a clerk or an agency returned: the returned step runs again."""
    body = _read_json(file)
    typer.echo(call(api(url, user, password, "applicant").post, f"/api/cases/{case_id}/correction", body)["detail"])


@app.command()
def withdraw(case_id: str, reason: Annotated[str, typer.Option("--reason", help="why (kept in the trail)")],
             url: Url = "http://127.0.0.1:8000", user: User = None, password: Password = None) -> None:
    """Withdraw a case: every completed step is undone in reverse order, each a signed handoff."""
    typer.echo(call(api(url, user, password, "applicant").post, f"/api/cases/{case_id}/withdrawal", {"reason": reason})["detail"])


# ------------------------------------------------------------------------------------ clerks
@app.command()
def queue(agency: Annotated[str, typer.Option("--agency", help="the agency whose queue to list")],
          url: Url = "http://127.0.0.1:8000", as_json: AsJson = False, user: User = None, password: Password = None) -> None:
    """The steps waiting for a decision by AGENCY, nearest SLA first (default user: clerk-AGENCY)."""
    items = call(api(url, user, password, f"clerk-{agency}").get, f"/api/queue?agency={agency}")
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        typer.echo(f"nothing waits for {agency}")
    for i in items:
        flag = " ESCALATED" if i["escalated"] else ""
        typer.echo(f"{i['case_id']}  {i['step']:<18} due {i['deadline'][:16]}{flag}  {i.get('company_name') or ''}")
        for r in i["reasons"]:
            typer.echo(f"    - {r}")


@app.command()
def decide(case_id: str, decision: Annotated[str, typer.Argument(help="approve or reject")],
           reason: Annotated[Optional[str], typer.Option("--reason", help="required to reject")] = None,
           step: Annotated[Optional[str], typer.Option(help="default: the step your agency holds")] = None,
           agency: Annotated[Optional[str], typer.Option("--agency", help="decide as the demo clerk of AGENCY")] = None,
           url: Url = "http://127.0.0.1:8000", user: User = None, password: Password = None) -> None:
    """Approve or reject the step the signed-in clerk's agency holds on a case."""
    if decision not in ("approve", "reject"):
        fail("the decision is approve or reject", 2)
    if decision == "reject" and not reason:
        fail("a rejection needs --reason", 2)
    if user is None and agency is None:
        fail("say who decides: --user CLERK (or --agency NAME for the demo clerk-NAME)", 2)
    body = {"decision": decision, "reason": reason, "step": step}
    typer.echo(call(api(url, user, password, f"clerk-{agency}").post, f"/api/cases/{case_id}/decision", body)["detail"])


# ---------------------------------------------------------------------------------- auditors
def _print_report(report, as_json: bool) -> None:
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        where = "against the ledger" if report.online else "offline (signatures, hashes, order)"
        verdict = "VALID" if report.ok else "INVALID"
        typer.echo(f"{verdict}: case {report.case_id}, {report.handoffs} handoffs, {report.anchored} anchored, checked {where}")
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


def _ledger_for(bundle, url: str | None, ledger_rpc: str | None):
    from chain.errors import ChainError
    from chain.ledger import Deployment, Ledger

    if ledger_rpc is None and url is None:
        return None
    if ledger_rpc is None:
        from gateway.client import Api

        ledger_rpc = call(Api(url, "", "").health).get("ledger_rpc")
    c = bundle.chain
    try:
        return Ledger(ledger_rpc, Deployment(chain_id=c.chain_id, registry=c.registry, ledger=c.ledger, block=c.block))
    except ChainError as exc:
        fail(str(exc))


LedgerRpc = Annotated[Optional[str], typer.Option("--ledger-rpc", help="verify against this ledger node directly (default: the one the gateway names)")]


@audit_app.command("verify")
def audit_verify(case_id: str, url: Url = "http://127.0.0.1:8000", as_json: AsJson = False,
                 ledger_rpc: LedgerRpc = None, user: User = None, password: Password = None) -> None:
    """Verify a case's whole trail against the ledger; exit 0 only when it is valid."""
    from chain.audit import parse_bundle, verify_case

    bundle = parse_bundle(call(api(url, user, password, "auditor").get, f"/api/cases/{case_id}/evidence"))
    _print_report(verify_case(bundle, _ledger_for(bundle, url, ledger_rpc)), as_json)


@audit_app.command("export")
def audit_export(case_id: str, output: Annotated[Path, typer.Option("-o", "--output", help="where to write the bundle")],
                 url: Url = "http://127.0.0.1:8000", user: User = None, password: Password = None) -> None:
    """Write a case's evidence bundle (records, signatures, anchors) to a file."""
    bundle = call(api(url, user, password, "auditor").get, f"/api/cases/{case_id}/evidence")
    output.write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {output} ({len(bundle['handoffs'])} handoffs)")


@audit_app.command("verify-bundle")
def audit_verify_bundle(file: Path, url: Annotated[Optional[str], typer.Option("--url", help="also check against the ledger this gateway names")] = None,
                        ledger_rpc: LedgerRpc = None, as_json: AsJson = False) -> None:
    """Re-verify an exported bundle: offline, or against the ledger with --url/--ledger-rpc."""
    from chain.audit import parse_bundle, verify_case
    from chain.errors import VerificationError

    try:
        bundle = parse_bundle(file.read_bytes())
    except FileNotFoundError:
        fail(f"{file}: no such file", 2)
    except VerificationError as exc:
        fail(str(exc))
    _print_report(verify_case(bundle, _ledger_for(bundle, url, ledger_rpc)), as_json)


@audit_app.command("ledger")
def audit_ledger(url: Url = "http://127.0.0.1:8000", as_json: AsJson = False, ledger_rpc: LedgerRpc = None,
                 user: User = None, password: Password = None,
                 settle: Annotated[float, typer.Option(help="seconds to wait before checking a disagreement once more "
                                                            "(a handoff being anchored right now is not recorded yet)")] = 3.0) -> None:
    """Reconcile the whole ledger with the store: every anchor on the chain has its record, every
    record its anchor; exit 0 only when they agree."""
    from chain.errors import ChainError
    from chain.ledger import Deployment, Ledger
    from chain.reconcile import StoredRecord, reconcile_ledger

    client = api(url, user, password, "auditor")

    def stored() -> list[StoredRecord]:
        found, after = [], ""
        while True:
            page = call(client.get, f"/api/audit/handoffs?limit=1000{after and '&after=' + after}")
            found += [StoredRecord.model_validate(r) for r in page["items"]]
            if not (after := page["next"]):
                return found

    try:
        ledger = Ledger(ledger_rpc or call(client.health).get("ledger_rpc"),
                        Deployment(**call(client.get, "/api/audit/deployment")))
        report = reconcile_ledger(stored(), ledger)
        if not report.ok and settle > 0:
            time.sleep(settle)
            report = reconcile_ledger(stored(), ledger)
    except ChainError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(f"{'AGREE' if report.ok else 'DISAGREE'}: {report.anchors_on_chain} anchors and "
                   f"{report.batches_on_chain} batches on the ledger, {report.records_in_store} records in the store, "
                   f"{report.matched} matched")
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------ bench
bench_app = typer.Typer(help="Measure the ledger on a throw-away embedded node (not a test: figures vary by machine).")
app.add_typer(bench_app, name="bench")


def _bench_module(name: str):
    """bench/NAME.py from the source tree (the benchmarks are not in the wheel), loaded lazily."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    if not path.is_file():
        fail(f"{path} is missing: the benchmarks ship with the source tree only")
    spec = importlib.util.spec_from_file_location(f"onevisit_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@bench_app.command("ledger")
def bench_ledger(as_json: AsJson = False,
                 handoffs: Annotated[int, typer.Option("--handoffs", min=10, help="handoffs per batched run")] = 4000) -> None:
    """Anchor single and batched, time an anchor's latency under load and offline verification."""
    result = _bench_module("ledger").run(handoffs=handoffs)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        if key != "settings":
            typer.echo(f"{key:<24} {value}")
    typer.echo("settings: " + ", ".join(f"{k}={v}" for k, v in result["settings"].items()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
