"""Bad input at the edge: a clear error naming the field, nothing stored."""

from __future__ import annotations

import pytest

from tests.fixtures.http import loopback
from tests.fixtures.stack import application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def wrong_check_digit(app: dict) -> dict:
    rid = app["legal_representative"]["id_number"]
    app["legal_representative"]["id_number"] = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    return app


def missing_address(app: dict) -> dict:
    del app["company"]["address"]
    return app


def shares_not_100(app: dict) -> dict:
    app["shareholders"][1]["share_percent"] = 20
    return app


def outside_jinan(app: dict) -> dict:
    app["company"]["division"] = "110105"
    return app


def unknown_field(app: dict) -> dict:
    app["company"]["colour"] = "red"
    return app


def hidden_restricted_word(app: dict) -> dict:
    app["company"]["name"] = "济南中\u200d国信息科技有限公司"  # a zero-width joiner inside 中国
    return app


CASES = [
    (wrong_check_digit, "legal_representative.id_number", "check character is wrong"),
    (missing_address, "company.address", "Field required"),
    (shares_not_100, "share_percent must add up to 100", ""),
    (outside_jinan, "company.division", "Jinan"),
    (unknown_field, "company.colour", "Extra inputs are not permitted"),
    (hidden_restricted_word, "company.name", "format characters (U+200D)"),
]


def case_count(stack) -> int:
    return len(loopback.get(f"{stack.url}/api/v1/cases", headers=stack.token("auditor")).json())


@pytest.mark.parametrize("spoil,field,rule", CASES, ids=[c[0].__name__ for c in CASES])
def test_api_answers_422_naming_the_field_and_stores_nothing(stack, spoil, field, rule):
    before = case_count(stack)
    resp = loopback.post(f"{stack.url}/api/v1/cases", json=spoil(application()), headers=stack.token("applicant"))
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    text = " ".join(".".join(map(str, d["loc"])) + " " + d["msg"] for d in detail)
    assert field in text and rule in text
    assert case_count(stack) == before


@pytest.mark.parametrize("spoil,field,rule", CASES[:2], ids=[c[0].__name__ for c in CASES[:2]])
def test_cli_prints_the_field_and_exits_non_zero(stack, tmp_path, spoil, field, rule):
    result = stack.cli_in_process("apply", str(write_application(tmp_path, spoil(application()))), "--url", stack.url)
    assert result.returncode == 1 and f"{field}: " in result.stderr and rule in result.stderr


def test_malformed_json_is_refused_by_api_and_cli(stack, tmp_path):
    before = case_count(stack)
    resp = loopback.post(
        f"{stack.url}/api/v1/cases",
        content=b'{"company": ',
        headers={**stack.token("applicant"), "content-type": "application/json"},
    )
    assert resp.status_code == 422 and "not valid JSON" in resp.json()["detail"][0]["msg"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"company": ')
    result = stack.cli("apply", str(bad), "--url", stack.url)
    assert result.returncode == 2 and "not valid JSON" in result.stderr and "line 1 column 13" in result.stderr
    assert case_count(stack) == before


def test_no_token_is_401_and_wrong_role_is_403(stack, tmp_path):
    assert loopback.get(f"{stack.url}/api/v1/cases").status_code == 401
    as_auditor = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=stack.token("auditor"))
    assert as_auditor.status_code == 403
    result = stack.cli_in_process(
        "apply",
        str(write_application(tmp_path, application())),
        "--url",
        stack.url,
        "--user",
        "applicant",
        "--password",
        "wrong",
    )
    assert result.returncode == 1 and "wrong username or password" in result.stderr


def test_applicants_get_no_evidence_and_unknown_cases_are_404(stack):
    case = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=stack.token("applicant")).json()
    assert (
        loopback.get(
            f"{stack.url}/api/v1/cases/{case['case_id']}/evidence", headers=stack.token("applicant")
        ).status_code
        == 403
    )
    assert loopback.get(f"{stack.url}/api/v1/cases/BR-NOPE", headers=stack.token("applicant")).status_code == 404
