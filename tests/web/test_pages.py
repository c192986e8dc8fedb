"""Every page, rendered in-process in both languages: 200, the page's language declared, its
labels in words, and nothing loaded from anywhere but the gateway (every asset is served)."""

from __future__ import annotations

import re

import pytest

from gateway.web.i18n import EN, ZH

PAGES = {
    "/": ("企业开办，一次办好", "Start a business in one visit"),
    "/check": ("核验营业执照", "Check a business licence"),
    "/sign-in": ('<label for="username">用户名</label>', '<label for="username">User name</label>'),
    "/apply": ('<label for="company-name">企业名称 *</label>', '<label for="company-name">Company name *</label>'),
    "/my-cases": ("我的申请", "My applications"),
    "/cases/BR-TEST-1": ("申请详情", "Application"),
    "/queue": ("待办队列", "Queue"),
    "/audit": ('<label for="case-pick">申请</label>', '<label for="case-pick">Application</label>'),
}
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_both_languages_have_the_same_words():
    assert set(ZH) == set(EN)
    for key in ZH:
        assert set(re.findall(r"{\w+}", ZH[key])) == set(re.findall(r"{\w+}", EN[key])), key


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_in_chinese_then_english(in_process_gateway, path):
    http = in_process_gateway.http
    zh, en = PAGES[path]
    page = http.get(path)
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and zh in page.text
    assert '<a class="skip" href="#main">跳到主要内容</a>' in page.text and 'id="main"' in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    page = http.get(path, params={"lang": "en"})
    assert page.status_code == 200 and '<html lang="en">' in page.text and en in page.text
    assert 'href="?lang=zh"' in page.text
    assert not EXTERNAL.search(page.text)
    for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text):
        served = http.get(asset)
        assert served.status_code == 200, asset
        assert not re.search(r"https?://", served.text), f"{asset} names another site"


@pytest.mark.parametrize("field", ["company-name", "company-division", "legal_representative-id_number", "employees"])
def test_every_apply_field_has_its_label(in_process_gateway, field):
    html = in_process_gateway.http.get("/apply").text
    assert f'<label for="{field}">' in html and f'id="{field}"' in html


@pytest.mark.parametrize("name", ["../app.py", "routes.py", "missing.js", "site.css.map"])
def test_only_the_packages_assets_are_served(in_process_gateway, name):
    assert in_process_gateway.http.get(f"/assets/{name}").status_code == 404


def test_pages_are_not_in_the_openapi_document(in_process_gateway):
    paths = in_process_gateway.http.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/v1/") and p != "/healthz"]


def test_the_demo_accounts_are_named_only_where_they_are_seeded(in_process_gateway):
    http = in_process_gateway.http
    assert 'id="demo-accounts"' in http.get("/sign-in").text
    http.app.state.settings = http.app.state.settings.model_copy(update={"demo_accounts": False})
    assert 'id="demo-accounts"' not in http.get("/sign-in").text
