"""Every endpoint the gateway serves (read from its OpenAPI document) × every kind of caller, with
the status each must get: the table is the access policy of DESIGN.md written out, and a route
missing from it fails the test, so a new endpoint cannot ship without its row.

The case is an applicant's registration without the optional steps (so housing fund and bank
hold no step of it), recorded as completed; Temporal is faked (updates are accepted) and the
ledger is unreachable (routes that need it answer 503 to those who may call them)."""

from __future__ import annotations

import pytest

from agencies.identifiers import random_uscc
from gateway.casework import record_case
from tests.fixtures.stack import application
from workflows.engine import CaseWorkflow

CALLERS = (
    "anonymous",
    "applicant",
    "other-applicant",
    "clerk-market_regulation",
    "clerk-public_security",
    "clerk-tax",
    "clerk-human_resources",
    "clerk-housing_fund",
    "clerk-bank",
    "clerk-hospital_qilu",
    "auditor",
    "admin",
)
HOLDING = {"clerk-market_regulation", "clerk-public_security", "clerk-tax", "clerk-human_resources"}
NOT_HOLDING = {"clerk-housing_fund", "clerk-bank", "clerk-hospital_qilu"}


def statuses(default: int, **named: int) -> dict[str, int]:
    """``default`` for every caller not named; callers named by role group (see GROUPS)."""
    out = dict.fromkeys(CALLERS, default)
    for group, status in named.items():
        for caller in GROUPS[group]:
            out[caller] = status
    return out


GROUPS = {
    "anonymous": {"anonymous"},
    "owner": {"applicant"},
    "stranger": {"other-applicant"},
    "applicants": {"applicant", "other-applicant"},
    "holding": HOLDING,
    "not_holding": NOT_HOLDING,
    "hospital": {"clerk-hospital_qilu"},
    "clerks": HOLDING | NOT_HOLDING,
    "auditor": {"auditor"},
    "admin": {"admin"},
    "public_security": {"clerk-public_security"},
}
UNKNOWN_LICENCE = random_uscc("370102")  # well formed, and issued to nobody
UNKNOWN_CARD = "370100000000000000"  # a health card nobody holds

# The access policy, endpoint by endpoint. 401: not signed in; 403: the role may never do this;
# 404: the case is not one this caller may see (as if it did not exist); 409/422: the caller may,
# but not now or not so; 503: allowed, and the unreachable ledger or engine answered for it.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("POST", "/api/v1/auth/token"): statuses(200, anonymous=401),  # anonymous: a wrong password
    ("GET", "/api/v1/auth/me"): statuses(200, anonymous=401),
    ("POST", "/api/v1/auth/logout"): statuses(204, anonymous=401),
    ("POST", "/api/v1/cases"): statuses(403, anonymous=401, applicants=201),
    ("GET", "/api/v1/cases"): statuses(200, anonymous=401),  # each sees their own list
    ("GET", "/api/v1/cases/{case_id}"): statuses(200, anonymous=401, stranger=404, not_holding=404),
    ("GET", "/api/v1/cases/{case_id}/events"): statuses(200, anonymous=401, stranger=404, not_holding=404),
    ("GET", "/api/v1/cases/{case_id}/evidence"): statuses(403, anonymous=401, auditor=503, admin=503),
    ("GET", "/api/v1/cases/{case_id}/application"): statuses(
        403, anonymous=401, owner=200, stranger=404, holding=200, not_holding=404
    ),
    ("GET", "/api/v1/cases/{case_id}/reads"): statuses(403, anonymous=401, owner=200, stranger=404, auditor=200),
    ("POST", "/api/v1/cases/{case_id}/correction"): statuses(403, anonymous=401, owner=200, stranger=404),
    ("POST", "/api/v1/cases/{case_id}/withdrawal"): statuses(403, anonymous=401, owner=200, stranger=404),
    ("GET", "/api/v1/queue"): statuses(403, anonymous=401, clerks=200, admin=422),  # admin: name the agency
    ("GET", "/api/v1/escalations"): statuses(403, anonymous=401, clerks=200, admin=422),
    # holding clerks may decide, but no step of theirs awaits a decision on a completed case
    ("POST", "/api/v1/cases/{case_id}/decision"): statuses(403, anonymous=401, holding=409, not_holding=404),
    ("GET", "/api/v1/audit/deployment"): statuses(403, anonymous=401, auditor=200),
    ("GET", "/api/v1/audit/handoffs"): statuses(403, anonymous=401, auditor=200),
    ("GET", "/api/v1/audit/service-levels"): statuses(403, anonymous=401, auditor=200),
    # payloads in the clear: personal data, so auditors only (not even an admin)
    ("POST", "/api/v1/codec/decode"): statuses(403, anonymous=401, auditor=200),
    ("POST", "/api/v1/codec/session"): statuses(403, anonymous=401, auditor=204),  # the Web UI's cookie
    ("DELETE", "/api/v1/codec/session"): statuses(403, anonymous=401, auditor=204),
    ("GET", "/healthz"): statuses(503),  # public; the ledger is unreachable here
    ("GET", "/api/v1/public/licences/{code}"): statuses(200),  # public: "unknown"
    # the e-licence shows personal data: only the applicant it was issued to (nobody here: 404)
    ("GET", "/api/v1/public/licences/{code}/document.pdf"): statuses(403, anonymous=401, applicants=404),
    ("POST", "/api/v1/public/licences/{code}/live"): statuses(403, anonymous=401, applicants=404),
    # a resident's own cards; codes and revocations only of a card they hold (nobody here: 404)
    ("GET", "/api/v1/health-cards"): statuses(403, anonymous=401, applicants=200),
    ("POST", "/api/v1/health-cards/{card_number}/code"): statuses(403, anonymous=401, applicants=404),
    ("POST", "/api/v1/health-cards/{card_number}/revocation"): statuses(403, anonymous=401, applicants=404),
    # only a hospital's clerk checks a card (the fake engine never ends the check: 202, follow the case)
    ("POST", "/api/v1/health-cards/checks"): statuses(403, anonymous=401, hospital=202),
    # SME credit: products are public; a company's consents only to the applicant who registered it (none
    # here: 404); the reads after a consent ended to the auditor
    ("GET", "/api/v1/credit/products"): statuses(200),
    ("GET", "/api/v1/credit/companies/{uscc}"): statuses(403, anonymous=401, applicants=404),
    ("POST", "/api/v1/credit/consents/{consent_id}/revocation"): statuses(403, anonymous=401, applicants=404),
    ("GET", "/api/v1/credit/audit"): statuses(403, anonymous=401, auditor=200),
    ("POST", "/api/v1/credit/expiries"): statuses(403, anonymous=401, admin=200),  # the operator's sweep
    ("GET", "/api/v1/credit/consents/{consent_id}"): statuses(403, anonymous=401, auditor=404),  # none recorded here
    # the reasons given on a case, with their salts: its applicant and auditors
    ("GET", "/api/v1/cases/{case_id}/notes"): statuses(403, anonymous=401, owner=200, stranger=404, auditor=200),
    # what the agencies issued: the applicant's; a clerk only their agency's (public security's seals here;
    # nothing recorded: 404); auditors and admins read nobody's papers
    ("GET", "/api/v1/cases/{case_id}/documents"): statuses(
        200, anonymous=401, stranger=404, not_holding=404, auditor=403, admin=403
    ),
    ("GET", "/api/v1/cases/{case_id}/documents/{step}.pdf"): statuses(
        403, anonymous=401, owner=404, stranger=404, not_holding=404, public_security=404
    ),
    # last: the admin erases the (completed) case; nobody else may
    ("POST", "/api/v1/cases/{case_id}/erasure"): statuses(403, anonymous=401, admin=201),
}


