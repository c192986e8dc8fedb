"""The whole ledger against the store, on the real embedded stack: `onevisit audit ledger`."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.http import loopback
from tests.fixtures.stack import application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
RECORD_FIELDS = {"hash", "case_id", "case_commitment", "flow", "step", "agency", "outcome", "anchor"}


@pytest.fixture(scope="module")
def completed(stack, tmp_path_factory):
    path = write_application(tmp_path_factory.mktemp("app"), application())
    return json.loads(
        stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout
    )


def test_audit_ledger_json_agrees_with_matching_counts(stack, completed):
    result = stack.cli("audit", "ledger", "--url", stack.url, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] and report["findings"] == [], result.stdout
    handoffs = sum(1 for s in completed["steps"] if s["handoff"])
    assert report["anchors_on_chain"] == report["records_in_store"] == report["matched"] >= handoffs >= 5


def test_audit_ledger_reads_a_named_ledger_node_and_prints_counts(stack, completed):
    result = stack.cli_in_process("audit", "ledger", "--url", stack.url, "--ledger-rpc", stack.health["ledger_rpc"])
    assert result.returncode == 0 and result.stdout.startswith("AGREE: ") and "matched" in result.stdout


def test_the_store_is_listed_a_page_at_a_time_without_personal_data(stack, completed):
    headers = stack.token("auditor")
    items, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = loopback.get(f"{stack.url}/api/v1/audit/handoffs", params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        items += page["items"]
        if not (after := page["next"]):
            break
    hashes = [i["hash"] for i in items]
    assert hashes == sorted(hashes) and len(set(hashes)) == len(hashes)
    mine = [i for i in items if i["case_id"] == completed["case_id"]]
    assert {i["hash"] for i in mine} == {s["handoff"] for s in completed["steps"] if s["handoff"]} | {
        completed["closing"]
    }
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
    assert loopback.get(f"{stack.url}/api/v1/audit/handoffs").status_code == 401
    assert loopback.get(f"{stack.url}/api/v1/audit/handoffs", headers=stack.token("applicant")).status_code == 403
    assert loopback.get(f"{stack.url}/api/v1/audit/deployment", headers=stack.token("clerk-tax")).status_code == 403
    auditor = stack.token("auditor")
    bad = loopback.get(f"{stack.url}/api/v1/audit/handoffs", params={"after": "not-a-hash"}, headers=auditor)
    assert bad.status_code == 422 and "after" in bad.text


@pytest.fixture(scope="module")
def trust_file(stack, tmp_path_factory):
    """The auditor's trust root, pinned from the contracts the gateway names, read on the node."""
    path = tmp_path_factory.mktemp("trust") / "trust.json"
    rpc = stack.health["ledger_rpc"]
    stack.cli("audit", "trust", "init", "--url", stack.url, "--ledger-rpc", rpc, "-o", str(path), check=True)
    return path


def moved(trust_file, tmp_path) -> tuple[dict, str]:
    """A trust root one block after the real deployment: (the root, its file)."""
    trust = json.loads(trust_file.read_text())
    trust["deployment_block"] += 1
    path = tmp_path / "moved.json"
    path.write_text(json.dumps(trust))
    return trust, str(path)


def test_trust_init_pins_what_the_gateway_names(stack, trust_file):
    trust, chain = json.loads(trust_file.read_text()), stack.deployment()
    pinned = {k: trust[k] for k in ("chain_id", "registry", "ledger", "deployment_block")}
    assert pinned == {k: chain[k] for k in ("chain_id", "registry", "ledger")} | {"deployment_block": chain["block"]}
    assert trust["heads"]["kind"] == "agency-checkpoints" and len(trust["heads"]["signers"]) >= 4


def test_audit_ledger_with_a_trust_root_agrees_and_says_so(stack, completed, trust_file):
    pinned = stack.cli_in_process("audit", "ledger", "--url", stack.url, "--trust", str(trust_file), "--json")
    report = json.loads(pinned.stdout)
    assert pinned.returncode == 0 and report["ok"] and report["trust"] == "pinned", pinned.stdout
    claimed = json.loads(stack.cli_in_process("audit", "ledger", "--url", stack.url, "--json").stdout)
    assert claimed["trust"] == "operator-claimed"


def test_audit_ledger_refuses_a_gateway_naming_another_deployment(stack, completed, trust_file, tmp_path):
    trust, path = moved(trust_file, tmp_path)
    result = stack.cli_in_process("audit", "ledger", "--url", stack.url, "--trust", path, "--json")
    block = stack.deployment()["block"]
    assert result.returncode == 1 and json.loads(result.stdout)["findings"] == [
        {
            "check": "trust",
            "message": f"the gateway at {stack.url} says the contracts were deployed in block {block}; "
            f"the trust root pins block {trust['deployment_block']}",
            "handoff": None,
            "step": None,
        }
    ]


def test_audit_verify_with_a_trust_root(stack, completed, trust_file, tmp_path):
    case = completed["case_id"]
    pinned = stack.cli("audit", "verify", case, "--url", stack.url, "--trust", str(trust_file))
    assert pinned.returncode == 0 and pinned.stdout.splitlines()[0].endswith(f"trust: pinned ({trust_file})")
    trust, path = moved(trust_file, tmp_path)
    refused = stack.cli("audit", "verify", case, "--url", stack.url, "--json", user_env={"ONEVISIT_TRUST": path})
    block = stack.deployment()["block"]
    report = json.loads(refused.stdout)
    assert refused.returncode == 1 and (report["trust"], report["findings"]) == (
        "pinned",
        [
            {
                "check": "trust",
                "message": f"the bundle says the contracts were deployed in block {block}; "
                f"the trust root pins block {trust['deployment_block']}",
                "handoff": None,
                "step": None,
            }
        ],
    )
