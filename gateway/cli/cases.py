"""``onevisit`` commands for applicants and clerks: apply, status, correct, withdraw, queue, decide; and
verify-licence (anyone), licence-document and documents (the applicant) and erase (admins)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import AsJson, Password, Url, User, api, call, fail

app = typer.Typer()  # the applicants' and clerks' commands, at the top level

TERMINAL = {"completed", "rejected", "failed", "withdrawn", "returned"}  # returned: the applicant must act


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
    if case.get("closing"):
        typer.echo(f"  closed: the trail ends in closing record {case['closing']}")


def _case_json(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_id": case["case_id"],
        "flow": case.get("flow"),
        "status": case["status"],
        "reason": case.get("reason"),
        "uscc": case.get("uscc"),
        "company_name": case.get("company_name"),
        "result": case["result"],
        "steps": case["steps"],
        "events": case.get("events", []),
        "closing": case.get("closing"),
    }


def _read_json(file: Path) -> Any:
    from chain import jsonguard

    try:
        return jsonguard.loads(file.read_bytes(), 16 * 1024 * 1024)
    except FileNotFoundError:
        fail(f"{file}: no such file", 2)
    except jsonguard.JsonRefused as exc:
        fail(f"{file}: {exc}", 2)
    except json.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", 2)
    except ValueError as exc:  # not UTF-8
        fail(f"{file} is not valid JSON: {exc}", 2)


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="the application, JSON")],
    url: Url = "http://127.0.0.1:8000",
    wait: Annotated[bool, typer.Option("--wait", help="follow the case until it ends")] = False,
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 600,
    company: Annotated[
        str | None, typer.Option("--company", help="the credit code of a company you registered (SME credit)")
    ] = None,
) -> None:
    """Submit an application as the applicant; with --wait, follow it until it ends or needs you."""
    body = _read_json(file)
    if company is not None:
        if not isinstance(body, dict) or not isinstance(body.setdefault("company", {}), dict):
            fail(f"{file}: --company fills in company.uscc, but the file's company is not an object", 2)
        body["company"]["uscc"] = company
    client = api(url, user, password, "applicant")
    case = call(client.post, "/api/v1/cases", body)
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
            case = call(client.get, f"/api/v1/cases/{case['case_id']}")
    _print_case(case, as_json)
    if case["status"] in ("rejected", "failed", "returned", "withdrawn"):
        raise typer.Exit(1)


@app.command()
def status(
    case_id: str,
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """Show a case: every step, who holds it, its handoff and anchor."""
    _print_case(call(api(url, user, password, "applicant").get, f"/api/v1/cases/{case_id}"), as_json)


@app.command()
def correct(
    case_id: str,
    file: Annotated[Path, typer.Argument(help="the corrected application, JSON")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Resubmit a case that a clerk or an agency returned: the returned step runs again."""
    body = _read_json(file)
    typer.echo(call(api(url, user, password, "applicant").post, f"/api/v1/cases/{case_id}/correction", body)["detail"])


