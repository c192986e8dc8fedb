"""deploy/grafana/onevisit.json: a dashboard Grafana can import, whose every panel asks for a
metric OneVisit exports (gateway.metrics) or the Temporal SDK does (ONEVISIT_TEMPORAL_METRICS_ADDRESS)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.metrics import CASE_STATES

DASHBOARD = json.loads((Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "onevisit.json").read_text())
# what the Temporal SDK's core exports (seen here from temporalio's Prometheus endpoint with a worker
# that ran a workflow and a failing activity); histograms add _bucket, _sum and _count
SDK = {
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_activity_execution_failed",
    "temporal_workflow_task_execution_latency_bucket",
}
OURS = {"onevisit_cases", "onevisit_handoffs_total", "onevisit_sla_breaches_total", "onevisit_login_failures_total"}


def test_the_dashboard_is_importable():
    assert DASHBOARD["uid"] == "onevisit" and DASHBOARD["panels"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "${datasource}" for p in DASHBOARD["panels"])


def test_every_panel_asks_for_a_metric_that_exists(in_process_gateway):
    exported = in_process_gateway.http.get("/metrics").text
    for panel in DASHBOARD["panels"]:
        [target] = panel["targets"]
        names = set(re.findall(r"\b(onevisit_[a-z_]+|temporal_[a-z_]+)", target["expr"]))
        assert names, panel["title"]
        for name in names:
            if name.startswith("onevisit_"):
                assert name in OURS and name.removesuffix("_total") in exported, (panel["title"], name)
            else:
                assert name in SDK, (panel["title"], name)
    assert len(CASE_STATES) == exported.count("onevisit_cases{")
