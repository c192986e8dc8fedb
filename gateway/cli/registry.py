"""``onevisit registry``: the operator's view and changes of the agency registry on the ledger.

Every change is an on-chain event the auditor replays, so a handoff is judged by the key that
was registered when it was anchored: rotating a compromised key never invalidates old trails. A
signing key rotates in two phases: the new key is scheduled some blocks ahead and both sign until
then, so steps in flight under the old key still anchor and verify.
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
ROTATION_BLOCKS = 20  # as chain.client.ROTATION_BLOCKS, which this module does not import at start
Blocks = Annotated[
    int,
    typer.Option(
        "--blocks",
        min=1,
        help="the blocks during which both keys sign; from then on only the new one (its worker must have it by then)",
    ),
]


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
    from chain.errors import ChainError

    admin = _admin(data_dir, ledger_rpc)
    rows = {}
    for name in AGENCIES:
        row = dict(zip(("account", "signer", "active"), admin.agency_record(name), strict=False))
        try:
            head, schedule = admin.ledger.signer_schedule(name)
        except ChainError:  # not registered (yet) on this ledger
            schedule = None
        if schedule is not None and schedule.next_signer and schedule.next_from > head:
            row.update(next_signer=schedule.next_signer, next_signer_from=schedule.next_from)
        rows[name] = row
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for name, r in rows.items():
        pending = f"  (-> {r['next_signer']} from block {r['next_signer_from']})" if "next_signer" in r else ""
        typer.echo(
            f"{name:<18} account {r['account']}  signer {r['signer']}{pending}  "
            f"{'active' if r['active'] else 'SUSPENDED'}"
        )


@registry_app.command("rotate-signer")
def rotate_signer(
    agency: str, data_dir: DataDir = Path(".onevisit"), ledger_rpc: Rpc = None, blocks: Blocks = ROTATION_BLOCKS
) -> None:
    """Give AGENCY a new signing key, in two phases: scheduled on-chain to take over BLOCKS blocks
    from now (both keys sign until then), written to its key file beside the old one (which is
    also archived), and its worker under `onevisit up` restarted to use it."""
    from agencies.directory import AGENCIES
    from agencies.keys import AgencyKeys
    from chain.errors import ChainError
    from gateway.deployment import read_deployment, write_deployment

    if agency not in AGENCIES:
        fail(f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}", 2)
    admin = _admin(data_dir, ledger_rpc)
    path = data_dir / "keys" / f"{agency}.json"
    old = AgencyKeys.load(path)
    new = old.rotated(AgencyKeys.generate(agency).signing_key)
    archive = data_dir / "keys" / "archive" / f"{agency}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    old.save(archive)
    try:  # on-chain first: from this block both keys sign, so the running worker goes on meanwhile
        effective = admin.rotate_signer(agency, new.signer, admin.w3.eth.block_number + 1 + blocks)
    except ChainError as exc:
        fail(f"the registry refused the rotation: {exc}")
    new.save(path)
    deployment, claims = read_deployment(data_dir / "deployment.json")
    claims[agency] = {"signer": new.signer, "account": new.account}
    write_deployment(data_dir / "deployment.json", deployment, claims)
    typer.echo(
        f"{agency}: signer {old.signer} -> {new.signer} from block {effective}; both sign until then "
        f"(old key archived in {archive}, and kept in {path} while handoffs it signed may be in flight)"
    )
    pid_file = data_dir / "run" / f"agency-{agency}.pid"
    restarted = False
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            restarted = True
            typer.echo(f"restarting the {agency} worker to load its new key")
        except ProcessLookupError:
            pass
    if not restarted:
        typer.echo(
            f"no {agency} worker is running here: start it with {path} before block {effective} "
            "(until one does, steps signed by the old key after that block wait for it)"
        )
