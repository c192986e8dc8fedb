"""The auditor's routes in-process: where the contracts live, for auditors only."""

from __future__ import annotations

from tests.fixtures.gateway import DEPLOYMENT


def test_the_auditor_reads_where_the_contracts_live(in_process_gateway):
    gw = in_process_gateway
    resp = gw.http.get("/api/v1/audit/deployment", headers=gw.login("auditor"))
    assert resp.status_code == 200 and resp.json() == DEPLOYMENT.to_json()
    assert gw.http.get("/api/v1/audit/deployment", headers=gw.login("applicant")).status_code == 403
