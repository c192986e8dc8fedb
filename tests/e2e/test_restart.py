"""`onevisit up` stops cleanly on SIGTERM and resumes on the same data directory."""

from __future__ import annotations

import json

import psutil
import pytest

from tests.fixtures.stack import application, start_stack, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("restart")]


def test_sigterm_stops_every_part_and_up_again_resumes_with_all_data(tmp_path):
    data = tmp_path / "data"
    first = start_stack(data)
    children = psutil.Process(first.proc.pid).children(recursive=True)
    assert len(children) >= 7  # temporal, ledger, engine, four agencies, gateway
    path = write_application(tmp_path, application())
    case = json.loads(first.cli("apply", str(path), "--url", first.url, "--wait", "--json", check=True).stdout)
    first.stop()
    assert first.proc.returncode == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"still running after stop: {[p.cmdline() for p in alive]}"

    second = start_stack(data)
    try:
        again = json.loads(second.cli("status", case["case_id"], "--url", second.url, "--json", check=True).stdout)
        assert again == case
        assert second.cli("audit", "verify", case["case_id"], "--url", second.url).returncode == 0
        assert second.deployment() == first.deployment()  # contracts deployed once, on the first start
        # the ledger and the engine carry on: a new case completes after the restart
        path2 = write_application(tmp_path, application())
        new = json.loads(second.cli("apply", str(path2), "--url", second.url, "--wait", "--json", check=True).stdout)
        assert new["status"] == "completed" and new["uscc"] != case["uscc"]
    finally:
        second.stop()


def test_a_crashed_agency_worker_is_started_again_and_cases_go_on(tmp_path):
    running = start_stack(tmp_path / "data")
    try:
        tax = next(p for p in psutil.Process(running.proc.pid).children()
                   if p.cmdline()[-3:] == ["worker", "agency", "tax"])
        tax.kill()
        tax.wait(10)
        path = write_application(tmp_path, application())
        case = json.loads(running.cli("apply", str(path), "--url", running.url, "--wait", "--json", check=True).stdout)
        assert case["status"] == "completed"
        assert "agency-tax exited" in (tmp_path / "data-up.log").read_text()
        assert running.proc.poll() is None  # the stack stayed up
    finally:
        running.stop()
