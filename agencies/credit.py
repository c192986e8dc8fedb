"""SME credit (一贷通) at the agencies. The big data bureau's platform records the company's consent
(which banks, which data, until when), its revocation, and checks it before a bank's product reads
anything; each agency holding data serves its read itself, checking the consent again as it reads;
the bank decides by its product's rules (``agencies/products.py``), offers, records the company's
acceptance and disburses. Each of these is a step of a flow (``workflows/definitions/sme_credit*.json``),
so every consent, read, refusal, decision and loan is a signed, anchored handoff.

The data is the agencies' own: the licence from market regulation's register; the headcount, the
housing-fund contributors and the tax registration from what those agencies registered for the
company; the taxes paid from its declared sales and its months in business; utilities and court
cases from those (simulated) agencies' own tables, empty for a company nobody billed or sued.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agencies.backend import Refused, parent_output
from agencies.consent import (
    CATEGORIES,
    CONSENTS_TABLE,
    MAX_DAYS,
    READ_STEPS,
    SELECT,
    Consent,
    ConsentRefused,
    ConsentRegister,
    consent_from_row,
    covering,
)
from agencies.directory import BANKS
from agencies.identifiers import IdentifierError, validate_uscc
from agencies.products import products
from agencies.register import LicenceRegister
from workflows.messages import StepInput

if TYPE_CHECKING:
    from agencies.simulated import ActionStore

SCHEMA = (
    CONSENTS_TABLE,
    "CREATE TABLE IF NOT EXISTS utility_arrears (uscc TEXT PRIMARY KEY, months INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS court_cases (case_number TEXT PRIMARY KEY, uscc TEXT NOT NULL, kind TEXT NOT NULL, "
    "status TEXT NOT NULL, filed_on TEXT NOT NULL, amount_cny INTEGER NOT NULL)",
)
OFFER_DAYS = 7
# the effective rate of tax on sales: a small-scale taxpayer's 1 % VAT (财政部 税务总局公告2023年第19号)
# with its surcharges; a general taxpayer's VAT net of input tax, with surcharges (a design value)
TAX_ON_SALES = {"small_scale": 0.0106, "general": 0.03}


def _today() -> date:
    return datetime.now(UTC).date()


def months_between(start: date, end: date) -> int:
    return max(0, (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day))


def _fraction(uscc: str, what: str) -> float:
    """A number in [0, 1) fixed for a company and a purpose: the simulated agencies' figures are the
    same at every read."""
    return int.from_bytes(hashlib.sha256(f"{what}/{uscc}".encode()).digest()[:8], "big") / 2**64


class CreditServices:
    """SME credit's handlers, on an agency's simulated back-end (its store, the registers it consults)."""

    def __init__(self, store: ActionStore, agency: str, register: LicenceRegister, consents: ConsentRegister):
        self.store, self.agency, self.register, self.consents = store, agency, register, consents
        for statement in SCHEMA:
            store.db.execute(statement)

    def handlers(self) -> dict[str, Any]:
        bank_steps = ("credit_decision", "credit_offer", "offer_acceptance", "disbursement")
        methods = (self.credit_decision, self.credit_offer, self.offer_acceptance, self.disbursement)
        return {
            "consent_grant": self.consent_grant,
            "consent_revoke": self.consent_revoke,
            "consent_expire": self.consent_expire,
            "consent_check": self.consent_check,
            **{step: self.read for step in READ_STEPS},
            **{f"{step}_{short}": m for short in BANKS.values() for step, m in zip(bank_steps, methods, strict=True)},
        }

    # the big data bureau's platform ----------------------------------------------------------
    def consent_grant(self, request: StepInput) -> dict[str, Any]:
        """The company's consent: a valid licence, known banks and data, an expiry within a year."""
        app, today = request.application, _today()
        uscc = self._company(app)
        licence = self.register.status(uscc)
        if licence.status != "valid":
            raise Refused(f"the business licence {uscc} is {licence.status} on the register", "LicenceNotValid")
        banks, data = list(app.get("banks") or []), list(app.get("data") or [])
        if not banks or any(b not in BANKS for b in banks) or len(set(banks)) != len(banks):
            raise Refused(f"banks: one or more of {', '.join(BANKS)}, each once", "BanksInvalid")
        if not data or any(d not in CATEGORIES for d in data) or len(set(data)) != len(data):
            raise Refused(f"data: one or more of {', '.join(CATEGORIES)}, each once", "DataInvalid")
        try:
            expires = date.fromisoformat(str(app.get("expires_on")))
        except ValueError as exc:
            raise Refused("expires_on: a date (YYYY-MM-DD)", "ExpiryInvalid") from exc
        if not today <= expires <= today + timedelta(days=MAX_DAYS):
            raise Refused(f"expires_on: from today to {MAX_DAYS} days ahead", "ExpiryInvalid")
        consent_id = self.store.issue_unique(
            "consent", request.case_id, lambda: f"YDT{today:%Y%m%d}{secrets.randbelow(10**8):08d}"
        )
        self.store.db.execute(
            "INSERT INTO consents VALUES (?,?,?,?,?,?,'active',NULL,?)",
            (
                consent_id,
                uscc,
                json.dumps(banks),
                json.dumps(data),
                today.isoformat(),
                expires.isoformat(),
                request.case_id,
            ),
        )
        return {
            "consent_id": consent_id,
            "uscc": uscc,
            "banks": banks,
            "data": data,
            "granted_on": today.isoformat(),
            "expires_on": expires.isoformat(),
            "consent_status": "active",
        }

    def consent_revoke(self, request: StepInput) -> dict[str, Any]:
        """The company withdraws a consent of its own: every read from now on is refused."""
        consent = self._own_consent(request.application)
        uscc, consent_id = consent.uscc, consent.consent_id
        if consent.status != "active":
            raise Refused(f"consent {consent_id} is already {consent.status} ({consent.ended_on})", "ConsentEnded")
        if date.fromisoformat(consent.expires_on) < _today():
            raise Refused(f"consent {consent_id} already expired after {consent.expires_on}", "ConsentEnded")
        today = _today().isoformat()
        self.store.db.execute(
            "UPDATE consents SET status='revoked', ended_on=? WHERE consent_id=?", (today, consent_id)
        )
        return {"consent_id": consent_id, "uscc": uscc, "consent_status": "revoked", "revoked_on": today}

    def consent_expire(self, request: StepInput) -> dict[str, Any]:
        """The record that a consent ran out (made by the platform's daily sweep once its last day has
        passed): no read was, or will be, served under it after ``expired_on``."""
        consent = self._own_consent(request.application)
        if consent.status == "revoked":
            raise Refused(f"consent {consent.consent_id} was revoked on {consent.ended_on}", "ConsentEnded")
        if date.fromisoformat(consent.expires_on) >= _today():
            raise Refused(f"consent {consent.consent_id} runs until {consent.expires_on}", "ConsentNotExpired")
        self.store.db.execute(
            "UPDATE consents SET status='expired', ended_on=? WHERE consent_id=?",
            (consent.expires_on, consent.consent_id),
        )
        return {"consent_id": consent.consent_id, "uscc": consent.uscc, "consent_status": "expired",
                "expired_on": consent.expires_on, "recorded_on": _today().isoformat()}  # fmt: skip

    def _own_consent(self, app: dict[str, Any]) -> Consent:
        uscc, consent_id = self._company(app), str(app.get("consent_id", ""))[:40]
        row = self.store.db.execute(f"{SELECT} WHERE consent_id=?", (consent_id,)).fetchone()
        if row is None or row[1] != uscc:
            raise Refused(f"the company {uscc} has no consent {consent_id}", "NoConsent")
        return consent_from_row(row)

    def consent_check(self, request: StepInput) -> dict[str, Any]:
        """Before any read: a consent of this company, active and unexpired, naming this bank and
        covering every datum the product reads. An expired consent found so is marked expired."""
        app, today = request.application, _today()
        uscc = self._company(app)
        product = products().get(str(app.get("product", "")))
        if product is None or product.bank != app.get("bank"):
            raise Refused(f"product: no product {app.get('product')!r} of {app.get('bank')!r}", "ProductUnknown")
        wanted = sorted(set(product.data) | {d for d, on in (app.get("read") or {}).items() if on})
        rows = self.store.db.execute(f"{SELECT} WHERE uscc=?", (uscc,)).fetchall()
        try:
            consent = covering([consent_from_row(r) for r in rows], uscc, product.bank, wanted, today)
        except ConsentRefused as refused:
            if refused.code == "ConsentExpired" and refused.consent.status == "active":
                self.store.after_refusal(  # the expiry stands although the read is refused
                    "UPDATE consents SET status='expired', ended_on=? WHERE consent_id=? AND status='active'",
                    (refused.consent.expires_on, refused.consent.consent_id),
                )
            raise Refused(f"read refused: {refused.reason}", refused.code) from refused
        return {
            "consent_id": consent.consent_id,
            "uscc": uscc,
            "bank": product.bank,
            "product": product.id,
            "data": wanted,
            "consent_expires_on": consent.expires_on,
            "checked_on": today.isoformat(),
        }

    # the agencies holding data ---------------------------------------------------------------
    def read(self, request: StepInput) -> dict[str, Any]:
        """One read under the consent the platform checked, checked again now: who read what, when."""
        category = READ_STEPS[request.step]
        uscc, bank, consent_id = (parent_output(request, k) for k in ("uscc", "bank", "consent_id"))
        try:
            self.consents.check(consent_id, uscc, bank, [category], _today())
        except ConsentRefused as refused:
            raise Refused(f"read refused: {refused.reason}", refused.code) from refused
        data = getattr(self, f"_{category}")(uscc)
        return {
            "category": category,
            "uscc": uscc,
            "consent_id": consent_id,
            "read_by": bank,
            "product": parent_output(request, "product"),
            "served_by": self.agency,
            "read_at": datetime.now(UTC).isoformat(timespec="seconds"),
            category: data,
        }

    def _months_licensed(self, uscc: str) -> int:
        issued = self.register.status(uscc).issued_on
        return months_between(date.fromisoformat(issued), _today()) if issued else 0

    def _licence(self, uscc: str) -> dict[str, Any]:
        status = self.register.status(uscc)
        return {
            "status": status.status,
            "company_name": status.company_name,
            "issued_on": status.issued_on,
            "months_since_issue": self._months_licensed(uscc),
            "revoked_on": status.revoked_on,
        }

    def _registered(self, action: str, key: str, uscc: str) -> dict[str, Any] | None:
        """What this agency registered for the company (its own record of the step)."""
        for (outputs,) in self.store.db.execute("SELECT outputs FROM actions WHERE action=?", (action,)):
            record = json.loads(outputs)
            if record.get(key) == uscc:
                return record
        return None

    def _tax(self, uscc: str) -> dict[str, Any]:
        record = self._registered("tax_registration", "taxpayer_id", uscc)
        if record is None:
            return {"registered": False, "paid_last_12_months_cny": 0, "credit_rating": None, "overdue_filings": 0}
        months = min(12, self._months_licensed(uscc))
        sales = record["declared_annual_sales_cny"] * months / 12 * (0.7 + 0.6 * _fraction(uscc, "sales"))
        rating = "M" if self._months_licensed(uscc) < 12 else "AB"[_fraction(uscc, "rating") >= 0.45]
        return {
            "registered": True,
            "taxpayer_type": record["taxpayer_type"],
            "months_filed": months,
            "paid_last_12_months_cny": round(sales * TAX_ON_SALES[record["taxpayer_type"]]),
            "credit_rating": rating,
            "overdue_filings": 0,
        }

    def _social_security(self, uscc: str) -> dict[str, Any]:
        record = self._registered("social_security", "social_security_employer_id", uscc)
        if record is None:
            return {"registered": False, "headcount": 0, "months_contributed": 0, "arrears": False}
        return {
            "registered": True,
            "headcount": record["insured_staff"],
            "months_contributed": min(12, self._months_licensed(uscc)),
            "arrears": False,
        }

    def _housing_fund(self, uscc: str) -> dict[str, Any]:
        record = self._registered("housing_fund", "unit_uscc", uscc)
        if record is None:
            return {"registered": False, "contributors": 0}
        return {
            "registered": True,
            "contributors": record["insured_staff"],
            "months_contributed": min(12, self._months_licensed(uscc)),
        }

    def _utilities(self, uscc: str) -> dict[str, Any]:
        months = min(12, self._months_licensed(uscc))
        monthly = {
            "water": 80 + round(400 * _fraction(uscc, "water")),
            "power": 600 + round(5000 * _fraction(uscc, "power")),
            "gas": round(900 * _fraction(uscc, "gas")),
        }
        row = self.store.db.execute("SELECT months FROM utility_arrears WHERE uscc=?", (uscc,)).fetchone()
        return {
            "months_billed": months,
            "paid_last_12_months_cny": months * sum(monthly.values()),
            "monthly_average_cny": monthly,
            "arrears_months": row[0] if row else 0,
        }

    def _court(self, uscc: str) -> dict[str, Any]:
        rows = self.store.db.execute(
            "SELECT case_number, kind, status, filed_on, amount_cny FROM court_cases WHERE uscc=? ORDER BY filed_on",
            (uscc,),
        ).fetchall()
        cases = [dict(zip(("case_number", "kind", "status", "filed_on", "amount_cny"), r, strict=True)) for r in rows]
        return {
            "open_cases": sum(c["status"] == "open" for c in cases),
            "closed_cases": sum(c["status"] != "open" for c in cases),
            "cases": cases,
        }

    # the lending banks -----------------------------------------------------------------------
    def credit_decision(self, request: StepInput) -> dict[str, Any]:
        """The product's rules over what was read: approved with an amount and a rate, or declined
        with every rule the company fails."""
        app = request.application
        product = products().get(str(app.get("product", "")))
        if product is None or product.bank != self.agency:
            raise Refused(f"product: {self.agency} has no product {app.get('product')!r}", "ProductUnknown")
        facts = {
            p.record.outputs["category"]: p.record.outputs[p.record.outputs["category"]]
            for p in request.parents
            if "category" in p.record.outputs
        }
        unread = [d for d in product.data if d not in facts]
        if unread:
            raise Refused(f"the product needs data that was not read: {', '.join(unread)}", "DataMissing")
        approved, reasons, amount = product.decide(facts, int(app.get("amount_cny", 0)), int(app.get("term_months", 0)))
        if not approved:
            raise Refused(f"{product.title} declined: {'; '.join(reasons)}", "CreditDeclined")
        consent = {p.record.outputs["consent_id"] for p in request.parents if "consent_id" in p.record.outputs}
        return {
            "decision": "approved",
            "bank": self.agency,
            "product": product.id,
            "amount_cny": amount,
            "rate_percent": product.rate_percent,
            "term_months": int(app["term_months"]),
            "reasons": reasons,
            "read": sorted(facts),
            "consent_id": ",".join(sorted(consent)),
        }

    def credit_offer(self, request: StepInput) -> dict[str, Any]:
        today = _today()
        offer = self.store.issue_unique(
            "offer", request.case_id, lambda: f"{self.agency.upper()}-{today:%Y%m%d}-{secrets.token_hex(4).upper()}"
        )
        return {
            "offer_id": offer,
            "bank": self.agency,
            "amount_cny": parent_output(request, "amount_cny"),
            "rate_percent": parent_output(request, "rate_percent"),
            "term_months": parent_output(request, "term_months"),
            "repayment": "monthly interest, principal at term",
            "valid_until": (today + timedelta(days=OFFER_DAYS)).isoformat(),
        }

    def offer_acceptance(self, request: StepInput) -> dict[str, Any]:
        """The company's acceptance, given with its application (the highest rate and least amount it
        takes): an offer outside them is declined by the company, and nothing is lent."""
        terms = request.application.get("acceptance") or {}
        rate, amount = parent_output(request, "rate_percent"), parent_output(request, "amount_cny")
        if rate > float(terms.get("max_rate_percent", 0)):
            raise Refused(
                f"the company declines the offer: {rate} % is above its {terms.get('max_rate_percent')} %",
                "OfferDeclined",
            )
        if amount < int(terms.get("min_amount_cny", 0)):
            raise Refused(
                f"the company declines the offer: {amount:,} yuan is below its {terms.get('min_amount_cny'):,}",
                "OfferDeclined",
            )
        contract = self.store.issue_unique(
            "loan_contract", request.case_id, lambda: f"JK{_today():%Y%m%d}{secrets.randbelow(10**8):08d}"
        )
        return {
            "offer_id": parent_output(request, "offer_id"),
            "accepted": True,
            "contract_number": contract,
            "amount_cny": amount,
            "accepted_on": _today().isoformat(),
        }

    def disbursement(self, request: StepInput) -> dict[str, Any]:
        uscc = str((request.application.get("company") or {}).get("uscc", ""))
        return {
            "contract_number": parent_output(request, "contract_number"),
            "borrower_uscc": uscc,
            "disbursed_cny": parent_output(request, "amount_cny"),
            "disbursed_on": _today().isoformat(),
            "loan_account": self.store.issue_unique(
                "loan_account", request.case_id, lambda: f"{secrets.randbelow(10**16):016d}"
            ),
        }

    @staticmethod
    def _company(app: dict[str, Any]) -> str:
        try:
            return validate_uscc(str((app.get("company") or {}).get("uscc", "")))
        except IdentifierError as exc:
            raise Refused(f"company.uscc: {exc}", "CreditCodeInvalid") from exc
