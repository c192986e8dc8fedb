"""The lending banks' credit products as data (``agencies/data/credit_products.json``): what each
reads, its rules (all must hold) and how much it lends. The bank's decision step evaluates them
over what the reads returned; the gateway fills a loan application's reads from its product.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agencies.consent import CATEGORIES
from agencies.directory import BANKS
from workflows.rules import MISSING, Rule, lookup

CATALOGUE = Path(__file__).with_name("data") / "credit_products.json"


class CreditRule(Rule):
    met: str = Field(description="what the company is told when the rule holds")


class Limit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    multiple: int = Field(gt=0)

    def of(self, facts: dict[str, Any]) -> int:
        value = lookup(facts, self.field)
        return 0 if value is MISSING or not isinstance(value, int | float) else int(value * self.multiple)


class Product(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    bank: str
    title: str
    data: list[str] = Field(min_length=1)
    rate_percent: float = Field(gt=0, lt=24)  # above 24 % a court would not back the rate
    terms_months: list[int] = Field(min_length=1)
    min_amount_cny: int = Field(gt=0)
    max_amount_cny: int = Field(gt=0)
    limit: Limit
    rules: list[CreditRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> Product:
        if self.bank not in BANKS:
            raise ValueError(f"product {self.id}: {self.bank!r} is not a lending bank ({', '.join(BANKS)})")
        unknown = [d for d in self.data if d not in CATEGORIES]
        if unknown:
            raise ValueError(f"product {self.id}: unknown data {', '.join(unknown)}")
        unread = [r.field for r in self.rules + [self.limit] if r.field.split(".")[0] not in self.data]
        if unread:
            raise ValueError(f"product {self.id}: rules on data it does not read: {', '.join(unread)}")
        return self

    def decide(self, facts: dict[str, Any], amount_cny: int, term_months: int) -> tuple[bool, list[str], int]:
        """(approved, reasons, amount): every rule's reason, failed ones first when declined."""
        failed = [r.reason for r in self.rules if not r.holds(facts)]
        met = [r.met for r in self.rules if r.holds(facts)]
        if term_months not in self.terms_months:
            failed.append(f"a term of {term_months} months is not offered (terms: {self.terms_months})")
        amount = min(amount_cny, self.max_amount_cny, self.limit.of(facts))
        if not failed and amount < self.min_amount_cny:
            failed.append(
                f"the amount the data supports ({amount:,} yuan, {self.limit.multiple:,} × {self.limit.field}) "
                f"is below the product's minimum of {self.min_amount_cny:,}"
            )
        if failed:
            return False, failed, 0
        if amount < amount_cny:
            met.append(
                f"lent {amount:,} of the {amount_cny:,} yuan asked (limit {self.limit.multiple:,} × {self.limit.field})"
            )
        return True, met, amount


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    products: list[Product] = Field(min_length=1)


@cache
def products() -> dict[str, Product]:
    catalogue = Catalogue.model_validate_json(CATALOGUE.read_text(encoding="utf-8"))
    return {p.id: p for p in catalogue.products}
