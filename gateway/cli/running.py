"""The ``onevisit`` command line: run the stack and its parts; the other commands live in
``cli_cases`` (applicants, clerks) and ``cli_audit`` (auditors, benchmarks)."""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway import tracing
from gateway.cli.common import fail

if TYPE_CHECKING:
    import asyncio

app = typer.Typer()  # running the stack and its parts, at the top level
worker_app = typer.Typer(help="Run one worker (used by `onevisit up`; run them yourself to split machines).")
agency_app = typer.Typer(help="An agency's own service, which its worker reaches over HTTP.")
db_app = typer.Typer(help="The gateway's store (ONEVISIT_DATABASE_URL, else DIR/onevisit.db).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's schema migrations (each process that opens the store applies them too)."""
    from sqlalchemy import create_engine

    from gateway import migrate
    from gateway.settings import get_settings
    from gateway.store import make_engine

    url = get_settings().db_url
    before = migrate.current(create_engine(url))
    after = migrate.current(make_engine(url))
    typer.echo(f"the store is at revision {after} (was {before or 'new'}; newest {migrate.head()})")


# ---------------------------------------------------------------------------------- running
@app.command()
def up(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="where everything persists")] = Path(".onevisit"),
    port: Annotated[int, typer.Option("--port", help="the gateway's port")] = 8000,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port (default: a free one)")] = None,
    temporal_ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port (default: a free one)")] = None,
    ledger_port: Annotated[int | None, typer.Option(help="ledger JSON-RPC port (default: a free one)")] = None,
    split_workers: Annotated[
        bool,
        typer.Option(
            "--split-workers", help="each agency's worker and the engine's in its own process (the production shape)"
        ),
    ] = False,
    stall: Annotated[
        float,
        typer.Option("--stall-s", help="give up on a part that neither runs nor logs for this long while starting"),
    ] = 120.0,
) -> None:
    """Start everything one machine needs; Ctrl-C stops it all. Run again on DIR to resume."""
    from gateway.stack import Stack

    stack = Stack(
        data_dir, port, host, temporal_port, temporal_ui_port, ledger_port, split_workers=split_workers, stall_s=stall
    )
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        urls = stack.start()
        typer.echo(f"OneVisit is up in {stack.timings['healthy']:.1f}s (data in {stack.data_dir})")
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
def provision(
    ledger_rpc: Annotated[str, typer.Option("--ledger-rpc", help="a node of the network (e.g. Besu)")],
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="holds keys/ (admin.json, AGENCY.json); deployment.json is written here")
    ],
    admitted: Annotated[
        bool, typer.Option(help="agency accounts are already allowed and funded (in the genesis)")
    ] = True,
    admin_rpc: Annotated[
        str | None,
        typer.Option(
            "--admin-rpc",
            help="the node's admin interface, to admit accounts (Besu: ws://127.0.0.1:8546 on a validator)",
        ),
    ] = None,
    admin_jwt_key: Annotated[
        Path | None, typer.Option("--admin-jwt-key", help="the operator's ES256 key (PEM) the admin interface trusts")
    ] = None,
) -> None:
    """Deploy the contracts (once) and register every agency and flow step on a ledger."""
    from agencies.directory import AGENCIES
    from agencies.keys import AgencyKeys
    from chain.adminrpc import AdminRpc
    from chain.errors import ChainError
    from gateway.provision import load_agency_keys
    from gateway.provision import provision as run

    if (admin_rpc is None) != (admin_jwt_key is None):
        fail("--admin-rpc and --admin-jwt-key go together", 2)
    try:
        keys = load_agency_keys(data_dir / "keys", AGENCIES)
        admin = AgencyKeys.load(data_dir / "keys" / "admin.json")
        admin_client = AdminRpc(admin_rpc, admin_jwt_key.read_bytes()) if admin_rpc and admin_jwt_key else None
    except FileNotFoundError as exc:
        fail(str(exc), 2)
    allowed = {k.account for k in keys.values()} if admitted else set()
    try:
        run(ledger_rpc, admin.account_key, keys, data_dir / "deployment.json", allowed, typer.echo, admin_client)
    except ChainError as exc:
        fail(str(exc))
    typer.echo(f"provisioned: {data_dir / 'deployment.json'}")


