"""Company names as the registry reads them: four parts in order, each refusal naming its part;
restricted words and invisible characters caught on the NFKC form; uniqueness by 字号 in its
industry within the division, whatever surrounds it."""

from __future__ import annotations

import pytest

from agencies.backend import Refused
from agencies.identifiers import JINAN_DIVISIONS
from agencies.names import NameRefused, parse_name
from agencies.simulated import SimulatedBackend
from tests.agencies.test_adapter import request
from tests.fixtures.stack import application

DISTRICTS = tuple(JINAN_DIVISIONS.values())


@pytest.mark.parametrize(
    "name, division, trade, industry, form",
    [
        ("济南泉智信息科技有限公司", "济南", "泉智", "信息科技", "有限公司"),
        ("济南市历下区泉智信息科技有限公司", "济南市历下区", "泉智", "信息科技", "有限公司"),
        ("济南历下区鼎丰商贸有限责任公司", "济南历下区", "鼎丰", "商贸", "有限责任公司"),
        ("济南市泉味食品销售股份有限公司", "济南市", "泉味", "食品销售", "股份有限公司"),
        ("济南泉智信息科技有限公司", "济南", "泉智", "信息科技", "有限公司"),
    ],
)
def test_the_four_parts(name, division, trade, industry, form):
    parsed = parse_name(name, "历下区", DISTRICTS)
    assert (parsed.division, parsed.trade_name, parsed.industry, parsed.form) == (division, trade, industry, form)


@pytest.mark.parametrize(
    "name, part, says",
    [
        ("济南泉智信息科技", "form", "legal form"),
        ("青岛泉智信息科技有限公司", "division", "must start with its administrative division"),
        ("济南市槐荫区泉智信息科技有限公司", "division", "registers in 济南历下区"),
        ("泉智济南信息科技有限公司", "order", "division (济南…) must come first"),
        ("济南信息科技泉智有限公司", "order", "industry (信息科技) must come after the trade name"),
        ("济南泉智有限公司", "industry", "must state its industry"),
        ("济南智信息科技有限公司", "trade_name", "2 to 8 characters, not 1"),
        ("济南泉智信达华源诚鼎丰信息科技有限公司", "trade_name", "2 to 8 characters, not 9"),
        ("济南信息科技有限公司", "trade_name", "not 0"),
        ("济南ABC信息科技有限公司", "trade_name", "Chinese characters only"),
        ("济南历下信息科技有限公司", "trade_name", "may not be an industry or a division name"),
        ("济南中国泉城科技有限公司", "restricted", "'中国'"),
        ("济南泉城国际贸易有限公司", "restricted", "'国际'"),
        ("济南中\u200d国科技有限公司", "characters", "U+200D"),  # zero-width joiner hiding 中国
        ("济南泉智\u202e信息科技有限公司", "characters", "U+202E"),  # right-to-left override
    ],
)
def test_refusals_name_the_part(name, part, says):
    with pytest.raises(NameRefused) as err:
        parse_name(name, "历下区", DISTRICTS)
    assert err.value.part == part and says in str(err.value)


def test_fullwidth_forms_fold_before_judging():
    assert parse_name("济南泉智信息科技有限公司", "历下区", DISTRICTS).name == "济南泉智信息科技有限公司"
    assert (
        parse_name("济南泉智信息科技有限公司", "历下区", DISTRICTS).key
        == parse_name("济南市历下区泉智信息科技有限责任公司", "历下区", DISTRICTS).key
    )


def name_check(backend: SimulatedBackend, case_id: str, name: str, division: str = "370102") -> dict:
    app = application(name=name)
    app["company"]["division"] = division
    return backend.perform(request("name_check", case_id, app))


def test_a_squatter_cannot_take_a_trade_name_by_changing_what_surrounds_it(tmp_path):
    market = SimulatedBackend("market_regulation", tmp_path)
    assert name_check(market, "C-1", "济南泉智信息科技有限公司")["name_reserved"]
    for i, variant in enumerate(
        ["济南市历下区泉智信息科技有限责任公司", "济南泉智信息科技股份有限公司", "济南泉智信息科技有限公司"]
    ):
        with pytest.raises(Refused, match="already registered or reserved"):
            name_check(market, f"C-{i + 2}", variant)
    assert name_check(market, "C-9", "济南泉智商贸有限公司")["name_reserved"]  # another industry is free
    assert name_check(market, "C-10", "济南泉智信息科技有限公司", division="370103")  # another division is free


def test_the_back_end_refuses_a_hidden_restricted_word_even_past_the_gateway(tmp_path):
    market = SimulatedBackend("market_regulation", tmp_path)
    with pytest.raises(Refused) as err:
        name_check(market, "C-1", "济南中\u200d国科技有限公司")
    assert err.value.code == "NameCharacters"
