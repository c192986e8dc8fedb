"""`onevisit up` on a slow machine: it comes up while its parts make progress, and it names the
part that died or stalled instead of waiting forever or giving up on a deadline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gateway.stack import free_port
from tests.fixtures.stack import ROOT, application, start_stack, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("restart")]

BURN_S = 20  # the burners load the start-up's busiest part (imports, Temporal, the ledger), then end


def burners(n: int) -> list[subprocess.Popen]:
    """n processes spinning on the CPU (bounded in time: each exits after BURN_S)."""
    spin = f"import time\nend = time.monotonic() + {BURN_S}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(n)]


def up(data: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "up", "--data-dir", str(data), "--port", str(free_port()), *extra],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_up_comes_up_on_a_loaded_machine_and_a_crashed_worker_process_is_started_again(tmp_path):
    load = burners(1)  # with the stack's own and the other tests', more runnable processes than cores
    try:
        running = start_stack(tmp_path / "data")
    finally:
        for p in load:
            p.kill()
            p.wait()
    try:
        workers = next(p for p in psutil.Process(running.proc.pid).children() if p.cmdline()[-2:] == ["worker", "all"])
        workers.kill()  # every agency's worker and the engine's live here: all go down at once
        workers.wait(120)
        app = write_application(tmp_path, application())
        case = json.loads(running.cli("apply", str(app), "--url", running.url, "--wait", "--json", check=True).stdout)
        assert case["status"] == "completed"
        assert "workers exited" in (tmp_path / "data-up.log").read_text()
        assert running.proc.poll() is None
    finally:
        running.stop()


def test_a_part_that_dies_while_starting_is_named_with_its_log(tmp_path):
    with socket.socket() as taken:  # Temporal cannot listen on a port that is taken
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = up(tmp_path / "data", "--temporal-port", str(taken.getsockname()[1]))
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1
    assert "error: temporal exited with code" in out and "last log lines" in out
    assert not _children_left(tmp_path / "data")


def test_a_part_that_stalls_while_starting_is_named(tmp_path):
    data = tmp_path / "data"
    proc = up(data, "--stall-s", "3")
    pid_file = data / "run" / "gateway.pid"
    while not pid_file.exists():  # the gateway is spawned at once; freeze it before it can serve
        assert proc.poll() is None
        time.sleep(0.01)
    os.kill(int(pid_file.read_text()), signal.SIGSTOP)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1
    assert "error: gateway made no progress for 3s while starting" in out
    assert not _children_left(data)


def _children_left(data: Path) -> list[psutil.Process]:
    """Processes still running from this data directory (none may outlive `up`)."""
    left = []
    for p in psutil.process_iter(["cmdline"]):
        if str(data) in " ".join(p.info["cmdline"] or []):
            left.append(p)
    return left
