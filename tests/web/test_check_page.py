"""The public licence check page, rendered in-process: no sign-in, no JavaScript needed; the
verdict and every format error in words, in Chinese first and in English on request."""

from __future__ import annotations

import re

import pytest

from agencies.identifiers import random_uscc
from gateway.accounts import RateLimit
from gateway.casework import record_handoff
from tests.gateway.test_public_licence import licence_handoff


def test_the_empty_page_asks_for_the_code_with_a_label_and_a_hint(in_process_gateway):
    page = in_process_gateway.http.get("/check")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="zh-CN">' in html and "核验营业执照" in html
    assert '<label for="code">统一社会信用代码</label>' in html
    assert 'aria-describedby="code-hint"' in html and "error-summary" not in html


@pytest.mark.parametrize(
    ("typed", "zh", "en"),
    [
        ("", "请输入统一社会信用代码", "Enter the unified social credit code"),
        ("91370102", "应为 18 位，您输入了 8 位", "has 18 characters; you entered 8"),
        ("913701027WHP9RYL2O", "第 18 位的“O”", "Character 18 (“O”)"),
        ("9137AB027WHP9RYL24", "第 3 至 8 位是行政区划代码", "Characters 3 to 8 are the administrative division"),
    ],
    ids=["empty", "too-short", "letter-O", "letters-in-division"],
)
def test_a_malformed_code_is_named_in_words_in_a_summary_and_by_the_field(in_process_gateway, typed, zh, en):
    for lang, words, prefix in (("zh", zh, "<title>错误："), ("en", en, "<title>Error: ")):
        html = in_process_gateway.http.get("/check", params={"code": typed, "lang": lang}).text
        assert html.count(words) == 2, html  # in the error summary and by the field
        assert prefix in html
        assert 'role="alert"' in html and '<a href="#code">' in html
        assert 'aria-invalid="true"' in html and 'aria-describedby="code-hint code-error"' in html


def test_a_mistyped_character_fails_the_check_character(in_process_gateway):
    code = random_uscc("370102")
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    html = in_process_gateway.http.get("/check", params={"code": typo}).text
    assert "校验位不符" in html and 'data-status="' not in html


def test_a_well_formed_code_never_issued_here_is_unknown(in_process_gateway):
    code = random_uscc("370105")
    html = in_process_gateway.http.get("/check", params={"code": code.lower()[:6] + " " + code[6:]}).text
    assert 'data-status="unknown"' in html and "未查到" in html and code in html  # spaces and case forgiven


def test_a_licence_issued_here_is_valid_then_revoked_by_a_withdrawal(in_process_gateway):
    gw = in_process_gateway
    case_id, code = gw.open_case(), random_uscc("370102")
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(code))
    html = gw.http.get("/check", params={"code": code, "lang": "en"}).text
    assert 'data-status="valid"' in html and "Genuine and valid" in html
    assert "济南泉智信息科技有限公司" in html and "2026-11-22" in html
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(code, outcome="compensated"))
    html = gw.http.get("/check", params={"code": code, "lang": "zh"}).text
    assert 'data-status="revoked"' in html and "已撤销" in html and "撤销日期" in html


def test_too_many_checks_from_one_address_are_refused_in_words(in_process_gateway):
    gw = in_process_gateway
    gw.http.app.state.public_limit = RateLimit(per_minute=1)
    assert gw.http.get("/check", params={"code": random_uscc("370102")}).status_code == 200
    page = gw.http.get("/check", params={"code": random_uscc("370102")})
    assert page.status_code == 429 and "核验次数过多" in page.text
    assert int(page.headers["retry-after"]) > 0


def test_the_language_switch_is_kept_in_a_cookie(in_process_gateway):
    http = in_process_gateway.http
    en = http.get("/check", params={"lang": "en"})
    assert en.cookies.get("lang") == "en" and '<html lang="en">' in en.text
    assert '<html lang="en">' in http.get("/check").text  # the cookie remembers
    assert 'href="?lang=zh"' in http.get("/check").text
    assert '<html lang="zh-CN">' in http.get("/check", params={"lang": "zh"}).text
    assert '<html lang="zh-CN">' in http.get("/check").text
    code = random_uscc("370102")
    assert f'href="?code={code}&amp;lang=en"' in http.get("/check", params={"code": code}).text  # the answer stays


def test_the_page_loads_nothing_from_elsewhere(in_process_gateway):
    page = in_process_gateway.http.get("/check")
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "default-src 'none'" in page.headers["content-security-policy"]
