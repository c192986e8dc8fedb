"""Business scope from the catalogue of standard scope items (经营范围规范表述目录, an excerpt):
unknown, hidden-character, duplicate and oversized scopes refused naming the item; licensed items
(许可项目) are exactly what sends the business licence to a clerk; the registry's back-end refuses,
signed, whatever reaches it unchecked."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from temporalio.testing import ActivityEnvironment

from agencies.backend import Refused
from agencies.identifiers import make_resident_id
from agencies.scope import CATALOGUE, MAX_ITEMS, ScopeRefused, catalogue, licensed_items, parse_scope
from agencies.simulated import SimulatedBackend, check_registration_items
from tests.agencies.test_adapter import adapter, request
from tests.fixtures.stack import application
from workflows.catalog import get_flow

ITEMS = json.loads(CATALOGUE.read_text(encoding="utf-8"))["items"]
LICENCE_RULES = get_flow("business_registration").step("business_licence").approval


def test_every_catalogue_item_has_a_unique_code_a_kind_and_licensed_ones_name_their_licence():
    assert len({i["code"] for i in ITEMS}) == len(ITEMS) >= 30
    assert {i["kind"] for i in ITEMS} == {"general", "licensed"}
    assert all(bool(i.get("licence")) == (i["kind"] == "licensed") for i in ITEMS)


@pytest.mark.parametrize("item", ITEMS, ids=[i["code"] for i in ITEMS])
def test_a_licensed_item_and_only_a_licensed_item_sends_the_licence_to_a_clerk(item):
    other = "软件开发" if item["name"] == "日用百货销售" else "日用百货销售"
    app = application(business_scope=f"{item['name']}；{other}")
    scope_reasons = [r for r in LICENCE_RULES.review_reasons(app) if "business scope" in r]
    assert bool(scope_reasons) == (item["kind"] == "licensed"), item["name"]
    assert [i.code for i in licensed_items(app["company"]["business_scope"])] == (
        [item["code"]] if item["kind"] == "licensed" else []
    )


def test_the_examples_scopes_come_from_the_catalogue():
    assert [i.name for i in parse_scope("软件开发；信息技术咨询服务；数据处理服务")] == [
        "软件开发",
        "信息技术咨询服务",
        "数据处理服务",
    ]
    food = parse_scope("食品销售；日用百货销售")
    assert [(i.name, i.licensed, i.licence) for i in food] == [
        ("食品销售", True, "食品经营许可证"),
        ("日用百货销售", False, None),
    ]


def test_fullwidth_punctuation_line_breaks_a_final_full_stop_and_former_wordings_are_read():
    scope = "软件开发;\n技术服务；信息咨询服务（不含许可类信息咨询服务）；食品经营。"
    assert [i.code for i in parse_scope(scope)] == ["I001", "M001", "L007", "F007"]
    assert catalogue()["食品经营"] is catalogue()["食品销售"]  # the wording before 2021 maps to today's item


@pytest.mark.parametrize(
    "scope, item, rule",
    [
        ("软件开发；区块链挖矿", "区块链挖矿", "is not in the catalogue"),
        ("软件开法", "软件开法", "did you mean 软件开发"),
        ("软件\u200b开发", "软件\u200b开发", "invisible or control character (U+200B)"),
        ("软件开发；数据处理服务\u2060", "数据处理服务\u2060", "(U+2060)"),  # word joiner
        ("软件开发；软件开发", "软件开发", "listed twice"),
        ("软件\t开发；数据处理服务", "软件\t开发", "(U+0009)"),
    ],
    ids=["unknown-item", "typo-with-suggestion", "zero-width-space", "word-joiner", "duplicate", "tab"],
)
def test_a_bad_item_is_refused_naming_it(scope, item, rule):
    with pytest.raises(ScopeRefused, match=re.escape(rule)) as err:
        parse_scope(scope)
    assert err.value.item == item and repr(item) in str(err.value)


@pytest.mark.parametrize("count", [MAX_ITEMS + 1, 1000])
def test_a_scope_of_too_many_items_is_refused_before_any_lookup(count):
    with pytest.raises(ScopeRefused, match=f"at most {MAX_ITEMS} items, not {count}"):
        parse_scope("；".join(["软件开发"] * count))


@pytest.mark.parametrize("scope", ["", "；；", " 。 "])
def test_an_empty_scope_is_refused(scope):
    with pytest.raises(ScopeRefused, match="at least one item"):
        parse_scope(scope)


# --- the registry's back-end: what reaches it unchecked is refused -----------------------------


def spoiled(**changes) -> dict:
    app = application()
    for path, value in changes.items():
        section, field = path.split("__")
        node = app[section][0] if section == "shareholders" else app[section]
        node[field] = value
    return app


MINOR = make_resident_id(birth=date.today().replace(year=date.today().year - 10, day=1), sequence=5)


@pytest.mark.parametrize(
    "app, reason",
    [
        (spoiled(legal_representative__id_number=MINOR), "legal_representative.id_number: .* at least 18"),
        (spoiled(shareholders__id_number="370102198806151238"), r"shareholders\[0\].id_number: .*check character"),
        (spoiled(legal_representative__id_number="999999198806151234"), "not a GB/T 2260"),
        (spoiled(company__business_scope="软件开发；炒股"), "company.business_scope: .*'炒股' is not in the catalogue"),
    ],
    ids=["minor-representative", "shareholder-check-digit", "unknown-region", "unknown-scope-item"],
)
def test_the_back_end_refuses_what_reaches_it_unchecked(app, reason):
    with pytest.raises(Refused, match=reason):
        check_registration_items(app)


@pytest.mark.parametrize(
    "id_number",
    [MINOR, "370102201302301234", "999999198806151234"],
    ids=["minor", "no-such-birth-date", "unknown-region"],
)
def test_a_refused_id_number_is_signed_without_its_birth_date_region_or_age(id_number):
    with pytest.raises(Refused) as refused:
        check_registration_items(spoiled(legal_representative__id_number=id_number))
    said = refused.value.reason  # what the rejected handoff carries: it can never be erased
    assert said.startswith("legal_representative.id_number: resident ID")
    for part in (id_number[:6], id_number[6:14], id_number[6:10], "born"):
        assert part not in said, (part, said)


def test_the_examples_pass_the_back_end_checks():
    check_registration_items(application())


def test_a_licence_request_with_an_unknown_scope_item_becomes_a_signed_refusal(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, "market_regulation", SimulatedBackend("market_regulation", tmp_path))
    app = spoiled(company__business_scope="软件开发；代办身份证")
    done = ActivityEnvironment().run(market.perform_step, request("business_licence", "C-SCOPE", app))
    signed = done.handoff
    assert signed.record.outcome == "rejected" and signed.record.outputs["code"] == "ScopeRefused"
    assert "'代办身份证' is not in the catalogue" in signed.record.outputs["reason"]
    assert signed.verify() == embedded_ledger.keys["market_regulation"].signer and done.anchor.handoff == signed.hash