@pytest.fixture
def world(in_process_gateway, fake_temporal, monkeypatch):
    monkeypatch.setattr("gateway.api.health_cards.CHECK_WAIT_S", 0.2)
    gw = in_process_gateway
    gw.add_user("other-applicant", "applicant")
    case_id = gw.open_case(application())
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    status.state, status.revision = "completed", 1
    for st in status.steps:
        st.state = "completed" if st.step not in ("bank_account", "housing_fund") else "skipped"
    with gw.session() as session:
        record_case(session, status)
    tokens = {c: ({} if c == "anonymous" else gw.login(c)) for c in CALLERS}
    return gw, case_id, tokens


def call(gw, method: str, path: str, case_id: str, headers: dict, caller: str):
    url = (
        path.replace("{case_id}", case_id)
        .replace("{code}", UNKNOWN_LICENCE)
        .replace("{card_number}", UNKNOWN_CARD)
        .replace("{uscc}", UNKNOWN_LICENCE)
        .replace("{consent_id}", "YDT2026010100000000")
        .replace("{step}", "seal_approval")
    )
    body = None
    if (method, path) == ("POST", "/api/v1/auth/token"):
        user = "applicant" if caller == "anonymous" else caller
        password = "wrong password" if caller == "anonymous" else caller
        return gw.http.post(url, data={"username": user, "password": password})
    if (method, path) == ("POST", "/api/v1/auth/logout") and headers:
        headers = gw.login(caller)  # a token of its own: the others stay signed in
    if (method, path) == ("POST", "/api/v1/cases"):
        body = application()
    elif path.endswith("/correction"):
        body = application()
    elif path.endswith("/withdrawal"):
        body = {"reason": "changed plans"}
    elif path.endswith("/decision"):
        body = {"decision": "approve"}
    elif path.endswith("/revocation"):
        body = {"reason": "lost"}
    elif path.endswith("/checks"):
        body = {"code": f"EHC:{UNKNOWN_CARD}", "pin": "135790"}
    elif path.endswith("/erasure"):
        body = {"reason": "role matrix check"}
    elif path.endswith("/codec/decode"):
        body = {"payloads": []}
    if path.endswith("/application"):
        url += "?purpose=role matrix check"
    return gw.http.request(method, url, headers=headers, json=body)


def test_every_endpoint_answers_every_caller_as_the_policy_says(world):
    gw, case_id, tokens = world
    served = {(m.upper(), p) for p, ops in gw.http.get("/openapi.json").json()["paths"].items() for m in ops}
    assert served == set(MATRIX), (
        f"endpoints without a row: {served - set(MATRIX)}; rows without one: {set(MATRIX) - served}"
    )
    wrong = {}
    for (method, path), expected in MATRIX.items():
        got = {c: call(gw, method, path, case_id, tokens[c], c).status_code for c in CALLERS}
        if got != expected:
            wrong[f"{method} {path}"] = {c: (got[c], expected[c]) for c in CALLERS if got[c] != expected[c]}
    assert wrong == {}, "(got, expected) per caller: " + repr(wrong)