@app.command()
def keygen(
    kind: Annotated[str, typer.Argument(help="data (a data key, printed), agency, or gateway")],
    name: Annotated[str | None, typer.Argument(help="the agency (or admin), for kind agency")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="where to write the private key (0600)")] = None,
    keyring: Annotated[
        Path | None,
        typer.Option("--keyring", help="gateway: the public keyring the engine trusts, the new key added to it"),
    ] = None,
    data_key: Annotated[
        str | None,
        typer.Option(envvar="ONEVISIT_DATA_KEY", hidden=True, help="the operator's data key (from the environment)"),
    ] = None,
) -> None:
    """Make keys: `keygen data` prints a data key; `keygen agency NAME -o FILE` writes an agency's
    keys (with its Temporal payload key when ONEVISIT_DATA_KEY is set); `keygen payload NAME -o FILE`
    writes that payload key into an agency's existing key file (derived from ONEVISIT_DATA_KEY: run
    it again after changing the data key); `keygen gateway -o KEY.pem --keyring KEYS.json` writes the
    gateway's signing key and adds its public half to the engine's keyring (ONEVISIT_GATEWAY_KEY /
    ONEVISIT_GATEWAY_KEYS)."""
    from cryptography.fernet import Fernet

    from agencies.keys import AgencyKeys

    if kind == "data":
        typer.echo(Fernet.generate_key().decode())
    elif kind == "agency" and name and output:
        keys = AgencyKeys.generate(name)
        if data_key and name != "admin":
            keys = _with_payload_key(keys, data_key)
        keys.save(output)
        typer.echo(json.dumps({"agency": name, "signer": keys.signer, "account": keys.account}))
    elif kind == "payload" and name and output:
        if not data_key:
            fail("`keygen payload` derives the agency's payload key from the data key: set ONEVISIT_DATA_KEY", 2)
        keys = AgencyKeys.load(output)
        if keys.agency != name:
            fail(f"{output} holds {keys.agency}'s keys, not {name}'s", 2)
        _with_payload_key(keys, data_key).save(output)
        typer.echo(json.dumps({"agency": name, "payload_key": "written", "keys": str(output)}))
    elif kind == "gateway" and output and keyring:
        from workflows.authority import new_gateway_key

        if output.exists():
            fail(f"{output} exists: a gateway key is never overwritten (move it away to rotate)", 2)
        signer = new_gateway_key(output, keyring)
        typer.echo(json.dumps({"gateway_key": signer.key_id, "public": signer.public_hex(), "keyring": str(keyring)}))
    else:
        fail(
            "use `keygen data`, `keygen agency NAME -o FILE`, `keygen payload NAME -o FILE` "
            "or `keygen gateway -o KEY.pem --keyring KEYS.json`",
            2,
        )


def _with_payload_key(keys, data_key: str):
    """``keys`` holding their agency's payload key, derived from the operator's data key."""
    import dataclasses

    from workflows.codec import agency_recipient, payload_key

    return dataclasses.replace(keys, payload_key=payload_key(data_key, agency_recipient(keys.agency)))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the gateway alone (settings from ONEVISIT_* environment variables)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.logs import configure
    from gateway.settings import get_settings
    from gateway.stack import wait_for_start

    wait_for_start()
    configure(get_settings().log_format, logging.WARNING)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", log_config=None)


@agency_app.command("serve")
def agency_serve(
    name: Annotated[str, typer.Argument(help="the agency, e.g. tax")],
    port: Annotated[int, typer.Option("--port")] = 8100,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="its state goes in DIR/agencies/NAME, where its worker would keep it")
    ] = Path(".onevisit"),
) -> None:
    """Serve NAME's simulated back-end over HTTP (POST /steps/{step}, /compensations/{action}); point
    its worker at it with ONEVISIT_AGENCY_SERVICES='{"NAME": "http://HOST:PORT"}' or --backend-url.
    A real agency system answers the same three ways: 200 outputs, 409 refusal, 503 not now.
    ONEVISIT_AGENCY_SERVICE_TOKEN: the bearer token every request must carry (its worker's
    ONEVISIT_AGENCY_SERVICE_TOKENS='{"NAME": TOKEN}'); required to serve beyond loopback."""
    import ipaddress
    import os

    import uvicorn

    from agencies.directory import AGENCIES
    from agencies.service import create_service
    from agencies.simulated import SimulatedBackend

    if name not in AGENCIES:
        fail(f"no agency {name!r}: one of {', '.join(AGENCIES)}", 2)
    token = os.environ.get("ONEVISIT_AGENCY_SERVICE_TOKEN") or None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if token is None and not loopback:
        fail(f"--host {host} is reachable from the network: set ONEVISIT_AGENCY_SERVICE_TOKEN first", 2)
    service = create_service(SimulatedBackend(name, data_dir / "agencies" / name), token)
    typer.echo(f"{name} agency service on http://{host}:{port} (state in {data_dir / 'agencies' / name})")
    uvicorn.run(service, host=host, port=port, log_level="warning")


def _run_until_signal(make) -> None:
    import asyncio  # here, not at the top: the commands that run no loop start faster without it

    from gateway.logs import configure
    from gateway.settings import get_settings

    settings = get_settings()
    configure(settings.log_format)
    if settings.metrics_address:  # the worker's own metrics (agencies.metrics), for Prometheus
        from prometheus_client import start_http_server

        import agencies.metrics  # noqa: F401 - its families, listed from the first scrape

        host, _, port = settings.metrics_address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await make(stop)

    asyncio.run(main())
    _leave_without_finalising()


def _leave_without_finalising() -> None:
    """Exit 0 at once after a clean stop: everything a worker keeps is committed by now, and the
    interpreter's finalisation (the Temporal core runtime's teardown among it) took 3-7 s of every
    stop. The exit handlers (an OpenTelemetry span flush) and the log handlers still run."""
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


