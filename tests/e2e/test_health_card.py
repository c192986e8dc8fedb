"""The electronic health card through every layer, on the real embedded stack: apply with the
example file, check the card at two hospitals (dynamic code, static code + PIN), replay and forge
codes, revoke and reissue, and audit every trail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from stdnum import luhn

from agencies.health import dynamic_code, read_dynamic_code
from tests.fixtures.http import loopback

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]  # on the registrations' stack
EXAMPLE = Path(__file__).parents[2] / "examples" / "health-card.json"
PIN = json.loads(EXAMPLE.read_text())["pin"]


def check(stack, hospital: str, code: str, pin: str | None = None) -> dict:
    body = {"code": code, "channel": "window", **({"pin": pin} if pin else {})}
    resp = loopback.post(
        f"{stack.url}/api/v1/health-cards/checks", json=body, headers=stack.token(f"clerk-{hospital}"), timeout=60
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def new_code(stack, card: str) -> str:
    resp = loopback.post(f"{stack.url}/api/v1/health-cards/{card}/code", headers=stack.token("applicant"))
    assert resp.status_code == 200, resp.text
    return resp.json()["code"]


def trail(stack, case_id: str) -> list[dict]:
    evidence = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor")).json()
    return [i["handoff"] for i in evidence["handoffs"]]


def audited(stack, case_id: str) -> dict:
    result = stack.cli_in_process("audit", "verify", case_id, "--url", stack.url, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], result.stdout
    return report


@pytest.fixture(scope="module")
def card(stack) -> dict:
    result = stack.cli("apply", str(EXAMPLE), "--url", stack.url, "--wait", "--json", check=True)
    return json.loads(result.stdout)


def test_the_example_gets_a_card_through_identity_archive_and_issue(stack, card):
    assert card["status"] == "completed" and card["flow"] == "health_card"
    assert [(s["step"], s["agency"], s["state"]) for s in card["steps"]] == [
        ("resident_identity", "public_security", "completed"),
        ("health_archive", "health_commission", "completed"),
        ("card_issue", "health_commission", "completed"),
    ]
    number = card["result"]["card_number"]
    assert len(number) == 18 and number.startswith("3701") and luhn.is_valid(number)
    report = audited(stack, card["case_id"])
    assert report["closed"] == "completed"
    handoffs = trail(stack, card["case_id"])
    assert handoffs[-1]["record"]["agency"] == "health_commission"  # the flow's lead closes it
    assert "pin" not in json.dumps(handoffs) and "370102199001011231" not in json.dumps(handoffs)  # no PIN, no ID


def test_a_second_application_returns_the_card_already_held(stack, card):
    again = json.loads(
        stack.cli_in_process("apply", str(EXAMPLE), "--url", stack.url, "--wait", "--json", check=True).stdout
    )
    assert again["result"]["card_number"] == card["result"]["card_number"] and again["result"]["existing_card"]


def test_another_account_cannot_apply_with_the_residents_id(stack, card):
    body = json.loads(EXAMPLE.read_text())
    resp = loopback.post(f"{stack.url}/api/v1/cases", json=body, headers=stack.token("resident"))
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "resident", "id_number"]


def test_a_dynamic_code_works_once_and_its_replay_is_refused_and_anchored(stack, card):
    number = card["result"]["card_number"]
    code = new_code(stack, number)
    first = check(stack, "hospital_qilu", code)
    assert (first["status"], first["card_number"], first["factor"]) == ("valid", number, "dynamic_code")
    assert first["holder"]["identity"]["name"] == "张伟" and first["holder"]["allergies"] == ["青霉素 penicillin"]
    read = trail(stack, first["case_id"])
    assert [(h["record"]["step"], h["record"]["agency"]) for h in read[:2]] == [
        ("card_check", "health_commission"),
        ("read_qilu", "hospital_qilu"),
    ]
    replay = check(stack, "hospital_provincial", code)
    assert replay["status"] == "refused" and "replay" in replay["reason"] and replay["holder"] is None
    refused = trail(stack, replay["case_id"])
    assert refused[0]["record"]["outcome"] == "rejected" and refused[0]["record"]["agency"] == "health_commission"
    assert audited(stack, replay["case_id"])["closed"] == "rejected"
    audited(stack, first["case_id"])


def test_a_forged_dynamic_code_is_refused(stack, card):
    claim = read_dynamic_code(new_code(stack, card["result"]["card_number"]))
    forged = dynamic_code(claim.model_copy(update={"card_number": "370100000000000018"}))  # signed for another card
    result = check(stack, "hospital_qilu", forged)
    assert result["status"] == "refused" and result["holder"] is None


def test_the_static_code_needs_the_right_pin(stack, card):
    static = f"EHC:{card['result']['card_number']}"
    wrong = check(stack, "hospital_provincial", static, pin="111112")
    assert wrong["status"] == "refused" and "wrong PIN" in wrong["reason"]
    right = check(stack, "hospital_provincial", static, pin=PIN)
    assert (right["status"], right["factor"]) == ("valid", "static_code_and_pin")


def test_the_resident_sees_every_check_of_their_card(stack, card):
    cards = loopback.get(f"{stack.url}/api/v1/health-cards", headers=stack.token("applicant")).json()
    mine = next(c for c in cards if c["card_number"] == card["result"]["card_number"])
    visits = {(v["hospital"], v["status"]) for v in mine["visits"]}
    assert ("hospital_qilu", "completed") in visits and ("hospital_provincial", "rejected") in visits
    reads = loopback.get(f"{stack.url}/api/v1/cases/{card['case_id']}/reads", headers=stack.token("applicant")).json()
    assert any(r["agency"] == "hospital_qilu" and "health card check" in r["purpose"] for r in reads)


def test_a_lost_card_is_revoked_and_reissued_and_its_codes_are_refused(stack, card):
    old = card["result"]["card_number"]
    code = new_code(stack, old)  # made before the loss, used after it
    resp = loopback.post(
        f"{stack.url}/api/v1/health-cards/{old}/revocation", json={"reason": "lost"}, headers=stack.token("applicant")
    )
    assert resp.status_code == 201, resp.text
    ended = json.loads(
        stack.cli_in_process("status", resp.json()["case_id"], "--url", stack.url, "--json", check=True).stdout
    )
    for _ in range(200):
        if ended["status"] == "completed":
            break
        time.sleep(0.3)
        ended = loopback.get(f"{stack.url}/api/v1/cases/{ended['case_id']}", headers=stack.token("applicant")).json()
    assert ended["status"] == "completed" and ended["result"]["revoked_card"] == old
    new = ended["result"]["card_number"]
    assert new != old and ended["result"]["replaces"] == old
    audited(stack, ended["case_id"])
    assert "revoked" in check(stack, "hospital_qilu", code)["reason"]
    assert check(stack, "hospital_qilu", f"EHC:{old}", pin=PIN)["status"] == "refused"
    fresh = check(stack, "hospital_qilu", new_code(stack, new))
    assert fresh["status"] == "valid" and fresh["holder"]["identity"]["name"] == "张伟"
    cards = {
        c["card_number"]: c["status"]
        for c in loopback.get(f"{stack.url}/api/v1/health-cards", headers=stack.token("applicant")).json()
    }
    assert cards[old] == "revoked" and cards[new] == "valid"
    revoked = loopback.post(f"{stack.url}/api/v1/health-cards/{old}/code", headers=stack.token("applicant"))
    assert revoked.status_code == 409


def test_a_card_trail_tampered_with_or_cut_short_fails_offline_naming_it(stack, card, tmp_path):
    bundle = tmp_path / "card.json"
    stack.cli_in_process("audit", "export", card["case_id"], "-o", str(bundle), "--url", stack.url, check=True)
    honest = json.loads(bundle.read_text())
    issued = next(i for i in honest["handoffs"] if i["handoff"]["record"]["step"] == "card_issue")
    number = issued["handoff"]["record"]["outputs"]["card_number"]
    forged = tmp_path / "forged.json"  # another card number written into the signed issue record
    forged.write_text(bundle.read_text().replace(number, number[:-1] + str((int(number[-1]) + 1) % 10)))
    result = stack.cli_in_process("audit", "verify-bundle", str(forged))
    assert result.returncode == 1 and "[hash] card_issue" in result.stdout, result.stdout
    cut = tmp_path / "cut.json"  # the issue record left out: the closing record names it
    cut.write_text(json.dumps({**honest, "handoffs": [i for i in honest["handoffs"] if i is not issued]}))
    result = stack.cli_in_process("audit", "verify-bundle", str(cut))
    assert result.returncode == 1 and "missing from the trail" in result.stdout, result.stdout
