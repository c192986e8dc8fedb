"""Need to know, in-process (a fake Temporal client): a clerk sees only the cases their agency holds
a step of, and of the application only the fields those steps read; an admin reads no personal
data; everyone but the applicant says why; every read is logged and the applicant lists the log."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from gateway.access import fields_for
from gateway.casework import record_case
from gateway.credit_schemas import CreditApplication, CreditConsentApplication
from gateway.schemas import HealthCardApplication, RegistrationApplication
from gateway.store import ApplicationRead, CaseKey
from tests.fixtures.stack import application
from workflows.catalog import builtin_flows
from workflows.engine import CaseWorkflow
from workflows.flows import StepDef, extract

PURPOSE = "tax registration of the new company"
BOTH_OPTIONS = {"bank_account": True, "housing_fund": True}


def read(gw, case_id: str, user: str, purpose: str | None = PURPOSE):
    params = {} if purpose is None else {"purpose": purpose}
    return gw.http.get(f"/api/v1/cases/{case_id}/application", params=params, headers=gw.login(user))


def reads_logged(gw) -> int:
    with gw.session() as session:
        return session.exec(select(func.count()).select_from(ApplicationRead)).one()


def with_options(**options) -> dict:
    app = application()
    app["options"] = options
    return app


def section(app: dict, *keys: str) -> dict:
    return {k: app[k] for k in keys}


# what each agency's steps need, and nothing else
EXPECTED = {
    "market_regulation": lambda a: section(a, "company", "legal_representative", "shareholders"),
    "public_security": lambda a: {
        "company": section(a["company"], "name", "division"),
        "legal_representative": a["legal_representative"],
    },
    "tax": lambda a: section(a, "company", "legal_representative", "contact", "expected_annual_sales_cny"),
    "human_resources": lambda a: section(a, "company", "employees", "contact"),
    "housing_fund": lambda a: section(a, "company", "employees"),
    "bank": lambda a: {
        "company": {"name": a["company"]["name"]},
        "legal_representative": a["legal_representative"],
        "contact": a["contact"],
    },
}


@pytest.mark.parametrize("agency", sorted(EXPECTED))
def test_a_clerk_reads_only_the_fields_their_agencys_steps_need(in_process_gateway, fake_temporal, agency):
    case_id = in_process_gateway.open_case(with_options(**BOTH_OPTIONS))
    submitted = fake_temporal.started[case_id].application
    resp = read(in_process_gateway, case_id, f"clerk-{agency}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == EXPECTED[agency](submitted)
    assert "options" not in resp.json() and "flow" not in resp.json()


@pytest.mark.parametrize("agency", ["bank", "housing_fund"])
def test_a_clerk_whose_agency_holds_no_step_finds_no_case(in_process_gateway, agency):
    case_id = in_process_gateway.open_case()  # no bank account, no housing fund
    gw, clerk = in_process_gateway, f"clerk-{agency}"
    no_case = {"detail": f"no case {case_id}"}
    resp = read(gw, case_id, clerk)
    assert (resp.status_code, resp.json()) == (404, no_case)
    for resp in (
        gw.http.get(f"/api/v1/cases/{case_id}", headers=gw.login(clerk)),
        gw.http.post(
            f"/api/v1/cases/{case_id}/decision",
            json={"decision": "approve", "step": "bank_account"},
            headers=gw.login(clerk),
        ),
    ):
        assert (resp.status_code, resp.json()) == (404, no_case)
    assert gw.http.get("/api/v1/cases", headers=gw.login(clerk)).json() == []
    assert reads_logged(gw) == 0


def test_a_clerk_lists_only_the_cases_their_agency_holds_a_step_of(in_process_gateway):
    gw = in_process_gateway
    plain, banked = gw.open_case(), gw.open_case(with_options(bank_account=True))

    def listed(user: str) -> list[str]:
        return [c["case_id"] for c in gw.http.get("/api/v1/cases", headers=gw.login(user)).json()]

    assert listed("clerk-bank") == [banked]
    assert listed("clerk-housing_fund") == []
    assert set(listed("clerk-tax")) == set(listed("auditor")) == set(listed("admin")) == {plain, banked}


def test_an_admin_reads_no_application_and_lists_cases_without_personal_data(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    for purpose in (None, PURPOSE):
        resp = read(gw, case_id, "admin", purpose)
        refused = {"detail": "admins operate the system; they do not read personal data"}
        assert (resp.status_code, resp.json()) == (403, refused)
    (summary,) = gw.http.get("/api/v1/cases", headers=gw.login("admin")).json()
    assert set(summary) == {"case_id", "flow", "status", "created_at"} and summary["case_id"] == case_id
    assert reads_logged(gw) == 0


@pytest.mark.parametrize(
    "purpose,rule",
    [
        (None, "say why you read this application"),
        ("x", "must be 2 to 200 characters once trimmed, not 1"),
        ("  x  ", "must be 2 to 200 characters once trimmed, not 1"),
        ("a" * 201, "must be 2 to 200 characters once trimmed, not 201"),
        ("check\x07", "control characters"),
        ("check\u202e", "format characters"),
    ],
    ids=["missing", "too_short", "short_once_stripped", "too_long", "control_character", "bidi_override"],
)
def test_a_clerk_who_does_not_say_why_is_refused_naming_the_purpose(in_process_gateway, purpose, rule):
    case_id = in_process_gateway.open_case()
    resp = read(in_process_gateway, case_id, "clerk-tax", purpose)
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["loc"] == ["query", "purpose"] and rule in error["msg"]
    assert reads_logged(in_process_gateway) == 0


def test_every_read_is_logged_and_the_applicant_lists_them(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    assert read(gw, case_id, "applicant", purpose=None).status_code == 200
    assert read(gw, case_id, "clerk-tax", purpose=f"  {PURPOSE}  ").status_code == 200
    assert read(gw, case_id, "clerk-market_regulation", purpose="licence review").status_code == 200
    assert read(gw, case_id, "admin").status_code == 403  # refused: nothing read, nothing logged
    resp = gw.http.get(f"/api/v1/cases/{case_id}/reads", headers=gw.login("applicant"))
    assert resp.status_code == 200
    log = resp.json()
    assert [{k: v for k, v in r.items() if k != "read_at"} for r in log] == [
        {
            "reader": "applicant",
            "role": "applicant",
            "agency": None,
            "purpose": None,
            "fields": [
                "company",
                "contact",
                "employees",
                "expected_annual_sales_cny",
                "flow",
                "legal_representative",
                "options",
                "shareholders",
            ],
        },
        {
            "reader": "clerk-tax",
            "role": "clerk",
            "agency": "tax",
            "purpose": PURPOSE,
            "fields": ["company", "contact", "expected_annual_sales_cny", "legal_representative"],
        },
        {
            "reader": "clerk-market_regulation",
            "role": "clerk",
            "agency": "market_regulation",
            "purpose": "licence review",
            "fields": ["company", "legal_representative", "shareholders"],
        },
    ]
    assert [r["read_at"] for r in log] == sorted(r["read_at"] for r in log)
    assert gw.http.get(f"/api/v1/cases/{case_id}/reads", headers=gw.login("auditor")).json() == log


def test_no_one_else_reads_an_applicants_case_or_its_log(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    assert read(gw, case_id, "clerk-tax").status_code == 200
    gw.add_user("applicant-2", "applicant")
    no_case = {"detail": f"no case {case_id}"}
    for path in ("reads", "application"):
        resp = gw.http.get(f"/api/v1/cases/{case_id}/{path}", headers=gw.login("applicant-2"))
        assert (resp.status_code, resp.json()) == (404, no_case)
    for user in ("clerk-tax", "admin"):
        assert gw.http.get(f"/api/v1/cases/{case_id}/reads", headers=gw.login(user)).status_code == 403
    assert reads_logged(gw) == 1


def test_once_erased_an_optional_step_is_held_only_if_it_ran(in_process_gateway, fake_temporal):
    gw = in_process_gateway
    ran, never_ran = (gw.open_case(with_options(bank_account=True)) for _ in range(2))
    for case_id, state in ((ran, "running"), (never_ran, "waiting")):
        status = CaseWorkflow(fake_temporal.started[case_id]).status()
        next(s for s in status.steps if s.step == "bank_account").state = state
        status.revision = 1
        with gw.session() as session:
            record_case(session, status)
            session.delete(session.get(CaseKey, case_id))
            session.commit()
    headers = gw.login("clerk-bank")
    assert gw.http.get(f"/api/v1/cases/{ran}", headers=headers).status_code == 200
    assert read(gw, ran, "clerk-bank").status_code == 410
    assert gw.http.get(f"/api/v1/cases/{never_ran}", headers=headers).status_code == 404
    assert [c["case_id"] for c in gw.http.get("/api/v1/cases", headers=headers).json()] == [ran]


# Flows the gateway opens itself (a hospital's check, a lost card), with the fields it fills in.
GATEWAY_BUILT = {
    "health_card_visit": {"code", "pin", "hospital", "channel"},
    "health_card_revocation": {"card_number", "resident.id_number", "reason", "reissue"},
    "sme_credit_consent_revocation": {"company.uscc", "consent_id"},
    "sme_credit_consent_expiry": {"company.uscc", "consent_id"},
    "case_erasure": {"erased_case", "reason_commitment"},
}


def test_every_field_a_builtin_step_reads_is_a_field_of_the_application():
    models = {"business_registration": RegistrationApplication, "health_card": HealthCardApplication}
    models |= {"sme_credit_consent": CreditConsentApplication, "sme_credit": CreditApplication}
    stored = {"health_card": {"pin_hash"}}  # kept in place of what was submitted (the PIN's hash)
    stored["sme_credit"] = {"bank", "read"}  # filled in from the product
    assert set(models) | set(GATEWAY_BUILT) >= set(builtin_flows()), "a flow nobody can open"
    for flow in builtin_flows().values():
        for step in flow.steps:
            for path in step.reads:
                if flow.name in GATEWAY_BUILT or path in stored.get(flow.name, set()):
                    assert path in GATEWAY_BUILT.get(flow.name, stored.get(flow.name)), f"{flow.name} reads {path}"
                    continue
                model = models[flow.name]
                for part in path.split("."):
                    assert part in model.model_fields, f"{flow.name}.{step.id} reads {path}, which is not a field"
                    model = model.model_fields[part].annotation


def test_a_section_read_whole_covers_its_fields_and_a_field_brings_only_itself():
    steps = [
        StepDef(id="a", title="a", agency="bank", reads=["company.name", "contact"]),
        StepDef(id="b", title="b", agency="bank", reads=["company", "contact.phone"]),
    ]
    assert fields_for(steps) == ["company", "contact"]
    app = {"company": {"name": "n", "division": "d"}, "contact": {"phone": "p"}, "employees": 3}
    got = extract(app, ["company.name", "contact.email", "employees", "shareholders"])
    assert got == {"company": {"name": "n"}, "employees": 3}