AnchorMode = Annotated[
    str,
    typer.Option(
        "--anchor-mode",
        envvar="ONEVISIT_ANCHOR_MODE",
        help="single: one transaction per handoff; batch: Merkle batches",
    ),
]


def _check_anchor_mode(anchor_mode: str) -> None:
    if anchor_mode not in ("single", "batch"):
        fail(f"ONEVISIT_ANCHOR_MODE/--anchor-mode must be single or batch, not {anchor_mode!r}", 2)


@worker_app.command("engine")
def worker_engine() -> None:
    """The flow engine's worker (workflow + store activities)."""
    from gateway.engine_worker import run_engine_worker
    from gateway.settings import get_settings
    from gateway.stack import wait_for_start
    from gateway.store import make_engine
    from gateway.temporal import connect_temporal

    wait_for_start()
    settings = get_settings()
    keyring = _gateway_keyring(settings)

    async def make(stop):
        client = await connect_temporal(settings, service=tracing.ENGINE)
        await run_engine_worker(client, make_engine(settings.db_url), stop, keyring)

    _run_until_signal(make)


@worker_app.command("agency")
def worker_agency(
    name: str,
    backend_url: Annotated[
        str | None,
        typer.Option(
            help="the agency's service over HTTP (default: ONEVISIT_AGENCY_SERVICES[NAME], else the simulated back-end)"
        ),
    ] = None,
    anchor_mode: AnchorMode = "single",
) -> None:
    """One agency's worker, holding that agency's keys (DIR/keys/NAME.json)."""
    _check_anchor_mode(anchor_mode)
    from gateway.settings import get_settings
    from gateway.stack import wait_for_start
    from gateway.temporal import connect_temporal

    agency = _agency_workers([name], backend_url, batch=anchor_mode == "batch")
    wait_for_start()
    settings = get_settings()
    # its own payload key only, never the data key: it opens its activities' inputs and nothing else
    converter = _agency_converter(settings, name)

    async def make(stop):
        client = await connect_temporal(settings, service=tracing.agency_service(name), converter=converter)
        await agency(client, settings, stop)

    _run_until_signal(make)


@worker_app.command("all")
def worker_all(anchor_mode: AnchorMode = "single") -> None:
    """The engine's worker and every agency's worker in one process (what `onevisit up` runs on one
    machine): one import, one Temporal connection; each agency still on its own task queue with
    only its own keys in its adapter. The connection's codec is the operator's (this process holds
    the data key for the engine anyway): it seals each agency's inputs for that agency as
    `worker agency NAME` would, and opens them."""
    _check_anchor_mode(anchor_mode)
    from agencies.directory import AGENCIES
    from gateway.engine_worker import run_engine_worker
    from gateway.settings import get_settings
    from gateway.stack import wait_for_start
    from gateway.store import make_engine
    from gateway.temporal import connect_temporal

    agencies = _agency_workers(list(AGENCIES), batch=anchor_mode == "batch")
    wait_for_start()
    settings = get_settings()
    keyring = _gateway_keyring(settings)

    async def make(stop):
        import asyncio

        client = await connect_temporal(settings, service=tracing.WORKERS)
        async with asyncio.TaskGroup() as group:  # one failing takes the process down: `up` restarts it
            group.create_task(run_engine_worker(client, make_engine(settings.db_url), stop, keyring))
            group.create_task(agencies(client, settings, stop))

    _run_until_signal(make)


def _agency_converter(settings, name: str):
    from agencies.keys import AgencyKeys
    from workflows.codec import agency_data_converter

    path = settings.data_dir / "keys" / f"{name}.json"
    key = AgencyKeys.load(path).payload_key
    if key is None:
        fail(f"{path} holds no payload_key: write it with `onevisit keygen payload {name} -o {path}`", 2)
    return agency_data_converter(name, key)


def _gateway_keyring(settings):
    try:
        return settings.gateway_keyring()
    except ValueError as exc:
        fail(str(exc), 2)


def _agency_workers(names: list[str], backend_url: str | None = None, batch: bool = False):
    """Imported now, run later: these agencies' workers, each with only its own keys
    (DIR/keys/NAME.json, read when they start), each reaching its back-end as
    ONEVISIT_AGENCY_SERVICES says (``backend_url`` for a single agency overrides it)."""
    from agencies.keys import AgencyKeys
    from agencies.worker import run_agency_workers
    from gateway.deployment import read_deployment

    async def run(client, settings, stop: asyncio.Event) -> None:
        keys = [AgencyKeys.load(settings.data_dir / "keys" / f"{n}.json") for n in names]
        deployment, _ = read_deployment(settings.deployment_file)
        urls = {**settings.agency_services, **({names[0]: backend_url} if backend_url else {})}
        await run_agency_workers(
            client,
            keys,
            settings.ledger_rpc,
            deployment,
            settings.data_dir / "agencies",
            stop,
            urls,
            batch,
            settings.agency_service_tokens,
            # whose signature on a health card's dynamic code counts (none: the health commission refuses them)
            settings.gateway_keyring() if settings.gateway_key_files()[1].exists() else None,
        )

    return run
