"""Put the contracts and the agencies on a ledger: deploy once, then admit and register any
agency and assign any flow step not yet on the chain (adding an agency or a flow needs no code).

Used by `onevisit up` on the embedded node and by `onevisit provision` against Besu.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agencies.keys import AgencyKeys
from chain.adminrpc import AdminRpc
from chain.client import Admin, LedgerClient, deploy
from chain.errors import ChainError
from chain.handoff import agency_id, step_id
from gateway.deployment import read_deployment, write_deployment
from workflows.catalog import builtin_flows

FUNDING = 10**21  # wei (1,000 ether) for an agency admitted after the genesis


def provision(
    ledger_url: str,
    admin_key: bytes,
    agencies: dict[str, AgencyKeys],
    path: Path,
    admitted: set[str],
    say: Callable[[str], None] = print,
    admin_rpc: AdminRpc | None = None,
) -> None:
    """``admitted``: accounts already allowed and funded (in the genesis); others are admitted
    through ``admin_rpc``, the node's admin interface (it refuses without one)."""
    if path.exists():
        deployment, known = read_deployment(path)
    else:
        say("deploying the agency registry and the handoff ledger")
        deployment, known = deploy(ledger_url, admin_key), {}
        write_deployment(path, deployment, known)
    admin = Admin(LedgerClient(ledger_url, deployment), admin_key)
    registry = admin.ledger.agency_registry.functions
    known_before, to_register = dict(known), {}
    for name, k in agencies.items():
        if name in known:
            continue
        on_chain = registry.account_of(agency_id(name)).call()
        if int(on_chain, 16):  # registered before a crash let it be written down, by these keys only
            signer = registry.signer_of(agency_id(name)).call()
            if (on_chain.lower(), signer.lower()) != (k.account.lower(), k.signer.lower()):
                raise ChainError(
                    f"{name} is registered on the ledger with the account {on_chain} and the signer "
                    f"{signer}, not {k.account} and {k.signer}"
                )
        else:
            if k.account not in admitted:
                if admin_rpc is None:
                    raise ChainError(
                        f"{name}'s account {k.account} is not on the allowlist, and no admin interface "
                        "was given to admit it (--admin-rpc and --admin-jwt-key)"
                    )
                say(f"admitting {name}'s account {k.account}")
                admin_rpc.allow_accounts([k.account])
                admin.fund(k.account, FUNDING)
            to_register[name] = k
        known[name] = {"signer": k.signer, "account": k.account}
    # every transaction of a kind is sent before any is waited for: a few blocks, not one each
    admin.register_agencies([(name, k.account, k.signer) for name, k in to_register.items()])
    if known != known_before:
        write_deployment(path, deployment, known)
    owner_of = registry.owner_of_step
    admin.assign_steps(
        [
            (flow.name, step, agency)
            for flow in builtin_flows().values()
            for step, agency in flow.owned_steps()
            if owner_of(step_id(flow.name, step)).call() != agency_id(agency)
        ]
    )


def load_agency_keys(keys_dir: Path, names) -> dict[str, AgencyKeys]:
    missing = [n for n in names if not (keys_dir / f"{n}.json").exists()]
    if missing:
        raise FileNotFoundError(
            f"no keys for {', '.join(missing)} in {keys_dir}: make them with `onevisit keygen agency NAME`"
        )
    return {n: AgencyKeys.load(keys_dir / f"{n}.json") for n in names}
