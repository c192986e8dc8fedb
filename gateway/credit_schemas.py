"""What a company submits for SME credit (一贷通), validated at the edge: a consent to credit data
sharing and a loan application to one bank's product. Both are ``POST /api/v1/cases`` with their
``flow``; the gateway checks that the company (by its credit code) is one the applicant registered.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agencies.consent import CATEGORIES, MAX_DAYS
from agencies.directory import BANKS
from agencies.identifiers import Uscc
from agencies.products import products

Bank = Literal["bank_qilu", "bank_rural"]
Category = Literal["licence", "tax", "social_security", "housing_fund", "utilities", "court"]
assert set(Bank.__args__) == set(BANKS) and set(Category.__args__) == set(CATEGORIES)  # noqa: S101


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Company(_Strict):
    uscc: Uscc = Field(description="the unified social credit code on the company's business licence")


class CreditConsentApplication(_Strict):
    """The company lets the banks named read the data named, until ``expires_on`` (inclusive);
    revocable at any time (``POST /api/v1/credit/consents/{consent_id}/revocation``)."""

    flow: Literal["sme_credit_consent"]
    company: Company
    banks: list[Bank] = Field(min_length=1, max_length=len(BANKS))
    data: list[Category] = Field(min_length=1, max_length=len(CATEGORIES))
    expires_on: date | None = Field(
        None, description=f"the last day a bank may read under it: from today, at most {MAX_DAYS} days ahead"
    )
    valid_days: int | None = Field(None, ge=1, le=MAX_DAYS, description="instead of expires_on: days from today")

    @model_validator(mode="after")
    def _check(self) -> CreditConsentApplication:
        if len(set(self.banks)) != len(self.banks) or len(set(self.data)) != len(self.data):
            raise ValueError("banks and data: each item once")
        today = datetime.now(UTC).date()
        if (self.expires_on is None) == (self.valid_days is None):
            raise ValueError("give either expires_on or valid_days")
        if self.valid_days is not None:
            self.expires_on, self.valid_days = today + timedelta(days=self.valid_days), None
        if not today <= self.expires_on <= today + timedelta(days=MAX_DAYS):
            raise ValueError(f"expires_on: from today ({today}) to {MAX_DAYS} days ahead")
        return self

    def title(self) -> str:
        return f"一贷通授权 Credit data consent {self.company.uscc}"

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"valid_days"})


class Acceptance(_Strict):
    """The company's acceptance, given now: an offer within these terms is accepted, any other declined."""

    max_rate_percent: float = Field(gt=0, le=24)
    min_amount_cny: int = Field(ge=0)


class CreditApplication(_Strict):
    """A loan from one bank's product; the product's data is read under the company's consent."""

    flow: Literal["sme_credit"]
    company: Company
    product: str = Field(description="a product id from GET /api/v1/credit/products")
    amount_cny: int = Field(gt=0, le=100_000_000)
    term_months: int = Field(gt=0, le=120)
    acceptance: Acceptance

    @field_validator("product")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in products():
            raise ValueError(f"product: one of {', '.join(products())}")
        return value

    @model_validator(mode="after")
    def _term(self) -> CreditApplication:
        terms = products()[self.product].terms_months
        if self.term_months not in terms:
            raise ValueError(f"term_months: {self.product} offers {', '.join(map(str, terms))}")
        return self

    def title(self) -> str:
        return f"一贷通 {products()[self.product].title} {self.company.uscc}"

    def stored(self) -> dict[str, Any]:
        """With the bank and the reads the product makes (what the engine's steps run on)."""
        product = products()[self.product]
        return {**self.model_dump(mode="json"), "bank": product.bank, "read": dict.fromkeys(product.data, True)}
