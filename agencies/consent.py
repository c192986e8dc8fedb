"""The company's consents to credit data sharing (一贷通), kept by the big data bureau's authorised
data-sharing platform: which banks may read which data about the company, until when.

A consent is valid while it is active (not revoked) and today is not past its ``expires_on`` (the
last day it may be used, inclusive). No public rule fixes a consent's validity (GOV-NOTES): here a
consent lasts at most a year and may be revoked at any time. Rows live in the big data bureau's
own store (its simulated back-end writes them); the agencies that serve a read check the same rows
again at the moment they read, through this read-only view, so a consent revoked after the check
stops every read still to come.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

PLATFORM = "big_data"
MAX_DAYS = 366

# data category -> (the agency that holds it, the step by which it is read)
CATEGORIES: dict[str, tuple[str, str]] = {
    "licence": ("market_regulation", "read_licence"),
    "tax": ("tax", "read_tax"),
    "social_security": ("human_resources", "read_social_security"),
    "housing_fund": ("housing_fund", "read_housing_fund"),
    "utilities": ("utilities", "read_utilities"),
    "court": ("court", "read_court"),
}
READ_STEPS = {step: category for category, (_, step) in CATEGORIES.items()}

CONSENTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS consents (consent_id TEXT PRIMARY KEY, uscc TEXT NOT NULL, banks TEXT NOT NULL, "
    "data TEXT NOT NULL, granted_on TEXT NOT NULL, expires_on TEXT NOT NULL, status TEXT NOT NULL, "
    "ended_on TEXT, case_id TEXT)"
)


class ConsentRefused(Exception):
    """No valid consent covers this read; ``code`` says why (NoConsent, BankNotConsented…)."""

    def __init__(self, reason: str, code: str, consent: Consent | None = None):
        super().__init__(reason)
        self.reason, self.code, self.consent = reason, code, consent


@dataclass(frozen=True)
class Consent:
    consent_id: str
    uscc: str
    banks: list[str]
    data: list[str]
    granted_on: str
    expires_on: str
    status: str  # active | revoked | expired
    ended_on: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def refusal(self, bank: str, data: list[str], today: date) -> ConsentRefused | None:
        """Why this consent does not cover ``bank`` reading ``data`` today, or None when it does."""
        cid = self.consent_id
        if self.status == "revoked":
            return ConsentRefused(f"consent {cid} was revoked on {self.ended_on}", "ConsentRevoked", self)
        if self.status == "expired" or date.fromisoformat(self.expires_on) < today:
            return ConsentRefused(f"consent {cid} expired after {self.expires_on}", "ConsentExpired", self)
        if bank not in self.banks:
            return ConsentRefused(
                f"consent {cid} does not name {bank} (it names {', '.join(self.banks)})", "BankNotConsented", self
            )
        outside = [d for d in data if d not in self.data]
        if outside:
            return ConsentRefused(
                f"consent {cid} does not cover {', '.join(outside)} (it covers {', '.join(self.data)})",
                "DataNotConsented",
                self,
            )
        return None


def consent_from_row(row: tuple) -> Consent:
    cid, uscc, banks, data, granted, expires, status, ended = row[:8]
    return Consent(cid, uscc, json.loads(banks), json.loads(data), granted, expires, status, ended)


SELECT = "SELECT consent_id, uscc, banks, data, granted_on, expires_on, status, ended_on FROM consents"


def covering(consents: list[Consent], uscc: str, bank: str, data: list[str], today: date) -> Consent:
    """The newest of the company's consents that lets ``bank`` read ``data`` today; else the reason
    the newest one naming this bank (or the newest at all) does not."""
    if not consents:
        raise ConsentRefused(f"the company {uscc} has granted no consent to credit data sharing", "NoConsent")
    refusals = []
    for consent in sorted(consents, key=lambda c: (c.granted_on, c.consent_id), reverse=True):
        refusal = consent.refusal(bank, data, today)
        if refusal is None:
            return consent
        refusals.append(refusal)
    naming = [r for r in refusals if bank in r.consent.banks]
    raise (naming or refusals)[0]


class ConsentRegister:
    """Read-only view of the platform's consents (the agencies serving reads check them again)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def beside(cls, state_dir: Path) -> ConsentRegister:
        """The platform's store next to an agency's state (as ``LicenceRegister.beside``)."""
        file = f"{PLATFORM}-backend.db"
        own_dirs = state_dir.parent / PLATFORM / file
        if own_dirs.exists() or (state_dir.parent.name == "agencies" and not (state_dir / file).exists()):
            return cls(own_dirs)
        return cls(state_dir / file)

    def of_company(self, uscc: str) -> list[Consent]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute(f"{SELECT} WHERE uscc=?", (uscc,)).fetchall()
        except sqlite3.OperationalError:  # the platform has recorded no consent yet
            rows = []
        finally:
            db.close()
        return [consent_from_row(r) for r in rows]

    def check(self, consent_id: str, uscc: str, bank: str, data: list[str], today: date) -> Consent:
        """The named consent, if it still lets ``bank`` read ``data`` about ``uscc`` today."""
        found = [c for c in self.of_company(uscc) if c.consent_id == consent_id]
        if not found:
            raise ConsentRefused(f"no consent {consent_id} of the company {uscc} on the platform", "NoConsent")
        refusal = found[0].refusal(bank, data, today)
        if refusal is not None:
            raise refusal
        return found[0]
