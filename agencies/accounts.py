"""What tax, human resources, the bank and the housing fund issue after the licence: the
taxpayer registration (type from the declared sales, tax authority, first invoice quota), the
employer's five social insurances, and two account numbers, each with its own check digits.

- Basic bank account: 19 digits, ``3701`` (Jinan) + 14 random digits + a Luhn check digit, the
  scheme Chinese bank card and account numbers use (python-stdnum's ``luhn``).
- Housing provident fund unit account: 16 digits, the company's 6-digit division + 8 random
  digits + 2 check digits by ISO 7064 MOD 97-10 (python-stdnum's ``iso7064.mod_97_10``). A
  single changed digit fails both schemes; MOD 97-10 also catches every swap of two neighbours,
  Luhn every swap but 09/90.

The numbers are drawn at random (a neighbour's number tells nothing about the next) and made
unique by the issuing back-end's store, as licences and seals are.
"""

from __future__ import annotations

import secrets

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

from agencies.identifiers import IdentifierError

BANK_PREFIX = "3701"
BANK_ACCOUNT_LENGTH = 19
HOUSING_FUND_ACCOUNT_LENGTH = 16

# 财税〔2018〕33号: a small-scale VAT taxpayer has annual taxable sales of at most 5 million yuan
SMALL_SCALE_MAX_ANNUAL_SALES_CNY = 5_000_000
# a newly registered taxpayer's first invoice quota: at most 100,000 yuan per invoice and 25
# invoices a month of each kind, until the tax authority raises it (the usual first quota for a
# new taxpayer; the authority sets it, so it is a design value here, not a published table)
FIRST_INVOICE_QUOTA = {"max_amount_cny": 100_000, "copies_per_month": 25}
INVOICE_KINDS = ("增值税专用发票", "增值税普通发票")

# the employer's five social insurances (五险), each covering the declared staff
SOCIAL_INSURANCES = (
    ("pension", "基本养老保险"),
    ("medical", "基本医疗保险"),
    ("unemployment", "失业保险"),
    ("work_injury", "工伤保险"),
    ("maternity", "生育保险"),
)


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def random_bank_account() -> str:
    body = BANK_PREFIX + _digits(BANK_ACCOUNT_LENGTH - len(BANK_PREFIX) - 1)
    return body + luhn.calc_check_digit(body)


def validate_bank_account(value: str) -> str:
    """The number if it is a basic account number issued here; IdentifierError naming the rule."""
    if len(value) != BANK_ACCOUNT_LENGTH or not value.isascii() or not value.isdigit():
        raise IdentifierError(f"a basic account number is {BANK_ACCOUNT_LENGTH} ASCII digits, not {value!r}")
    if not value.startswith(BANK_PREFIX):
        raise IdentifierError(f"a basic account number opened in Jinan starts {BANK_PREFIX}")
    try:
        luhn.validate(value)
    except ValidationError as exc:
        raise IdentifierError(f"account number check digit: expected {luhn.calc_check_digit(value[:-1])}") from exc
    return value


def random_housing_fund_account(division: str) -> str:
    body = division + _digits(HOUSING_FUND_ACCOUNT_LENGTH - len(division) - 2)
    return body + mod_97_10.calc_check_digits(body)


def validate_housing_fund_account(value: str, division: str | None = None) -> str:
    """The number if it is a unit account number issued here (in ``division``, when named)."""
    if len(value) != HOUSING_FUND_ACCOUNT_LENGTH or not value.isascii() or not value.isdigit():
        raise IdentifierError(
            f"a housing fund unit account is {HOUSING_FUND_ACCOUNT_LENGTH} ASCII digits, not {value!r}"
        )
    if division is not None and not value.startswith(division):
        raise IdentifierError(f"the unit account is not of division {division}")
    if not mod_97_10.is_valid(value):
        raise IdentifierError(f"unit account check digits: expected {mod_97_10.calc_check_digits(value[:-2])}")
    return value


def taxpayer_type(annual_sales_cny: int) -> str:
    """``small_scale`` up to 5 million yuan of declared annual sales, ``general`` above."""
    return "small_scale" if annual_sales_cny <= SMALL_SCALE_MAX_ANNUAL_SALES_CNY else "general"


def invoice_quota() -> list[dict[str, object]]:
    return [{"kind": kind, **FIRST_INVOICE_QUOTA} for kind in INVOICE_KINDS]


def social_insurances(staff: int) -> list[dict[str, object]]:
    return [{"kind": kind, "name": name, "insured_staff": staff} for kind, name in SOCIAL_INSURANCES]
