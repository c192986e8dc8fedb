"""``onevisit audit`` and ``onevisit bench``: verify trails, export and re-verify evidence, reconcile, measure."""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import AsJson, LedgerRpc, Password, Url, User, api, call, fail

audit_app = typer.Typer(help="Verify a case's handoff trail, export and re-verify evidence bundles.")
trust_app = typer.Typer(help="The auditor's trust root: the chain, contracts and head keys, pinned once.")
audit_app.add_typer(trust_app, name="trust")

TrustFile = Annotated[
    Path | None,
    typer.Option(
        "--trust",
        envvar="ONEVISIT_TRUST",
        help="the auditor's trust root (`audit trust init`): chain id, genesis, contracts and deployment block "
        "are read from it, and a bundle, gateway or node naming others is refused (default: verify against "
        "what the operator claims)",
    ),
]
CLAIMED_NOTE = "operator-claimed (chain and contracts as the operator names them; pin your own with --trust)"


def _trust(path: Path | None):
    """The trust root at ``path`` (None without one); a bad one stops the command (exit 2)."""
    from chain.audit.trust import TrustRootError, load_trust

    if path is None:
        return None
    try:
        return load_trust(path)
    except TrustRootError as exc:
        fail(str(exc), 2)


def _trust_note(report, trust_file: Path | None) -> str:
    return f"pinned ({trust_file})" if report.trust == "pinned" else CLAIMED_NOTE


def _refused(messages: list[str]) -> list:
    from chain.audit.case import Finding

    return [Finding(check="trust", message=m) for m in messages]


def _print_report(report, as_json: bool, trust_file: Path | None = None) -> None:
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        if report.online:
            where = "against the ledger"
        elif report.proven is not None:
            where = (
                f"offline, {report.proven} of {report.anchored} anchors proven (their blocks cosigned by a quorum of "
                "the pinned agencies, the ledger's and registry's state proven from them)"
            )
        else:
            where = "offline (signatures, hashes, order; anchors and registry history as the bundle claims them)"
        unproven = report.findings and all(f.check == "unauthenticated" for f in report.findings)
        verdict = "VALID" if report.ok else "UNAUTHENTICATED" if unproven else "INVALID"
        closed = (
            f"closed ({report.closed}), every handoff named by its closing record"
            if report.closed
            else "OPEN: no closing record, so the trail may still grow (or was cut short before it)"
        )
        typer.echo(
            f"{verdict}: case {report.case_id}, {report.handoffs} handoffs, {report.anchored} anchored, "
            f"checked {where}; {closed}; trust: {_trust_note(report, trust_file)}"
        )
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


def _gateway_claims(health: dict[str, Any]) -> dict[str, Any]:
    """What a gateway's /healthz names of the chain, keeping only values of the right type."""
    contracts = health.get("contracts") if isinstance(health.get("contracts"), dict) else {}
    named = {"chain_id": health.get("chain_id"), **{k: contracts.get(k) for k in ("registry", "ledger")}}
    return {k: v for k, v in named.items() if isinstance(v, int if k == "chain_id" else str)}


def _ledger_for(bundle, url: str | None, ledger_rpc: str | None, trust=None) -> tuple[Any, list]:
    """(ledger client, trust findings) to verify against: the node given, or the one the gateway
    names. With a trust root: the pinned contracts, on a node that is the pinned chain (else no
    client and a finding), and a gateway naming other ones is a finding; without one: the chain
    and contracts the bundle names."""
    from chain.anchors import Deployment
    from chain.audit.trust import open_ledger
    from chain.client import LedgerClient
    from chain.errors import ChainError

    if ledger_rpc is None and url is None:
        return None, []
    refused: list[str] = []
    if ledger_rpc is None:
        from gateway.client import Api

        health = call(Api(url, "", "").health)
        ledger_rpc = health.get("ledger_rpc") if isinstance(health, dict) else None
        if not isinstance(ledger_rpc, str):
            fail(f"the gateway at {url} names no ledger node: give --ledger-rpc")
        if trust is not None:
            refused += trust.differences(f"the gateway at {url}", **_gateway_claims(health))
    try:
        if trust is not None:
            ledger, bad_node = open_ledger(ledger_rpc, trust)
            return ledger, _refused(refused + bad_node)
        c = bundle.chain
        deployment = Deployment(chain_id=c.chain_id, registry=c.registry, ledger=c.ledger, block=c.block)
        return LedgerClient(ledger_rpc, deployment), []
    except ChainError as exc:
        fail(str(exc))


