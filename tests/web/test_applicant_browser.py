"""The applicant's pages in a browser, on the in-process gateway (the engine faked): sign in, the
form's errors from the API shown by their fields and in a focused summary, the values kept; a
good application opens a case whose page shows its steps; the list of my cases."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.fixtures.stack import EXAMPLE
from tests.web.conftest import PHONE


def sign_in(page, user: str, lang: str = "zh") -> None:
    page.goto(f"/sign-in?lang={lang}")
    page.fill("#username", user)
    page.fill("#password", user)
    page.keyboard.press("Enter")


def fill_application(page, app: dict) -> None:
    c = app["company"]
    page.fill("#company-name", c["name"])
    page.select_option("#company-division", c["division"])
    page.fill("#company-registered_capital_cny", str(c["registered_capital_cny"]))
    page.fill("#company-business_scope", c["business_scope"])
    page.fill("#company-address", c["address"])
    rep = app["legal_representative"]
    page.fill("#legal_representative-name", rep["name"])
    page.fill("#legal_representative-id_number", rep["id_number"])
    page.fill("#legal_representative-phone", rep["phone"])
    for i, holder in enumerate(app["shareholders"]):
        if i:
            page.click("#add-shareholder")
        page.fill(f"#shareholders-{i}-name", holder["name"])
        page.fill(f"#shareholders-{i}-id_number", holder["id_number"])
        page.fill(f"#shareholders-{i}-share_percent", str(holder["share_percent"]))
    page.fill("#contact-name", app["contact"]["name"])
    page.fill("#contact-phone", app["contact"]["phone"])
    page.fill("#contact-email", app["contact"].get("email", ""))
    page.fill("#employees", str(app["employees"]))
    page.fill("#expected_annual_sales_cny", str(app["expected_annual_sales_cny"]))


def test_a_wrong_password_is_said_in_words(pages):
    page = pages.new()
    page.goto("/sign-in")
    page.fill("#username", "applicant")
    page.fill("#password", "not-the-password")
    page.keyboard.press("Enter")
    page.wait_for_selector(".error-summary")
    assert "用户名或密码不正确" in page.inner_text(".error-summary")
    assert page.title().startswith("错误：")
    pages.shoot(page, "sign-in-error-zh")


def test_sign_in_then_the_apis_errors_by_their_fields_then_a_case(pages, served_gateway, fake_temporal):
    app = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    app["company"]["name"] = "济南睿晟信息科技有限公司"
    for lang, size in (("zh", None), ("en", PHONE)):
        page = pages.new(size, lang)
        sign_in(page, "applicant", lang)
        page.wait_for_url("**/my-cases")
        page.goto("/apply")
        page.wait_for_selector("#shareholders-0-name")
        pages.shoot(page, f"apply-empty-{lang}")
        fill_application(page, app)
        page.fill("#legal_representative-phone", "1390531")  # too short
        page.fill("#shareholders-1-share_percent", "20")  # 70 + 20: not 100 (judged once the fields are right)
        page.fill("#company-registered_capital_cny", "")  # missing
        page.click("button[type=submit]")
        summary = page.wait_for_selector(".error-summary")
        expect(page.locator(".error-summary")).to_be_focused()
        text = summary.inner_text()
        if lang == "zh":
            assert page.title().startswith("错误：")
            assert "请填写注册资本（元）" in text and "法定代表人手机号码格式不正确" in text
        else:
            assert page.title().startswith("Error: ")
            assert "Enter the registered capital (CNY)" in text and "Legal representative: mobile number" in text
        for field in ("company-registered_capital_cny", "legal_representative-phone"):
            assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
            assert page.is_visible(f"#{field}-error")
        assert page.input_value("#company-name") == app["company"]["name"]  # what was typed stays
        pages.shoot(page, f"apply-errors-{lang}")
        page.click("a[href='#legal_representative-phone']")
        assert page.evaluate("document.activeElement.id") == "legal_representative-phone"
        page.fill("#legal_representative-phone", app["legal_representative"]["phone"])
        page.fill("#company-registered_capital_cny", "1000000")
        page.click("button[type=submit]")
        page.wait_for_selector(".error-summary a[href='#shareholders-0-share_percent']")
        assert page.is_hidden("#legal_representative-phone-error")  # fixed: its message is gone
        shares = page.inner_text(".error-summary")
        assert ("现在是 90%" if lang == "zh" else "must add up to 100%, not 90%") in shares
        page.fill("#shareholders-1-share_percent", "30")
        page.click("button[type=submit]")
        page.wait_for_url("**/cases/*?new=1")
        page.wait_for_selector("#timeline li[data-step=name_check]")
        case_id = page.url.split("/cases/")[1].split("?")[0]
        assert case_id in fake_temporal.started
        assert page.inner_text("#confirmation").count(case_id) == 1
        assert page.get_attribute("#timeline li[data-step=name_check]", "data-state") == "running"
        assert page.is_visible("#withdraw") and page.is_hidden("#decide")
        pages.shoot(page, f"case-new-{lang}")
        page.goto("/my-cases")
        page.wait_for_selector(f"a[href='/cases/{case_id}']")
        pages.shoot(page, f"my-cases-{lang}")
        assert page.external_requests == [] and page.script_errors == []
        app["company"]["name"] = "济南卓越信息科技有限公司"
    sent = fake_temporal.started[case_id].application
    assert sent["company"]["name"] == "济南卓越信息科技有限公司" and len(sent["shareholders"]) == 2


def test_signed_in_pages_send_a_stranger_to_sign_in_and_back(pages):
    page = pages.new()
    page.goto("/my-cases")
    page.wait_for_url("**/sign-in?next=%2Fmy-cases")
    page.fill("#username", "applicant")
    page.fill("#password", "applicant")
    page.keyboard.press("Enter")
    page.wait_for_url("**/my-cases")
    page.wait_for_selector("#cases-status:has-text('您还没有提交过申请')")
    page.click("[data-sign-out]")
    page.wait_for_url(lambda url: url.endswith("/"))
    assert page.evaluate("sessionStorage.getItem('ov.token')") is None
    page.goto("/apply")
    page.wait_for_url("**/sign-in?next=%2Fapply")


def test_sign_in_never_sends_you_to_another_site(pages):
    page = pages.new()
    page.goto("/sign-in?next=//example.org/phish")
    page.fill("#username", "applicant")
    page.fill("#password", "applicant")
    page.keyboard.press("Enter")
    page.wait_for_url("**/my-cases")
    assert page.external_requests == []
