"""One registration through every layer, on the real embedded stack (`onevisit up`)."""

from __future__ import annotations

import json

import httpx
import pytest

from agencies.directory import AGENCIES
from agencies.identifiers import validate_uscc
from tests.fixtures.http import loopback
from tests.fixtures.stack import application, wait_all_ended, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def completed(stack, tmp_path_factory):
    path = write_application(tmp_path_factory.mktemp("app"), application())
    result = stack.cli("apply", str(path), "--url", stack.url, "--wait", "--json", check=True)
    return json.loads(result.stdout)


def test_healthz_names_every_part_and_every_worker_polls(stack):
    body = loopback.get(f"{stack.url}/healthz").json()
    assert body["status"] == "ok" and body["ledger_rpc"].startswith("http://127.0.0.1:")
    assert body["temporal_ui"].startswith("http://") and body["temporal"]
    assert set(body["workers"]) == {"onevisit-engine"} | {f"agency-{a}" for a in AGENCIES}
    assert all(n >= 1 for n in body["workers"].values())


def test_apply_wait_json_completes_with_a_valid_credit_code(completed):
    assert completed["status"] == "completed"
    assert validate_uscc(completed["uscc"]) == completed["uscc"]
    assert completed["uscc"][2:8] == "370102"
    assert [s["state"] for s in completed["steps"]] == ["completed"] * 5 + ["skipped"] * 2
    assert completed["result"]["taxpayer_id"] == completed["uscc"]
    assert len(completed["result"]["seals"]) == 5


def test_status_json_tells_the_same_at_any_time(stack, completed):
    again = json.loads(stack.cli("status", completed["case_id"], "--url", stack.url, "--json", check=True).stdout)
    assert again == completed


def test_each_handoff_is_signed_and_anchored_by_the_agency_owning_its_step(stack, completed):
    agencies = stack.deployment()["agencies"]
    evidence = loopback.get(
        f"{stack.url}/api/v1/cases/{completed['case_id']}/evidence", headers=stack.token("auditor")
    ).json()
    by_step = {i["handoff"]["record"]["step"]: i for i in evidence["handoffs"]}
    for step in completed["steps"][:5]:
        item = by_step[step["step"]]
        assert item["handoff"]["signer"] == agencies[step["agency"]]["signer"]
        assert step["anchor"]["account"] == agencies[step["agency"]]["account"]
        assert step["anchor"]["handoff"] == step["handoff"] == item["handoff"]["hash"]
    parallel = [s["anchor"]["block_number"] for s in completed["steps"][2:5]]
    assert min(parallel) > completed["steps"][1]["anchor"]["block_number"]  # after the licence


def test_audit_verify_exits_zero_on_a_valid_trail(stack, completed):
    result = stack.cli("audit", "verify", completed["case_id"], "--url", stack.url, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] and report["online"] and report["anchored"] == 6  # with the closing
    assert report["closed"] == "completed"


def test_exported_bundle_verifies_offline_and_against_the_ledger(stack, completed, tmp_path):
    bundle = tmp_path / "bundle.json"
    stack.cli("audit", "export", completed["case_id"], "-o", str(bundle), "--url", stack.url, check=True)
    assert stack.cli("audit", "verify-bundle", str(bundle)).returncode == 0
    assert stack.cli_in_process("audit", "verify-bundle", str(bundle), "--url", stack.url).returncode == 0


@pytest.mark.parametrize("online", [False, True], ids=["offline", "against-ledger"])
def test_one_changed_byte_in_a_handoff_fails_and_names_it(stack, completed, tmp_path, online):
    bundle = tmp_path / "bundle.json"
    stack.cli_in_process("audit", "export", completed["case_id"], "-o", str(bundle), "--url", stack.url, check=True)
    data = json.loads(bundle.read_text())
    target = data["handoffs"][1]["handoff"]
    licence_date = target["record"]["outputs"]["licence_date"]
    raw = bundle.read_text().replace(licence_date, licence_date[:-1] + str((int(licence_date[-1]) + 1) % 10))
    bundle.write_text(raw)
    result = stack.cli_in_process("audit", "verify-bundle", str(bundle), *(["--url", stack.url] if online else []))
    assert result.returncode == 1
    assert target["hash"] in result.stdout and "[hash] business_licence" in result.stdout


def test_a_taken_name_is_refused_by_a_signed_anchored_rejection(stack, completed, tmp_path):
    path = write_application(tmp_path, application(name=completed["company_name"]))
    result = stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json")
    case = json.loads(result.stdout)
    assert result.returncode == 1 and case["status"] == "returned" and "already registered" in case["reason"]
    assert case["steps"][0]["state"] == "rejected" and case["steps"][0]["anchor"]["block_number"] > 0
    assert stack.cli_in_process("audit", "verify", case["case_id"], "--url", stack.url).returncode == 0


def test_two_applications_for_one_name_at_once_exactly_one_proceeds(stack):
    """Six applicants' worth of the same new name, sent together: one case completes, the others
    are returned with the name taken (the registry reserves a name in one transaction)."""
    import asyncio

    app, headers = application(), stack.token("applicant")

    async def race() -> list[str]:
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as http:
            answers = await asyncio.gather(*(http.post("/api/v1/cases", json=app) for _ in range(6)))
        assert [r.status_code for r in answers] == [201] * 6
        return [r.json()["case_id"] for r in answers]

    ended = wait_all_ended(stack, asyncio.run(race()))
    outcomes = sorted(c["status"] for c in ended.values())
    assert outcomes == ["completed"] + ["returned"] * 5
    assert all("already registered or reserved" in c["reason"] for c in ended.values() if c["status"] == "returned")


def test_restricted_word_is_refused_with_the_reason(stack, tmp_path):
    path = write_application(tmp_path, application(name="济南中国泉城科技有限公司"))
    case = json.loads(stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json").stdout)
    assert case["status"] == "returned" and "restricted word '中国'" in case["reason"]


def test_no_personal_data_reaches_the_ledger(stack, completed):
    rpc = stack.health["ledger_rpc"]
    app = application()
    secrets_ = [
        app["legal_representative"]["id_number"],
        app["shareholders"][1]["id_number"],
        app["legal_representative"]["name"],
        completed["case_id"],
        completed["company_name"],
    ]
    needles = [s.encode().hex() for s in secrets_] + secrets_
    head = int(
        loopback.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).json()[
            "result"
        ],
        16,
    )
    dump = []
    for n in range(head + 1):
        block = loopback.post(
            rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [hex(n), True]}
        ).json()["result"]
        dump.append(json.dumps(block))
    logs = loopback.post(
        rpc,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getLogs",
            "params": [{"fromBlock": "0x0", "toBlock": "latest"}],
        },
    ).json()["result"]
    dump.append(json.dumps(logs))
    text = "\n".join(dump)
    assert len(logs) > 5
    for needle in needles:
        assert needle not in text


def test_temporal_history_at_rest_holds_no_personal_data(stack, completed):
    app = application()
    raw = b"".join(p.read_bytes() for p in stack.data_dir.glob("temporal.db*"))
    assert completed["case_id"].encode() in raw  # the history is there, by its workflow id
    for secret in (
        app["legal_representative"]["id_number"],
        app["legal_representative"]["name"],
        app["legal_representative"]["phone"],
        app["company"]["address"],
    ):
        assert secret.encode() not in raw
