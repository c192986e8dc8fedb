"""``onevisit registry``: the operator's view and changes of the agency registry on the ledger.

Every change is an on-chain event the auditor replays, so a handoff is judged by the key that
was registered when it was anchored: rotating a compromised key never invalidates old trails.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import AsJson, fail

registry_app = typer.Typer(help="Show and change the agency registry on the ledger (admin key required).")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="holds keys/ and deployment.json (as `onevisit up` makes it)")
]
Rpc = Annotated[str | None, typer.Option("--ledger-rpc", help="default: the embedded node `up` runs for DATA_DIR")]


def _admin(data_dir: Path, ledger_rpc: str | None):
    from agencies.keys import AgencyKeys
    from chain.client import Admin, LedgerClient
    from chain.errors import ChainError
    from gateway.deployment import read_deployment

    ready = data_dir / "run" / "ledger.json"
    if ledger_rpc is None:
        if not ready.exists():
            fail(f"no running ledger for {data_dir}: give --ledger-rpc", 2)
        ledger_rpc = json.loads(ready.read_text())["url"]
    try:
        deployment, _ = read_deployment(data_dir / "deployment.json")
        return Admin(
            LedgerClient(ledger_rpc, deployment), AgencyKeys.load(data_dir / "keys" / "admin.json").account_key
        )
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: not found (is {data_dir} a OneVisit data directory?)", 2)
    except ChainError as exc:
        fail(str(exc))


@registry_app.command("show")
def show(data_dir: DataDir = Path(".onevisit"), ledger_rpc: Rpc = None, as_json: AsJson = False) -> None:
    """Every agency as the chain has it now: account, signer, active."""
    from agencies.directory import AGENCIES

    admin = _admin(data_dir, ledger_rpc)
    rows = {
        name: dict(zip(("account", "signer", "active"), admin.agency_record(name), strict=False)) for name in AGENCIES
    }
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for name, r in rows.items():
        typer.echo(
            f"{name:<18} account {r['account']}  signer {r['signer']}  {'active' if r['active'] else 'SUSPENDED'}"
        )


@registry_app.command("rotate-signer")
def rotate_signer(agency: str, data_dir: DataDir = Path(".onevisit"), ledger_rpc: Rpc = None) -> None:
    """Give AGENCY a new signing key: registered on-chain, written to its key file (the old one is
    archived), and its worker under `onevisit up` restarted to use it."""
    from agencies.directory import AGENCIES
    from agencies.keys import AgencyKeys
    from gateway.deployment import read_deployment, write_deployment

    if agency not in AGENCIES:
        fail(f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}", 2)
    admin = _admin(data_dir, ledger_rpc)
    path = data_dir / "keys" / f"{agency}.json"
    old = AgencyKeys.load(path)
    new = AgencyKeys(agency, AgencyKeys.generate(agency).signing_key, old.account_key)
    archive = data_dir / "keys" / "archive" / f"{agency}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    old.save(archive)
    admin.rotate_signer(agency, new.signer)  # on-chain first: from this block on, only the new key counts
    new.save(path)
    deployment, claims = read_deployment(data_dir / "deployment.json")
    claims[agency] = {"signer": new.signer, "account": new.account}
    write_deployment(data_dir / "deployment.json", deployment, claims)
    typer.echo(f"{agency}: signer {old.signer} -> {new.signer} (old key archived in {archive})")
    pid_file = data_dir / "run" / f"agency-{agency}.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            typer.echo(f"restarting the {agency} worker to load its new key")
        except ProcessLookupError:
            typer.echo(f"no {agency} worker is running: start it to use the new key")
