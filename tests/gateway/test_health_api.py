"""GET /healthz in-process (a fake Temporal client, no ledger listening): 503 naming each part
that does not serve yet, 200 only when none is missing."""

from __future__ import annotations

from agencies.directory import AGENCIES
from tests.fixtures.gateway import DEPLOYMENT
from workflows.flows import agency_queue
from workflows.messages import ENGINE_QUEUE


def test_health_names_each_part_that_does_not_serve(in_process_gateway, fake_temporal):
    fake_temporal.pollers = 0
    resp = in_process_gateway.http.get("/healthz")
    body = resp.json()
    assert resp.status_code == 503 and body["status"] == "starting"
    assert list(body) == [
        "status",
        "temporal",
        "temporal_ui",
        "ledger_rpc",
        "chain_id",
        "contracts",
        "problems",
        "workers",
    ]
    assert body["chain_id"] == DEPLOYMENT.chain_id
    assert body["contracts"] == {"registry": DEPLOYMENT.registry, "ledger": DEPLOYMENT.ledger}
    queues = [ENGINE_QUEUE, *(agency_queue(a) for a in AGENCIES)]
    assert body["workers"] == {q: 0 for q in queues}
    assert body["problems"][0].startswith("ledger: ")
    assert body["problems"][1:] == [f"no worker polls {q}" for q in queues]
