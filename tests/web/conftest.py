"""Browser fixtures for the web pages: Debian's chromium driven by Python Playwright (skipped,
saying why, where /usr/bin/chromium is absent), a page per test at phone or desktop width, and
screenshots kept under the test's tmp dir; plus the in-process gateway served on loopback."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1100, "height": 900}


@pytest.fixture(scope="module")
def chromium():
    """One browser per test module, never per session: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and the async tests that share this xdist worker
    (pytest-asyncio) cannot start theirs beside it."""
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) for the browser tests"
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a broken set-up, not a skip
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    where = Path(os.environ["ONEVISIT_SCREENSHOTS"]) if os.environ.get("ONEVISIT_SCREENSHOTS") else None
    where = where or tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


class Pages:
    """New browser pages (each its own context: its own sessionStorage and cookies), and shots."""

    def __init__(self, browser, screenshots: Path, base_url: str):
        self.browser, self.dir, self.base_url, self.contexts = browser, screenshots, base_url, []

    def new(self, size: dict | None = None, lang: str = "zh", javascript: bool = True):
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport=size or DESKTOP,
            locale="zh-CN" if lang == "zh" else "en-GB",
            java_script_enabled=javascript,
        )
        context.set_default_timeout(30_000)
        external: list[str] = []
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(self.base_url)
                else (external.append(route.request.url), route.abort())
            ),
        )
        self.contexts.append(context)
        page = context.new_page()
        page.external_requests = external  # every request to anywhere but the gateway (should stay empty)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.script_errors = errors
        return page

    def shoot(self, page, name: str) -> Path:
        path = self.dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def served_gateway(in_process_gateway):
    """The in-process gateway (fake Temporal) served for real on loopback, for a browser."""
    import uvicorn

    app = in_process_gateway.http.app  # its lifespan already ran inside the TestClient
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # only guards against a hang
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    in_process_gateway.url = f"http://127.0.0.1:{port}"
    yield in_process_gateway
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def pages(chromium, screenshots, served_gateway):
    """Browser pages on the in-process gateway."""
    made = Pages(chromium, screenshots, served_gateway.url)
    yield made
    made.close()


@pytest.fixture
def stack_pages(chromium, screenshots, stack):
    """Browser pages on the real stack (`onevisit up`)."""
    made = Pages(chromium, screenshots, stack.url)
    yield made
    made.close()


def assert_accessible(page) -> None:
    """What a page must hold for assistive technology: the document's language, one h1, every
    visible form control with a label, unique ids, every image with alt text."""
    problems = page.evaluate(
        """() => {
        const out = [];
        if (!document.documentElement.lang) out.push("no lang on <html>");
        if (document.querySelectorAll("h1").length !== 1) out.push("not exactly one h1");
        for (const c of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
          if (c.offsetParent === null) continue;
          const named = (c.labels && c.labels.length) || c.getAttribute("aria-label");
          if (!named) out.push("no label: " + (c.id || c.name));
        }
        const ids = [...document.querySelectorAll("[id]")].map((n) => n.id);
        for (const id of new Set(ids)) if (ids.filter((x) => x === id).length > 1) out.push("duplicate id " + id);
        for (const img of document.querySelectorAll("img:not([alt])")) out.push("img without alt");
        return out;
    }"""
    )
    assert problems == [], problems
