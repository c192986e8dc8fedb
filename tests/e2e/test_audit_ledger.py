"""The whole ledger against the store, on the real embedded stack: `onevisit audit ledger`."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.stack import application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
RECORD_FIELDS = {"hash", "case_id", "case_commitment", "flow", "step", "agency", "outcome", "anchor"}


@pytest.fixture(scope="module")
def completed(stack, tmp_path_factory):
    path = write_application(tmp_path_factory.mktemp("app"), application())
    return json.loads(stack.cli("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout)


def test_audit_ledger_json_agrees_with_matching_counts(stack, completed):
    result = stack.cli("audit", "ledger", "--url", stack.url, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] and report["findings"] == [], result.stdout
    handoffs = sum(1 for s in completed["steps"] if s["handoff"])
    assert report["anchors_on_chain"] == report["records_in_store"] == report["matched"] >= handoffs >= 5


def test_audit_ledger_reads_a_named_ledger_node_and_prints_counts(stack, completed):
    result = stack.cli("audit", "ledger", "--url", stack.url, "--ledger-rpc", stack.health["ledger_rpc"])
    assert result.returncode == 0 and result.stdout.startswith("AGREE: ") and "matched" in result.stdout


def test_the_store_is_listed_a_page_at_a_time_without_personal_data(stack, completed):
    headers = stack.token("auditor")
    items, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = httpx.get(f"{stack.url}/api/audit/handoffs", params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        items += page["items"]
        if not (after := page["next"]):
            break
    hashes = [i["hash"] for i in items]
    assert hashes == sorted(hashes) and len(set(hashes)) == len(hashes)
    mine = [i for i in items if i["case_id"] == completed["case_id"]]
    assert {i["hash"] for i in mine} == {s["handoff"] for s in completed["steps"] if s["handoff"]}
    assert all(set(i) == RECORD_FIELDS for i in items)
    text = json.dumps(items, ensure_ascii=False)
    app = application()
    for secret in (
        app["legal_representative"]["id_number"],
        app["legal_representative"]["name"],
        completed["company_name"],
    ):
        assert secret not in text


def test_only_an_auditor_lists_the_store(stack):
    assert httpx.get(f"{stack.url}/api/audit/handoffs").status_code == 401
    assert httpx.get(f"{stack.url}/api/audit/handoffs", headers=stack.token("applicant")).status_code == 403
    assert httpx.get(f"{stack.url}/api/audit/deployment", headers=stack.token("clerk-tax")).status_code == 403
    bad = httpx.get(f"{stack.url}/api/audit/handoffs", params={"after": "not-a-hash"}, headers=stack.token("auditor"))
    assert bad.status_code == 422 and "after" in bad.text
