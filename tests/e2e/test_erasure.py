"""Erasure on the real stack, as an adversary checks it: a clerk rejects with a reason, the
applicant withdraws with one, the admin erases; then every file of the data directory (the
gateway's store, the agencies' journals and stores, Temporal's database, the logs) and the
evidence bundle are searched for the person's name, ID number and both reasons, and the trail is
verified again."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from agencies.identifiers import make_resident_id
from tests.e2e.test_clerks import review_application, step, wait_for
from tests.fixtures.http import loopback
from tests.fixtures.stack import write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
TEMPORAL = Path(sys.executable).with_name("temporal")

REASON = "场地租赁合同上出租人签名与房产证不符请补正"
WITHDRAWAL = "家中有变故暂不开办企业"


def found_in(data_dir: Path, secrets: list[str]) -> dict[str, list[str]]:
    """Which files under ``data_dir`` hold which of ``secrets`` (UTF-8 bytes, as a grep would find)."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        for secret in secrets:
            if secret.encode() in raw:
                hits.setdefault(secret, []).append(str(path.relative_to(data_dir)))
    return hits


def seen_by_auditor(stack, case_id: str, predicate, timeout: float = 300) -> dict:  # a hang guard
    headers, deadline = stack.token("auditor"), time.monotonic() + timeout
    while not predicate(case := loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=headers).json()):
        assert time.monotonic() < deadline, f"the erasure's case never ended: {case}"
        time.sleep(0.3)
    return case


def test_after_an_erasure_no_file_or_bundle_yields_the_person_and_the_trail_verifies(stack, tmp_path):
    app = review_application()
    person = {
        "name": random.choice("欧司端闻") + random.choice("阳马木人") + "远航",
        "id_number": make_resident_id("370102", birth=date(1987, 3, 9), sequence=random.randint(100, 999)),
        "phone": "13905310077",
    }
    app["legal_representative"] = person
    app["shareholders"][0].update(name=person["name"], id_number=person["id_number"])
    case_id = json.loads(
        stack.cli_in_process("apply", str(write_application(tmp_path, app)), "--url", stack.url, "--json").stdout
    )["case_id"]
    wait_for(stack, case_id, lambda c: step(c, "business_licence")["state"] == "awaiting_decision")
    out = stack.cli_in_process(
        "decide", case_id, "reject", "--reason", REASON, "--url", stack.url, "--agency", "market_regulation", check=True
    )
    assert REASON in out.stdout  # the clerk is answered with the text
    returned = wait_for(stack, case_id, lambda c: c["status"] == "returned")
    assert returned["reason"] == f"business_licence: {REASON}"  # the applicant reads it
    stack.cli_in_process("withdraw", case_id, "--reason", WITHDRAWAL, "--url", stack.url, check=True)
    wait_for(stack, case_id, lambda c: c["status"] == "withdrawn" and c.get("closing"))
    evidence = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor")).json()
    said = [i["handoff"]["record"]["outputs"] for i in evidence["handoffs"] if i["handoff"]["record"]["outcome"]
            in ("rejected", "compensated")]  # fmt: skip
    assert said and all("reason_commitment" in o and "reason" not in o for o in said)
    notes = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/notes", headers=stack.token("auditor")).json()
    assert sorted((n["text"], n["matches"], n["in_trail"]) for n in notes) == sorted(
        [(REASON, True, True), (WITHDRAWAL, True, True)]
    )

    checked = stack.cli("audit", "notes", case_id, "--url", stack.url, check=True).stdout
    assert checked.count("matches, in the trail") == 2 and "0 failing" in checked

    erased = stack.cli("erase", case_id, "--reason", "申请人请求删除个人信息", "--url", stack.url, "--json", check=True)
    record = json.loads(erased.stdout)["record_case"]
    done = seen_by_auditor(stack, record, lambda c: c["status"] == "completed" and c.get("closing"))
    assert done["result"]["erased_case"] == evidence["commitment"]

    assert stack.cli_in_process("audit", "verify", case_id, "--url", stack.url).returncode == 0  # still VALID
    assert (
        stack.cli_in_process("audit", "verify", record, "--url", stack.url).returncode == 0
    )  # the erasure's own trail
    recorded = stack.cli_in_process(
        "audit", "notes", record, "--url", stack.url, check=True
    ).stdout  # the admin's reason
    assert recorded.startswith("erasure") and "matches, in the trail" in recorded
    bundle = tmp_path / "bundle.json"
    stack.cli("audit", "export", case_id, "-o", str(bundle), "--url", stack.url, check=True)
    assert stack.cli_in_process("audit", "verify-bundle", str(bundle), "--url", stack.url).returncode == 0
    secrets = [person["name"], person["id_number"], REASON, WITHDRAWAL]
    assert [s for s in secrets if s.encode() in bundle.read_bytes()] == []
    assert found_in(stack.data_dir, secrets) == {}

    applicant = stack.token("applicant")
    assert loopback.get(f"{stack.url}/api/v1/cases/{case_id}/application", headers=applicant).status_code == 410
    view = loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=applicant).json()
    assert view["erased"]["record_case"] == record and REASON not in json.dumps(view, ensure_ascii=False)
    again = stack.cli_in_process("erase", case_id, "--reason", "again", "--url", stack.url, "--json", check=True)
    assert json.loads(again.stdout)["record_case"] == record
    history_deleted(stack, case_id)


def history_deleted(stack, case_id: str, timeout: float = 300) -> None:
    """Temporal deletes a history asynchronously (about half a minute on the dev server)."""
    temporal, deadline = loopback.get(f"{stack.url}/healthz").json()["temporal"], time.monotonic() + timeout
    while True:
        shown = subprocess.run(
            [str(TEMPORAL), "workflow", "describe", "-w", case_id, "--address", temporal],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if shown.returncode != 0 and "not found" in (shown.stdout + shown.stderr).lower():
            return
        assert time.monotonic() < deadline, f"the erased case's history is still in Temporal: {shown.stdout[:300]}"
        time.sleep(2)
