"""Simulated agency back-ends: real rules, real identifiers, state in the agency's own SQLite.

Every action is idempotent per case: asking twice for the same case's licence returns the same
code, so retries and duplicate deliveries never produce a second agency action.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from agencies.accounts import (
    invoice_quota,
    random_bank_account,
    random_housing_fund_account,
    social_insurances,
    taxpayer_type,
)
from agencies.backend import Refused, parent_output
from agencies.consent import ConsentRegister
from agencies.credit import CreditServices
from agencies.health import HealthServices
from agencies.identifiers import (
    JINAN_DIVISIONS,
    IdentifierError,
    random_seal_number,
    random_uscc,
    refusal_without_the_number,
    validate_adult_resident_id,
    validate_resident_id,
)
from agencies.localdb import open_local
from agencies.names import NameRefused, parse_name
from agencies.register import LICENCES_TABLE, LicenceRegister
from agencies.scope import ScopeRefused, parse_scope
from workflows.authority import Keyring
from workflows.messages import CompensateInput, StepInput

SEAL_KINDS = ("official", "finance", "invoice", "contract", "legal_representative")


class ActionStore:
    """The back-end's records: one row per (case, action), names reserved and codes issued."""

    def __init__(self, path: Path):
        self._db = open_local(
            path,
            "CREATE TABLE IF NOT EXISTS actions "
            "(case_id TEXT, action TEXT, outputs TEXT, PRIMARY KEY (case_id, action))",
            "CREATE TABLE IF NOT EXISTS names (division TEXT, name TEXT, case_id TEXT, PRIMARY KEY (division, name))",
            "CREATE TABLE IF NOT EXISTS issued (kind TEXT, code TEXT, case_id TEXT, PRIMARY KEY (kind, code))",
            LICENCES_TABLE,
        )
        self._lock = threading.Lock()
        self._after_refusal: list[tuple[str, tuple]] = []

    @property
    def db(self):
        """The back-end's connection: its handlers' own tables live here, written inside ``once``."""
        return self._db

    def after_refusal(self, sql: str, params: tuple) -> None:
        """A write that must stand although the action is refused (a wrong PIN counts): run once the
        action's transaction is rolled back."""
        self._after_refusal.append((sql, params))

    def once(self, case_id: str, action: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``make`` once per (case, action) and remember its outputs, atomically."""
        with self._lock:
            row = self._db.execute(
                "SELECT outputs FROM actions WHERE case_id=? AND action=?", (case_id, action)
            ).fetchone()
            if row:
                return json.loads(row[0])
            self._db.execute("BEGIN IMMEDIATE")
            self._after_refusal = []
            try:
                outputs = make()
                self._db.execute(
                    "INSERT INTO actions VALUES (?,?,?)", (case_id, action, json.dumps(outputs, ensure_ascii=False))
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                for sql, params in self._after_refusal:
                    self._db.execute(sql, params)
                raise
            finally:
                self._after_refusal = []
            return outputs

    def issue_unique(self, kind: str, case_id: str, draw: Callable[[], str]) -> str:
        """A code of ``kind`` never issued before (drawn at random until one is free), recorded
        for ``case_id``. Called inside ``once``, so a retried step gets its first code back."""
        while True:
            code = draw()
            if self._db.execute("INSERT OR IGNORE INTO issued VALUES (?,?,?)", (kind, code, case_id)).rowcount:
                return code

    def register_licence(self, uscc: str, case_id: str, company_name: str, division: str, issued_on: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO licences VALUES (?,?,?,?,?,'valid',NULL)",
            (uscc, case_id, company_name, division, issued_on),
        )

    def revoke_licences(self, case_id: str, on: str) -> None:
        self._db.execute(
            "UPDATE licences SET status='revoked', revoked_on=? WHERE case_id=? AND status='valid'", (on, case_id)
        )

    def release_names(self, case_id: str) -> None:
        self._db.execute("DELETE FROM names WHERE case_id=?", (case_id,))

    def reserve_name(self, division: str, name: str, case_id: str) -> str | None:
        """Reserve ``name`` in ``division`` for ``case_id``; return the case holding it if taken."""
        row = self._db.execute("SELECT case_id FROM names WHERE division=? AND name=?", (division, name)).fetchone()
        if row and row[0] != case_id:
            return row[0]
        if not row:
            self._db.execute("INSERT INTO names VALUES (?,?,?)", (division, name, case_id))
        return None


def check_registration_items(application: dict[str, Any]) -> None:
    """What the registry checks again whatever the gateway let through: every resident ID (the
    legal representative's of someone at least 18) and a business scope from the catalogue."""
    people = [("legal_representative", application.get("legal_representative") or {})]
    people += [(f"shareholders[{i}]", s) for i, s in enumerate(application.get("shareholders") or [])]
    for where, person in people:
        check = validate_adult_resident_id if where == "legal_representative" else validate_resident_id
        try:
            check(str(person.get("id_number", "")))
        except IdentifierError as exc:
            raise Refused(f"{where}.id_number: {refusal_without_the_number(exc)}", "ResidentIdInvalid") from exc
    try:
        parse_scope(str((application.get("company") or {}).get("business_scope", "")))
    except ScopeRefused as exc:
        raise Refused(f"company.business_scope: {exc}", "ScopeRefused") from exc


class SimulatedBackend:
    """One class for every simulated agency; each step id maps to a handler method."""

    def __init__(
        self,
        agency: str,
        state_dir: Path,
        latency_s: float | None = None,
        register: LicenceRegister | None = None,
        gateway_keys: Keyring | None = None,
    ):
        """``latency_s`` (default: ONEVISIT_SIMULATED_LATENCY_S, else 0) makes each action take
        that long, as a real agency system would: for demos and for crash tests. ``register``: the
        licence register the agencies after market regulation consult (default: market
        regulation's, beside this agency's state). ``gateway_keys``: the gateway keys whose signature
        on a health card's dynamic code the health commission accepts."""
        self.agency = agency
        self.store_path = Path(state_dir) / f"{agency}-backend.db"
        self.store = ActionStore(self.store_path)
        self.register = register or LicenceRegister.beside(Path(state_dir))
        self.latency_s = float(os.environ.get("ONEVISIT_SIMULATED_LATENCY_S", "0")) if latency_s is None else latency_s
        self._handlers: dict[str, Callable[[StepInput], dict[str, Any]]] = {
            "name_check": self._name_check,
            "business_licence": self._business_licence,
            "seal_approval": self._seal_approval,
            "tax_registration": self._tax_registration,
            "social_security": self._social_security,
            "bank_account": self._bank_account,
            "housing_fund": self._housing_fund,
            "erasure_record": self._erasure_record,
            **HealthServices(self.store, agency, gateway_keys).handlers(),
            **CreditServices(self.store, agency, self.register, ConsentRegister.beside(Path(state_dir))).handlers(),
        }

    def perform(self, request: StepInput) -> dict[str, Any]:
        handler = self._handlers.get(request.step)
        if handler is None:
            raise Refused(f"{self.agency} has no simulated handler for step {request.step!r}", "UnknownStep")
        if self.latency_s:
            time.sleep(self.latency_s)
        return self.store.once(request.case_id, request.step, lambda: handler(request))

    def compensate(self, request: CompensateInput) -> dict[str, Any]:
        """Undo what this case's step did (release the name, void the order…), once."""

        def undo() -> dict[str, Any]:
            if request.action == "release_name":
                self.store.release_names(request.case_id)
            elif request.action == "revoke_licence":
                self.store.revoke_licences(request.case_id, date.today().isoformat())
            return {"undone": request.handoff.record.step, "undone_on": date.today().isoformat()}

        return self.store.once(request.case_id, f"compensate:{request.action}", undo)

    # market regulation -----------------------------------------------------------------------
    def _name_check(self, request: StepInput) -> dict[str, Any]:
        """Parse the name into its four parts (refusing, naming the part), then reserve its 字号 in
        its industry within the division; names reserved by cases in flight count."""
        company = request.application["company"]
        division = company["division"]
        try:
            name = parse_name(company["name"], JINAN_DIVISIONS.get(division, ""), tuple(JINAN_DIVISIONS.values()))
        except NameRefused as exc:
            raise Refused(str(exc), f"Name{exc.part.title().replace('_', '')}") from exc
        holder = self.store.reserve_name(division, name.key, request.case_id)
        if holder is not None:
            raise Refused(
                f"the trade name {name.trade_name!r} in {name.industry} is already registered or reserved "
                f"in division {division}",
                "NameTaken",
            )
        return {"company_name": name.name, "division": division, "name_reserved": True}

    def _business_licence(self, request: StepInput) -> dict[str, Any]:
        check_registration_items(request.application)
        division = request.application["company"]["division"]
        uscc = self.store.issue_unique("uscc", request.case_id, lambda: random_uscc(division))
        name, issued_on = parent_output(request, "company_name"), date.today().isoformat()
        self.store.register_licence(uscc, request.case_id, name, division, issued_on)
        return {"uscc": uscc, "company_name": name, "licence_date": issued_on}

    # the big data bureau, for the platform ----------------------------------------------------
    def _erasure_record(self, request: StepInput) -> dict[str, Any]:
        """Record that a case's personal data was erased: its commitment and the reason's, no more."""
        app = request.application
        for field in ("erased_case", "reason_commitment"):
            value = str(app.get(field) or "")
            if not (value.startswith("0x") and len(value) == 66):
                raise Refused(f"{field}: 0x followed by 64 hex digits", "ErasureInvalid")
        return {
            "erased_case": app["erased_case"],
            "reason_commitment": app["reason_commitment"],
            "erased_on": date.today().isoformat(),
        }

    # public security, tax, human resources ---------------------------------------------------
    def _seal_approval(self, request: StepInput) -> dict[str, Any]:
        """Seals only for a licence valid on the register now (not revoked, not unknown here)."""
        uscc = parent_output(request, "uscc")
        status = self.register.status(uscc)
        if status.status != "valid":
            raise Refused(
                f"the business licence {uscc} is {status.status} on the register: no seals", "LicenceNotValid"
            )
        seals = [
            {"kind": kind, "number": self.store.issue_unique("seal", request.case_id, random_seal_number)}
            for kind in SEAL_KINDS
        ]
        return {"seals": seals}

    def _tax_registration(self, request: StepInput) -> dict[str, Any]:
        """Taxpayer registration keyed on the credit code: the type from the declared annual sales,
        the division's tax authority and the first invoice quota."""
        division = request.application["company"]["division"]
        sales = int(request.application.get("expected_annual_sales_cny") or 0)
        return {
            "taxpayer_id": parent_output(request, "uscc"),
            "taxpayer_type": taxpayer_type(sales),
            "declared_annual_sales_cny": sales,
            "tax_office": f"国家税务总局济南市{JINAN_DIVISIONS.get(division, '')}税务局",
            "invoice_quota": invoice_quota(),
        }

    def _bank_account(self, request: StepInput) -> dict[str, Any]:
        uscc = parent_output(request, "uscc")
        account = self.store.issue_unique("bank_account", request.case_id, random_bank_account)
        return {"basic_account": account, "account_holder_uscc": uscc}

    def _housing_fund(self, request: StepInput) -> dict[str, Any]:
        division = request.application["company"]["division"]
        account = self.store.issue_unique(
            "housing_fund_account", request.case_id, lambda: random_housing_fund_account(division)
        )
        return {
            "housing_fund_unit_account": account,
            "unit_uscc": parent_output(request, "uscc"),
            "insured_staff": int(request.application.get("employees", 0)),
            "insurances": social_insurances(int(request.application.get("employees", 0))),
        }

    def _social_security(self, request: StepInput) -> dict[str, Any]:
        return {
            "social_security_employer_id": parent_output(request, "uscc"),
            "insured_staff": int(request.application.get("employees", 0)),
            "insurances": social_insurances(int(request.application.get("employees", 0))),
        }
