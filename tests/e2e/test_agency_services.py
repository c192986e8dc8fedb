"""Agencies reached over HTTP, as an agency running its own system would be: tax and human
resources each served by `onevisit agency serve NAME` and named to the stack in
ONEVISIT_AGENCY_SERVICES. Tax's service is down when a registration reaches it (its port resets
every connection), then comes back: the tax step waits, retrying, while the other steps go on;
then it completes, and each agency acted, signed and anchored once."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.stack import free_port
from tests.fixtures.http import loopback
from tests.fixtures.stack import ROOT, application, start_stack, wait_all_ended

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("agency-services")]

REMOTE = ("tax", "human_resources")
TOKENS = {name: secrets.token_urlsafe(24) for name in REMOTE}


class DownService:
    """A port where a service is down: every connection is accepted and reset at once (counted)."""

    def __init__(self, port: int):
        self.attempts = 0
        self._sock = socket.create_server(("127.0.0.1", port))
        self._sock.settimeout(0.2)
        self._open = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._open:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.attempts += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    def close(self) -> None:
        self._open = False
        self._thread.join()
        self._sock.close()


def serve(data: Path, name: str, port: int) -> subprocess.Popen:
    """`onevisit agency serve NAME` with its token, waited for until it answers."""
    log = open(data.parent / f"{name}-service.log", "ab")  # noqa: SIM115 - the process holds it
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "agency", "serve", name, "--port", str(port), "--data-dir", str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "ONEVISIT_AGENCY_SERVICE_TOKEN": TOKENS[name]},
    )
    while proc.poll() is None:
        try:
            if loopback.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).status_code == 401:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"agency serve {name} exited {proc.returncode}")


def count(db: Path, sql: str, *args) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchone()[0]


def steps(stack, case_id: str) -> dict[str, str]:
    case = loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=stack.token("applicant"), timeout=60).json()
    return {s["step"]: s["state"] for s in case["steps"]}


def test_a_remote_agency_that_is_down_is_waited_for_and_acts_once_when_back(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    ports = {name: free_port() for name in REMOTE}
    services = {"human_resources": serve(data, "human_resources", ports["human_resources"])}
    down = DownService(ports["tax"])
    monkeypatch.setenv("ONEVISIT_AGENCY_SERVICES", json.dumps({n: f"http://127.0.0.1:{p}" for n, p in ports.items()}))
    monkeypatch.setenv("ONEVISIT_AGENCY_SERVICE_TOKENS", json.dumps(TOKENS))
    stack = start_stack(data)
    try:
        resp = loopback.post(
            f"{stack.url}/api/v1/cases", json=application(), headers=stack.token("applicant"), timeout=60
        )
        assert resp.status_code == 201, resp.text
        case_id = resp.json()["case_id"]

        # tax is asked, again and again (backing off), while human resources' service answers
        while down.attempts < 3 or steps(stack, case_id)["social_security"] != "completed":
            assert stack.proc.poll() is None
            time.sleep(0.2)
        assert steps(stack, case_id)["tax_registration"] == "running"
        down.close()
        services["tax"] = serve(data, "tax", ports["tax"])

        [case] = wait_all_ended(stack, [case_id]).values()
        assert case["status"] == "completed", case
        assert case["result"]["taxpayer_type"] == "small_scale" and len(case["result"]["insurances"]) == 5
        agencies = data / "agencies"
        for name, step in (("tax", "tax_registration"), ("human_resources", "social_security")):
            backend, journal = agencies / name / f"{name}-backend.db", agencies / name / f"{name}-journal.db"
            acted = count(backend, "SELECT count(*) FROM actions WHERE case_id=? AND action=?", case_id, step)
            signed = count(journal, "SELECT count(*) FROM signed WHERE key LIKE ?", f"{case_id}/{step}/%")
            assert (acted, signed) == (1, 1), name
        evidence = loopback.get(
            f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor"), timeout=60
        ).json()
        done = [s for s in case["steps"] if s["state"] == "completed"]
        trail_steps = sorted([*(s["step"] for s in done), "_closing"])  # the trail ends in its closing record
        assert sorted(h["handoff"]["record"]["step"] for h in evidence["handoffs"]) == trail_steps
    finally:
        stack.stop()
        if down._open:
            down.close()
        for proc in services.values():
            proc.terminate()
            proc.wait(timeout=60)


def test_serving_an_agency_that_does_not_exist_is_refused_naming_the_agencies(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "agency", "serve", "taxes", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2 and "no agency 'taxes': one of market_regulation, public_security, tax" in done.stderr
    assert not (tmp_path / "agencies").exists()


def test_serving_beyond_loopback_without_a_token_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ONEVISIT_AGENCY_SERVICE_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "agency",
            "serve",
            "tax",
            "--host",
            "0.0.0.0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and "set ONEVISIT_AGENCY_SERVICE_TOKEN first" in done.stderr