@audit_app.command("verify")
def audit_verify(
    case_id: str,
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    ledger_rpc: LedgerRpc = None,
    trust_file: TrustFile = None,
    user: User = None,
    password: Password = None,
) -> None:
    """Verify a case's whole trail against the ledger; exit 0 only when it is valid."""
    from chain.audit.case import parse_bundle, verify_case
    from chain.errors import VerificationError

    trust = _trust(trust_file)
    try:
        bundle = parse_bundle(call(api(url, user, password, "auditor").get, f"/api/v1/cases/{case_id}/evidence"))
    except VerificationError as exc:
        _print_unparsed(Path(f"the evidence of case {case_id}"), exc, as_json, trust)
    ledger, refused = _ledger_for(bundle, url, ledger_rpc, trust)
    _print_report(verify_case(bundle, ledger, trust).with_findings(refused), as_json, trust_file)


@audit_app.command("export")
def audit_export(
    case_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the bundle")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Write a case's evidence bundle (records, signatures, anchors) to a file."""
    bundle = call(api(url, user, password, "auditor").get, f"/api/v1/cases/{case_id}/evidence")
    output.write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {output} ({len(bundle['handoffs'])} handoffs)")


@audit_app.command("notes")
def audit_notes(
    case_id: str,
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """Check each reason given on a case (a clerk's, a withdrawal's, an erasure's) against the salted
    commitment its handoff carries: the commitment is recomputed here from the text and salt. Exit 1
    when one does not match or no handoff of the case carries it (an approval's reason is in the case's
    events, never in a handoff); an erased reason is only listed."""
    from chain.handoff import text_commitment

    notes = call(api(url, user, password, "auditor").get, f"/api/v1/cases/{case_id}/notes")
    bad = []
    for n in notes:
        n["matches"] = None if n["text"] is None else text_commitment(n["text"], n["salt"]) == n["commitment"]
        if n["matches"] is False or (n["text"] is not None and not n["in_trail"] and n["kind"] != "approval"):
            bad.append(n["commitment"])
    if as_json:
        typer.echo(json.dumps(notes, ensure_ascii=False, indent=2))
    else:
        for n in notes:
            state = "erased" if n["text"] is None else "matches" if n["matches"] else "DOES NOT MATCH"
            where = "in the trail" if n["in_trail"] else "in no handoff" if n["kind"] == "approval" else "IN NO HANDOFF"
            typer.echo(f"{n['kind']:<10} {n['commitment']}  {state}, {where}")
        typer.echo(f"{case_id}: {len(notes)} reasons, {len(bad)} failing")
    if bad:
        raise typer.Exit(1)


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    file: Path,
    url: Annotated[str | None, typer.Option("--url", help="also check against the ledger this gateway names")] = None,
    ledger_rpc: LedgerRpc = None,
    trust_file: TrustFile = None,
    as_json: AsJson = False,
) -> None:
    """Re-verify an exported bundle: offline, or against the ledger with --url/--ledger-rpc. Offline
    with --trust, no network at all: each anchor, block and signer is proven by the bundle's
    headers, agencies' checkpoints and state proofs, or the bundle is not valid (UNAUTHENTICATED
    when it carries no proofs)."""
    from chain.audit.case import parse_bundle, verify_case
    from chain.errors import VerificationError

    trust = _trust(trust_file)
    try:
        bundle = parse_bundle(file.read_bytes())
    except FileNotFoundError:
        fail(f"{file}: no such file", 2)
    except OSError as exc:
        fail(f"{file}: cannot be read: {exc.strerror or exc}", 2)
    except VerificationError as exc:
        _print_unparsed(file, exc, as_json, trust)
    ledger, refused = _ledger_for(bundle, url, ledger_rpc, trust)
    _print_report(verify_case(bundle, ledger, trust).with_findings(refused), as_json, trust_file)


def _print_unparsed(file: Path, exc, as_json: bool, trust=None) -> None:
    """A bundle that does not parse is INVALID with one finding naming what is wrong (exit 1)."""
    finding = {"check": exc.check, "message": exc.message, "handoff": exc.handoff, "step": None}
    if as_json:
        report = {"case_id": None, "ok": False, "online": False, "handoffs": 0, "anchored": 0, "findings": [finding]}
        typer.echo(json.dumps({**report, "trust": "pinned" if trust else "operator-claimed"}, indent=2))
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


@audit_app.command("loan")
def audit_loan(
    case_id: str,
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    ledger_rpc: LedgerRpc = None,
    trust_file: TrustFile = None,
    user: User = None,
    password: Password = None,
) -> None:
    """SME credit: verify a loan's trail and, back from its consent check, the trails of the consent
    and of its revocation if any, each against the ledger; then what links them (the same consent
    and company, granted before the check, each read by the bank checked, of data the consent
    covers, none after the consent ended). Exit 0 only when all hold."""
    from chain.audit.case import parse_bundle, verify_case
    from gateway.credit_trail import consent_of, link_findings

    trust, client = _trust(trust_file), api(url, user, password, "auditor")

    def verified(cid: str):
        bundle = parse_bundle(call(client.get, f"/api/v1/cases/{cid}/evidence"))
        ledger, refused = _ledger_for(bundle, url, ledger_rpc, trust)
        return bundle, verify_case(bundle, ledger, trust).with_findings(refused)

    loan, report = verified(case_id)
    reports, grant, revocation = [report], None, None
    consent_id = consent_of(loan)
    if consent_id is not None:
        cases = call(client.get, f"/api/v1/credit/consents/{consent_id}")
        grant, grant_report = verified(cases["grant"])
        reports.append(grant_report)
        if cases.get("revocation"):
            revocation, revocation_report = verified(cases["revocation"])
            reports.append(revocation_report)
    links = link_findings(loan, grant, revocation)
    ok = all(r.ok for r in reports) and not links
    if as_json:
        body = {"ok": ok, "consent_id": consent_id, "trails": [r.model_dump(mode="json") for r in reports],
                "links": [f.model_dump(mode="json") for f in links]}  # fmt: skip
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{'VALID' if ok else 'INVALID'}: loan {case_id}, consent {consent_id or '(none: refused)'}")
        for r in reports:
            typer.echo(f"  case {r.case_id}: {'valid' if r.ok else 'INVALID'}, {r.anchored} anchored")
            for f in r.findings:
                typer.echo(f"    [{f.check}] {f.step or '-'}: {f.message}")
        for f in links:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not ok:
        raise typer.Exit(1)


@audit_app.command("consents")
def audit_consents(
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """SME credit: list every read anchored under a consent already revoked (its revocation anchored in
    an earlier block), made after its expiry day, or under a consent never granted; exit 0 only when
    there is none. Each listed read's trail can be checked with `audit verify CASE`."""
    report = call(api(url, user, password, "auditor").get, "/api/v1/credit/audit")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"{report['reads_checked']} reads under {report['consents']} consents ({report['ended']} revoked or "
            f"expired): {len(report['violations'])} after a consent ended"
        )
        for v in report["violations"]:
            typer.echo(f"  {v['case_id']} {v['step']} by {v['read_by']} at {v['read_at']}: {v['finding']}")
    if report["violations"]:
        raise typer.Exit(1)


@audit_app.command("ledger")
def audit_ledger(
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    ledger_rpc: LedgerRpc = None,
    trust_file: TrustFile = None,
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
    began (see ``reconcile_from_start``). With --trust, the pinned contracts are read, on a node
    that is the pinned chain, and a gateway naming other contracts is a finding."""
    from pydantic import ValidationError

    from chain.anchors import Deployment
    from chain.audit.evidence import ChainRef
    from chain.audit.ledger import LedgerReport, StoredRecord
    from chain.audit.trust import PINNED, open_ledger
    from chain.client import LedgerClient
    from chain.errors import ChainError

    trust = _trust(trust_file)
    client = api(url, user, password, "auditor")

    def stored() -> list[StoredRecord]:
        found, after = [], ""
        while True:
            page = call(client.get, f"/api/v1/audit/handoffs?limit=1000{after and '&after=' + after}")
            found += [StoredRecord.model_validate(r) for r in page["items"]]
            if not (after := page["next"]):
                return found

    try:
        named = ChainRef.model_validate(call(client.get, "/api/v1/audit/deployment"))
    except ValidationError as exc:
        fail(f"the gateway at {url} names no deployment: {exc.errors(include_url=False)[0]['msg']}")
    rpc = ledger_rpc or call(client.health).get("ledger_rpc")
    try:
        if trust is None:
            ledger = LedgerClient(rpc, Deployment(**named.model_dump()))
            report, block = reconcile_from_start(stored, ledger, settle)
        else:
            gateway = trust.differences(
                f"the gateway at {url}",
                chain_id=named.chain_id,
                registry=named.registry,
                ledger=named.ledger,
                block=named.block,
            )
            ledger, bad_node = open_ledger(rpc, trust)
            if ledger is None:  # not the pinned chain: nothing on it to reconcile with
                n = len(stored())
                report = LedgerReport(ok=False, anchors_on_chain=0, records_in_store=n, matched=0, findings=[])
                block = None
            else:
                report, block = reconcile_from_start(stored, ledger, settle)
            report = report.with_findings(_refused(gateway + bad_node))
            report = report.model_copy(update={"trust": PINNED})
    except ChainError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**report.model_dump(mode="json"), "block": block}, indent=2))
    else:
        seen = f"as of block {block}" if block is not None else "(the node is not the pinned chain)"
        typer.echo(
            f"{'AGREE' if report.ok else 'DISAGREE'}: {report.anchors_on_chain} anchors and "
            f"{report.batches_on_chain} batches on the ledger {seen}, "
            f"{report.records_in_store} records in the store, {report.matched} matched; "
            f"trust: {_trust_note(report, trust_file)}"
        )
        for f in report.findings:
            typer.echo(f"  [{f.check}] {f.step or '-'} {f.handoff or ''}: {f.message}")
    if not report.ok:
        raise typer.Exit(1)


class Heads(enum.StrEnum):
    auto = "auto"
    agency_checkpoints = "agency-checkpoints"
    qbft_validators = "qbft-validators"


@trust_app.command("init")
def trust_init(
    ledger_rpc: Annotated[str, typer.Option("--ledger-rpc", help="the ledger node to read the chain from")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the trust root")],
    url: Annotated[
        str | None, typer.Option("--url", help="take the contracts the gateway names (/api/v1/audit/deployment)")
    ] = None,
    registry: Annotated[str | None, typer.Option("--registry", help="the registry contract's address")] = None,
    ledger: Annotated[str | None, typer.Option("--ledger", help="the ledger contract's address")] = None,
    deployment_block: Annotated[
        int | None, typer.Option("--deployment-block", min=0, help="default: read from the registry's deployment")
    ] = None,
    heads: Annotated[
        Heads,
        typer.Option(
            "--heads",
            help="the keys that vouch for ledger heads: the agencies' checkpoint keys, Besu's QBFT validators, "
            "or auto (validators if the node answers qbft_getValidatorsByBlockNumber)",
        ),
    ] = Heads.auto,
    quorum: Annotated[
        int | None, typer.Option("--quorum", min=1, help="default: a majority of agencies, 2/3 of validators")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """Write a trust root read from the chain: chain id, genesis hash, the registry and ledger
    contracts, their deployment block, and the keys that vouch for ledger heads with their quorum.
    Check it out of band (with the network's operators and each agency) before relying on it."""
    from chain.audit.trust import TrustRootError, dump_trust, pin
    from chain.errors import ChainError

    if url is not None and (registry or ledger or deployment_block is not None):
        fail("give either --url or --registry and --ledger (and --deployment-block), not both", 2)
    if url is not None:
        named = call(api(url, user, password, "auditor").get, "/api/v1/audit/deployment")
        if not isinstance(named, dict):
            fail(f"the gateway at {url} names no deployment")
        registry, ledger, deployment_block = named.get("registry"), named.get("ledger"), named.get("block")
        if not isinstance(deployment_block, int) or isinstance(deployment_block, bool):
            deployment_block = None
    if not (isinstance(registry, str) and isinstance(ledger, str)):
        fail("name the contracts: --url GATEWAY, or --registry ADDRESS --ledger ADDRESS", 2)
    if output.exists() and not force:
        fail(f"{output} exists: a trust root is not replaced by accident (--force to overwrite)", 2)
    try:
        trust = pin(ledger_rpc, registry, ledger, deployment_block, heads=heads.value, quorum=quorum)
    except (TrustRootError, ChainError) as exc:
        fail(str(exc))
    output.write_text(dump_trust(trust), encoding="utf-8")
    if as_json:
        typer.echo(dump_trust(trust), nl=False)
        return
    h = trust.heads
    agencies = h.kind == "agency-checkpoints"
    keys = f"{len(h.signers)} agency checkpoint keys" if agencies else f"{len(h.validators)} QBFT validators"
    typer.echo(
        f"wrote {output}: chain {trust.chain_id} (genesis {trust.genesis_hash}), registry {trust.registry}, "
        f"ledger {trust.ledger}, deployed in block {trust.deployment_block}; heads: {keys}, quorum {h.quorum}\n"
        "Check these out of band (the chain id and genesis with the network's operators, each key with its "
        "agency) before verifying with --trust."
    )


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
