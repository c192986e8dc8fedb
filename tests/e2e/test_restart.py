"""`onevisit up` stops cleanly on SIGTERM and resumes on the same data directory."""

from __future__ import annotations

import json
import time

import httpx
import psutil
import pytest

from tests.fixtures.stack import application, start_stack, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("restart")]


def test_sigterm_stops_every_part_and_up_again_resumes_with_all_data(tmp_path):
    data = tmp_path / "data"
    first = start_stack(data)
    children = psutil.Process(first.proc.pid).children(recursive=True)
    assert len(children) >= 4  # temporal, ledger, the workers (engine and every agency), gateway
    path = write_application(tmp_path, application())
    case = json.loads(first.cli("apply", str(path), "--url", first.url, "--wait", "--json", check=True).stdout)
    first.stop()
    assert first.proc.returncode == 0
    gone, alive = psutil.wait_procs(children, timeout=120)  # a hang guard: up waited for them already
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


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory):
    """The production shape on one machine: each agency's worker in its own process."""
    running = start_stack(tmp_path_factory.mktemp("ops") / "data", None, "--split-workers")
    yield running
    running.stop()


def apply_and_wait(stack, tmp_path) -> dict:
    path = write_application(tmp_path, application())
    return json.loads(stack.cli("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout)


def test_a_crashed_agency_worker_is_started_again_and_cases_go_on(ops_stack, tmp_path):
    tax = next(
        p for p in psutil.Process(ops_stack.proc.pid).children() if p.cmdline()[-3:] == ["worker", "agency", "tax"]
    )
    tax.kill()
    tax.wait(120)
    assert apply_and_wait(ops_stack, tmp_path)["status"] == "completed"
    assert "agency-tax exited" in (ops_stack.data_dir.parent / "data-up.log").read_text()
    assert ops_stack.proc.poll() is None  # the stack stayed up


def worker_starts(stack, agency: str) -> tuple[str, int]:
    """The agency worker's pid and how often a worker of it has begun polling so far."""
    log = (stack.data_dir / "logs" / f"agency-{agency}.log").read_text()
    return (stack.data_dir / "run" / f"agency-{agency}.pid").read_text(), log.count(f"agency {agency} polling")


def wait_for_new_worker(stack, agency: str, before: tuple[str, int]) -> None:
    """Until the supervisor has started the agency's worker again and it polls its queue."""
    while True:
        pid, starts = worker_starts(stack, agency)
        if pid != before[0] and starts > before[1]:
            return
        assert stack.proc.poll() is None, "the stack stopped"
        time.sleep(0.1)


def test_a_rotated_signing_key_keeps_old_trails_valid_and_signs_new_ones(ops_stack, tmp_path):
    before = apply_and_wait(ops_stack, tmp_path)
    worker_before = worker_starts(ops_stack, "tax")
    old_signer = ops_stack.deployment()["agencies"]["tax"]["signer"]
    out = ops_stack.cli("registry", "rotate-signer", "tax", "--data-dir", str(ops_stack.data_dir), check=True).stdout
    assert f"signer {old_signer} -> " in out
    shown = json.loads(
        ops_stack.cli("registry", "show", "--data-dir", str(ops_stack.data_dir), "--json", check=True).stdout
    )
    new_signer = shown["tax"]["signer"]
    assert new_signer != old_signer and new_signer == ops_stack.deployment()["agencies"]["tax"]["signer"]
    wait_for_new_worker(ops_stack, "tax", worker_before)
    after = apply_and_wait(ops_stack, tmp_path)
    evidence = httpx.get(
        f"{ops_stack.url}/api/cases/{after['case_id']}/evidence", headers=ops_stack.token("auditor")
    ).json()
    tax = next(i for i in evidence["handoffs"] if i["handoff"]["record"]["step"] == "tax_registration")
    assert tax["handoff"]["signer"] == new_signer
    for case in (before, after):  # each judged by the key registered when it was anchored
        assert ops_stack.cli("audit", "verify", case["case_id"], "--url", ops_stack.url).returncode == 0
        bundle = tmp_path / f"{case['case_id']}.json"
        ops_stack.cli("audit", "export", case["case_id"], "-o", str(bundle), "--url", ops_stack.url, check=True)
        offline = ops_stack.cli("audit", "verify-bundle", str(bundle))  # the bundle carries the key history
        assert offline.returncode == 0, offline.stdout
