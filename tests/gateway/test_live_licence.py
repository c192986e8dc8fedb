"""The e-licence shown live on a phone (亮照): only its holder makes a live QR code, which the
public check judges current, expired (a screenshot goes stale) or invalid (forged, for another
code, or by a key the gateway does not hold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agencies.identifiers import random_uscc
from gateway.api.public import live_token
from gateway.casework import record_handoff
from tests.gateway.test_public_licence import licence_handoff
from workflows.authority import GatewaySigner


@pytest.fixture
def issued(in_process_gateway):
    gw = in_process_gateway
    case_id, uscc = gw.open_case(), random_uscc("370102")
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(uscc))
    return gw, case_id, uscc


def live(gw, uscc: str, user: str = "applicant"):
    return gw.http.post(f"/api/v1/public/licences/{uscc}/live", headers=gw.login(user))


def judged(gw, uscc: str, token: str) -> dict:
    return gw.http.get(f"/api/v1/public/licences/{uscc}", params={"live": token}).json()


def test_the_holders_live_code_checks_current_on_the_api_and_the_page(issued):
    gw, _, uscc = issued
    made = live(gw, uscc)
    assert made.status_code == 200 and made.json()["qr_svg"].startswith("data:image/svg+xml")
    url = urlparse(made.json()["url"])
    query = parse_qs(url.query)
    assert url.path == "/check" and query["code"] == [uscc]
    answer = judged(gw, uscc, query["live"][0])
    assert (answer["status"], answer["live"], answer["live_until"]) == ("valid", "current", made.json()["expires_at"])
    until = datetime.fromisoformat(made.json()["expires_at"])
    assert timedelta(minutes=2) < until - datetime.now(UTC) <= timedelta(minutes=3)
    page = gw.http.get("/check", params={"code": uscc, "live": query["live"][0], "lang": "en"}).text
    assert 'data-live="current"' in page and "Shown live" in page
    assert gw.http.get("/check", params={"code": uscc}).text.count("data-live") == 0  # the printed QR: no token


def test_only_the_holder_makes_one(issued):
    gw, _, uscc = issued
    gw.add_user("other-applicant", "applicant")
    assert live(gw, uscc, "other-applicant").status_code == 404
    assert live(gw, random_uscc("370102")).status_code == 404
    assert live(gw, uscc, "clerk-market_regulation").status_code == 403
    assert gw.http.post(f"/api/v1/public/licences/{uscc}/live").status_code == 401


def test_a_stale_forged_or_borrowed_code_is_not_live(issued, tmp_path):
    gw, case_id, uscc = issued
    token = parse_qs(urlparse(live(gw, uscc).json()["url"]).query)["live"][0]
    signer = GatewaySigner.load(tmp_path / "keys" / "gateway.pem")  # the gateway's own key
    stale, _ = live_token(signer, uscc, datetime.now(UTC) - timedelta(minutes=4))
    assert judged(gw, uscc, stale)["live"] == "expired"
    other = random_uscc("370102")
    with gw.session() as session:
        record_handoff(session, gw.open_case(), *licence_handoff(other))
    assert judged(gw, other, token)["live"] == "invalid"  # signed for another licence
    foreign, _ = live_token(GatewaySigner(Ed25519PrivateKey.generate()), uscc, datetime.now(UTC))
    assert judged(gw, uscc, foreign)["live"] == "invalid"
    key, nonce, expires, signature = token.split("~")
    later = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    assert judged(gw, uscc, "~".join((key, nonce, later, signature)))["live"] == "invalid"  # expiry moved
    for junk in ("", "~~~", "x" * 399, "a~b~c~d~e"):
        assert judged(gw, uscc, junk)["live"] == "invalid"
    assert gw.http.get(f"/api/v1/public/licences/{uscc}", params={"live": "x" * 401}).status_code == 422
    page = gw.http.get("/check", params={"code": uscc, "live": stale}).text
    assert 'data-live="expired"' in page and "过期" in page
