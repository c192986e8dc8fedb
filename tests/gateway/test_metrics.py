"""GET /metrics: Prometheus text with cases by state, handoffs and SLA breaches by agency (counted
from the store) and refused sign-ins; aggregates only, no case id or personal data."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from agencies.identifiers import random_uscc
from gateway.casework import record_case, record_handoff
from tests.fixtures.stack import application
from tests.gateway.test_public_licence import licence_handoff
from workflows.engine import CaseWorkflow


def samples(gw) -> dict[tuple[str, tuple], float]:
    resp = gw.http.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def test_cases_by_state_and_refused_sign_ins_are_counted(in_process_gateway, fake_temporal):
    gw = in_process_gateway
    app = application()
    running = gw.open_case(app)
    returned = gw.open_case()
    status = CaseWorkflow(fake_temporal.started[returned]).status()
    status.state, status.revision = "returned", 1
    with gw.session() as session:
        record_case(session, status)
    for _ in range(2):
        assert gw.http.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"}).status_code == 401
    got = samples(gw)
    assert got[("onevisit_cases", (("state", "running"),))] == 1
    assert got[("onevisit_cases", (("state", "returned"),))] == 1
    assert got[("onevisit_cases", (("state", "completed"),))] == 0
    assert got[("onevisit_login_failures_total", (("reason", "bad_credentials"),))] == 2
    text = gw.http.get("/metrics").text
    assert running not in text and returned not in text and app["company"]["name"] not in text


def test_handoffs_and_sla_breaches_are_counted_by_agency(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    with gw.session() as session:
        for outcome in ("escalated", "completed"):
            record_handoff(session, case_id, *licence_handoff(random_uscc("370102"), outcome))
    got = samples(gw)
    assert got[("onevisit_handoffs_total", (("agency", "market_regulation"), ("outcome", "escalated")))] == 1
    assert got[("onevisit_handoffs_total", (("agency", "market_regulation"), ("outcome", "completed")))] == 1
    assert got[("onevisit_sla_breaches_total", (("agency", "market_regulation"),))] == 1


def test_metrics_are_not_in_the_api_document(in_process_gateway):
    assert "/metrics" not in in_process_gateway.http.get("/openapi.json").json()["paths"]


async def test_a_process_serves_the_temporal_sdks_own_metrics_when_asked(time_skipping_env, tmp_path, queue_prefix):
    """ONEVISIT_TEMPORAL_METRICS_ADDRESS: the SDK's metrics (polls, task latencies...) for Prometheus."""
    import asyncio

    import httpx
    from temporalio.worker import Worker

    from gateway.app import connect_temporal
    from gateway.settings import Settings
    from gateway.stack import free_port
    from workflows.engine import CaseWorkflow as Workflow

    address = f"127.0.0.1:{free_port()}"
    target = time_skipping_env.client.service_client.config.target_host
    settings = Settings(data_dir=tmp_path, temporal_address=target, temporal_metrics_address=address)
    client = await connect_temporal(settings)
    async with Worker(client, task_queue=f"{queue_prefix}engine", workflows=[Workflow]):
        await asyncio.sleep(0.5)  # a poll or two
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics", timeout=30)).text
    assert "temporal_" in text and "task_queue=" in text


def test_an_agency_worker_times_its_steps_and_anchors(embedded_ledger, tmp_path):
    from prometheus_client import REGISTRY

    from tests.agencies.test_adapter import adapter, request, run

    def count(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    step = {"agency": "market_regulation", "step": "name_check", "outcome": "completed"}
    before = (
        count("onevisit_agency_step_seconds_count", **step),
        count("onevisit_anchor_seconds_count", agency="market_regulation"),
    )
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    run(market.perform_step, request("name_check", "C-metrics", application()))
    after = (
        count("onevisit_agency_step_seconds_count", **step),
        count("onevisit_anchor_seconds_count", agency="market_regulation"),
    )
    assert after == (before[0] + 1, before[1] + 1)
    run(market.submit_step, request("name_check", "C-metrics-sent", application()))  # sent: no receipt awaited
    sent = (
        count("onevisit_agency_step_seconds_count", **step),
        count("onevisit_anchor_seconds_count", agency="market_regulation"),
    )
    assert sent == (after[0] + 1, after[1])


def test_a_worker_serves_its_metrics_where_it_is_told(tmp_path):
    import subprocess
    import sys
    import time

    import httpx

    from gateway.stack import free_port
    from tests.fixtures.stack import ROOT

    address = f"127.0.0.1:{free_port()}"
    code = (
        "from gateway.cli.running import _run_until_signal\n"
        "import asyncio\n"
        "async def make(stop): await stop.wait()\n"
        "_run_until_signal(make)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "ONEVISIT_METRICS_ADDRESS": address, "ONEVISIT_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        while True:
            assert proc.poll() is None
            try:
                text = httpx.get(f"http://{address}/metrics", timeout=5).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert "onevisit_agency_step_seconds" in text and "onevisit_ledger_errors_total" in text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
