"""The web pages (HTML, not in the OpenAPI document) and their assets, all served from this package.

The public licence check is rendered on the server and works without JavaScript. The signed-in
pages are shells: their scripts call the JSON API with the bearer token that sign-in keeps in
sessionStorage, so every rule (roles, need-to-know, validation) stays in one place, the API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from agencies.consent import CATEGORIES
from agencies.directory import BANKS
from agencies.identifiers import JINAN_DIVISIONS, USCC_ALPHABET, IdentifierError, validate_uscc
from gateway.accounts import RateLimited
from gateway.api.deps import SessionDep
from gateway.api.public import gateway_keyring, judge_live, licence_status
from gateway.web.i18n import COOKIE, HTML_LANG, MESSAGES, pick_lang, translator

HERE = Path(__file__).parent
STATIC = HERE / "static"
ASSET = re.compile(r"^[a-z][a-z0-9-]*\.(css|js|svg)$")
MEDIA = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SERVER_ONLY = ("check_", "home_")  # words no script needs stay out of the pages' JSON
CASE_ID = r"^[A-Za-z0-9_-]{1,64}$"
CST = timezone(timedelta(hours=8), "CST")

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page in the visitor's language (a ``?lang=`` choice is kept in a cookie for a year)."""
    lang, chosen = pick_lang(request)
    t = translator(lang)
    other = "en" if lang == "zh" else "zh"
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "html_lang": HTML_LANG[lang],
            "other_lang": other,
            "switch_href": "?" + urlencode({**request.query_params, "lang": other}),
            "t": t,
            "words": json.dumps(
                {k: v for k, v in MESSAGES[lang].items() if not k.startswith(SERVER_ONLY)}, ensure_ascii=False
            ),
            **context,
        },
        status_code=status_code,
    )
    if chosen:
        response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/assets/{name}")
def asset(name: str) -> FileResponse:
    """The pages' stylesheet and scripts: files of this package only, nothing from elsewhere."""
    path = STATIC / name
    if not ASSET.match(name) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {name}")
    return FileResponse(
        path,
        media_type=MEDIA[name.rsplit(".", 1)[1]],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


def code_problem(code: str) -> tuple[str, dict] | None:
    """What is wrong with a typed unified social credit code, in the words of the page (None: nothing)."""
    if not code:
        return "check_err_empty", {}
    if len(code) != 18:
        return "check_err_length", {"n": len(code)}
    for pos, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            return "check_err_char", {"pos": pos, "char": char}
    if not code[2:8].isdigit():
        return "check_err_division", {}
    try:
        validate_uscc(code)
    except IdentifierError:
        return "check_err_check", {}
    return None


def beijing_time(iso: str) -> str:
    """HH:MM in China Standard Time (UTC+8 all year), as a counter clerk reads a clock."""
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%H:%M")


@router.get("/check", response_class=HTMLResponse)
def check(
    request: Request,
    session: SessionDep,
    code: Annotated[str | None, Query(max_length=200)] = None,
    live: Annotated[str | None, Query(max_length=400)] = None,
):
    """The public licence check: no sign-in, the same answer as GET /api/v1/public/licences/{code};
    with ``live`` (the QR code of an e-licence shown on a phone), whether it was shown live."""
    if code is None:
        return render(request, "check.html", code="")
    typed = re.sub(r"\s+", "", code).upper()
    try:
        request.app.state.public_limit.check(request.client.host if request.client else "?")
    except RateLimited as exc:
        response = render(request, "check.html", 429, code=typed, limited=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    problem = code_problem(typed)
    if problem is not None:
        return render(request, "check.html", code=code.strip(), problem=problem)
    found, _case = licence_status(session, typed)
    shown = None
    if live is not None:
        verdict, until = judge_live(gateway_keyring(request), found.code, live, datetime.now(UTC))
        shown = {"verdict": verdict, "until": beijing_time(until) if until else None}
    return render(request, "check.html", code=typed, found=found, live=shown)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request) -> HTMLResponse:
    settings = request.app.state.settings  # demo accounts are named only where they are seeded
    return render(request, "sign_in.html", demo=settings.demo_accounts and settings.environment != "production")


@router.get("/apply", response_class=HTMLResponse)
def apply(request: Request) -> HTMLResponse:
    return render(request, "apply.html", divisions=JINAN_DIVISIONS)


@router.get("/cases/{case_id}/correct", response_class=HTMLResponse)
def correct(request: Request, case_id: str) -> HTMLResponse:
    """The application form again, filled in with the returned application, to resubmit it."""
    if not re.match(CASE_ID, case_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    return render(request, "apply.html", divisions=JINAN_DIVISIONS, correct=case_id)


@router.get("/my-cases", response_class=HTMLResponse)
def my_cases(request: Request) -> HTMLResponse:
    return render(request, "my_cases.html")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, case_id: str) -> HTMLResponse:
    if not re.match(CASE_ID, case_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    return render(
        request,
        "case.html",
        case_id=case_id,
        new=request.query_params.get("new") == "1",
        corrected=request.query_params.get("corrected") == "1",
    )


@router.get("/health-card", response_class=HTMLResponse)
def health_card(request: Request) -> HTMLResponse:
    return render(request, "health_card.html")


@router.get("/credit", response_class=HTMLResponse)
def credit(request: Request) -> HTMLResponse:
    return render(request, "credit.html", banks=list(BANKS), categories=list(CATEGORIES))


@router.get("/bank", response_class=HTMLResponse)
def bank(request: Request) -> HTMLResponse:
    return render(request, "bank.html")


@router.get("/hospital", response_class=HTMLResponse)
def hospital(request: Request) -> HTMLResponse:
    return render(request, "hospital.html")


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request) -> HTMLResponse:
    return render(request, "queue.html")


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request) -> HTMLResponse:
    return render(request, "audit.html")