@app.command()
def withdraw(
    case_id: str,
    reason: Annotated[str, typer.Option("--reason", help="why (the trail keeps its salted commitment)")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Withdraw a case: every completed step is undone in reverse order, each a signed handoff."""
    typer.echo(
        call(api(url, user, password, "applicant").post, f"/api/v1/cases/{case_id}/withdrawal", {"reason": reason})[
            "detail"
        ]
    )


@app.command()
def erase(
    case_id: str,
    reason: Annotated[str, typer.Option("--reason", help="why (kept as a salted commitment in an anchored handoff)")],
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """Erase the person's data in an ended case (admin): its key, what the store holds of it and its
    Temporal history; the big data bureau signs and anchors the erasure. The trail still verifies."""
    done = call(api(url, user, password, "admin").post, f"/api/v1/cases/{case_id}/erasure", {"reason": reason})
    if as_json:
        typer.echo(json.dumps(done, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"case {done['case_id']}: personal data erased by {done['erased_by']} at {done['erased_at']}; "
        f"recorded by case {done['record_case']} (reason commitment {done['reason_commitment']})"
    )


# ------------------------------------------------------------------------------------ clerks
@app.command()
def queue(
    agency: Annotated[str, typer.Option("--agency", help="the agency whose queue to list")],
    url: Url = "http://127.0.0.1:8000",
    as_json: AsJson = False,
    user: User = None,
    password: Password = None,
) -> None:
    """The steps waiting for a decision by AGENCY, nearest SLA first (default user: clerk-AGENCY)."""
    items = call(api(url, user, password, f"clerk-{agency}").get, f"/api/v1/queue?agency={agency}")
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
def decide(
    case_id: str,
    decision: Annotated[str, typer.Argument(help="approve or reject")],
    reason: Annotated[str | None, typer.Option("--reason", help="required to reject")] = None,
    step: Annotated[str | None, typer.Option(help="default: the step your agency holds")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="decide as the demo clerk of AGENCY")] = None,
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Approve or reject the step the signed-in clerk's agency holds on a case."""
    if decision not in ("approve", "reject"):
        fail("the decision is approve or reject", 2)
    if decision == "reject" and not reason:
        fail("a rejection needs --reason", 2)
    if user is None and agency is None:
        fail("say who decides: --user CLERK (or --agency NAME for the demo clerk-NAME)", 2)
    body = {"decision": decision, "reason": reason, "step": step}
    clerk = api(url, user, password, f"clerk-{agency}")
    typer.echo(call(clerk.post, f"/api/v1/cases/{case_id}/decision", body)["detail"])


@app.command("verify-licence")
def verify_licence(code: str, url: Url = "http://127.0.0.1:8000", as_json: AsJson = False) -> None:
    """Anyone, no sign-in: is this business licence genuine and valid? Exit 0 only when valid."""
    from urllib.parse import quote

    from gateway.client import public_get

    answer = call(public_get, url, f"/api/v1/public/licences/{quote(code, safe='')}")
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
    elif not answer["format_valid"]:
        typer.echo(f"{answer['code']}: not a well-formed unified social credit code")
    else:
        issued = f" — {answer['company_name']}, issued {answer['issued_on']}" if answer.get("company_name") else ""
        typer.echo(f"{answer['code']}: {answer['status'].upper()}{issued}")
    if answer["status"] != "valid":
        raise typer.Exit(1)


@app.command("licence-document")
def licence_document(
    code: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the PDF")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
) -> None:
    """Download the e-licence (PDF with the QR code of its public check) of a licence issued to your case."""
    from urllib.parse import quote

    client = api(url, user, password, "applicant")
    path = f"/api/v1/public/licences/{quote(code, safe='')}/document.pdf"
    pdf = call(lambda: client._send("GET", path, headers=client._auth()).content)
    if not pdf.startswith(b"%PDF-"):
        fail(f"the gateway's answer to {path} is not a PDF")
    output.write_bytes(pdf)
    typer.echo(f"{output}: the e-licence of {code} ({len(pdf):,} bytes)")


@app.command("documents")
def documents(
    case_id: str,
    output: Annotated[Path, typer.Option("-o", "--output-dir", help="the directory to write each PDF into")],
    url: Url = "http://127.0.0.1:8000",
    user: User = None,
    password: Password = None,
    as_json: AsJson = False,
) -> None:
    """Download every document the agencies issued on your registration (the e-licence, the seal
    filing, the tax, social-security, housing fund and bank certificates) into a directory."""
    import re
    from urllib.parse import quote

    client = api(url, user, password, "applicant")
    listed = call(client.get, f"/api/v1/cases/{quote(case_id, safe='')}/documents")
    if not listed:
        fail(f"nothing has been issued on case {case_id} yet")
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in listed:
        resp = call(lambda d=doc: client._send("GET", d["url"], headers=client._auth()))
        if not resp.content.startswith(b"%PDF-"):
            fail(f"the gateway's answer to {doc['url']} is not a PDF")
        named = re.search(r'filename="([A-Za-z0-9._-]+)"', resp.headers.get("content-disposition", ""))
        path = output / (named.group(1) if named else f"{doc['kind']}.pdf")
        path.write_bytes(resp.content)
        written.append({**doc, "file": str(path)})
        if not as_json:
            typer.echo(f"{path}: {doc['title_zh']} {doc['title_en']}, {doc['agency']}, handoff {doc['handoff']}")
    if as_json:
        typer.echo(json.dumps(written, ensure_ascii=False, indent=2))
