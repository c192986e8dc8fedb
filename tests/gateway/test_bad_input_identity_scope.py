"""Resident IDs and business scopes at the API: each bad one is a 422 naming the field and the rule,
nothing is stored and no workflow starts; the example applications stay valid under the rules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from agencies.identifiers import make_resident_id, resident_id_check_char
from gateway.schemas import RegistrationApplication
from tests.fixtures.stack import application

from .test_case_start import stored

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("registration*.json"))


def with_check(body: str) -> str:
    return body + resident_id_check_char(body)


def a_minor() -> str:
    today = date.today()
    return make_resident_id(birth=today.replace(year=today.year - 17, day=1), sequence=7)


def future_birth() -> str:
    return with_check(f"370102{date.today().year + 1}0101001")


BAD = [
    ("legal_representative.id_number", "３７０１０２198806151237", "fullwidth character '３' (U+FF13) at position 1"),
    ("legal_representative.id_number", "370102198806151238", "check character is wrong: expected 7"),
    ("shareholders.1.id_number", "370103199003022468", "check character is wrong: expected 7"),
    ("legal_representative.id_number", with_check("37019919880615123"), "region code 370199 is not a GB/T 2260"),
    ("shareholders.0.id_number", with_check("37012019900101001"), "370120 was abolished in 1983"),
    ("legal_representative.id_number", future_birth(), "is in the future"),
    ("legal_representative.id_number", a_minor(), "must be at least 18 years old, not 17"),
    ("company.business_scope", "软件开发；代办身份证", "'代办身份证' is not in the catalogue of standard scope items"),
    ("company.business_scope", "软件开发；数据处理服务\u200b", "format characters (U+200B)"),
    ("company.business_scope", "；".join(["软件开发"] * 1000)[:2000], "at most 50 items, not 400"),
    ("company.business_scope", "；".join(["软"] * 1000), "at most 50 items, not 1000"),
    ("company.business_scope", "软件开发；软件开发", "'软件开发' is listed twice"),
]
IDS = [
    "fullwidth-digits",
    "wrong-check-digit",
    "shareholder-wrong-check-digit",
    "unknown-region",
    "region-abolished-before-birth",
    "future-birth-date",
    "minor-legal-representative",
    "unknown-scope-item",
    "zero-width-in-scope-item",
    "scope-of-400-items",
    "scope-of-1000-items",
    "duplicate-scope-item",
]


def spoil(path: str, value: str) -> dict:
    app = application()
    *parents, leaf = path.split(".")
    node = app
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[leaf] = value
    return app


@pytest.mark.parametrize("path, value, rule", BAD, ids=IDS)
def test_a_bad_id_or_scope_is_a_422_naming_the_field_and_nothing_is_stored(
    in_process_gateway, fake_temporal, path, value, rule
):
    gw = in_process_gateway
    resp = gw.http.post("/api/v1/cases", json=spoil(path, value), headers=gw.login("applicant"))
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert [".".join(str(p) for p in e["loc"][1:]) for e in detail] == [path]
    assert rule in detail[0]["msg"]
    assert stored(gw) == ([], []) and not fake_temporal.started


def test_a_minor_may_hold_shares_but_not_represent_the_company():
    app = spoil("shareholders.1.id_number", a_minor())
    assert RegistrationApplication.model_validate(app).shareholders[1].id_number == app["shareholders"][1]["id_number"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_are_valid_under_the_id_and_scope_rules(path):
    app = RegistrationApplication.model_validate(json.loads(path.read_text(encoding="utf-8")))
    assert app.legal_representative.id_number and app.company.business_scope
