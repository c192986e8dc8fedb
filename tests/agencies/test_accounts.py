"""What tax, human resources, the bank and the housing fund issue: account numbers with their
check digits (checked here against reference implementations written from the schemes, not with
the library the code uses), the taxpayer type, and every code unique: the store redraws a code
issued before, and each code's random part spans a space that holds 100,000 draws many times over."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.accounts import (
    SMALL_SCALE_MAX_ANNUAL_SALES_CNY,
    random_bank_account,
    random_housing_fund_account,
    taxpayer_type,
    validate_bank_account,
    validate_housing_fund_account,
)
from agencies.identifiers import USCC_ALPHABET, IdentifierError, random_seal_number, random_uscc, validate_uscc
from agencies.simulated import ActionStore, SimulatedBackend
from tests.agencies.test_adapter import request
from tests.fixtures.stack import application

DRAWS = 10_000  # through the real issuing code; 100,000 spent ~20 CPU-s, nearly all in the draws themselves
ISSUED = 100_000  # codes of a kind this deployment may issue: its code space must hold them 1,000 times over
DIGITS = "0123456789"


def luhn_ok(number: str) -> bool:  # ISO/IEC 7812-1 annex B
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def mod97_ok(number: str) -> bool:  # ISO 7064 MOD 97-10: the whole number is 1 modulo 97
    return int(number) % 97 == 1


def test_the_reference_checks_accept_published_examples():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")  # the scheme's textbook example
    # an IBAN's check: GB82 WEST 1234 5698 7654 32 rearranged and converted to digits (ISO 13616)
    assert mod97_ok("3214282912345698765432161182")


@pytest.mark.parametrize(
    "kind,draw,valid,random_part,alphabet",
    [
        ("uscc", lambda: random_uscc("370102"), validate_uscc, slice(8, 16), USCC_ALPHABET),
        ("seal", random_seal_number, lambda s: len(s) == 13 and s.isdigit() and s, slice(4, 13), DIGITS),
        ("bank_account", random_bank_account, validate_bank_account, slice(4, 18), DIGITS),
        (
            "housing_fund_account",
            lambda: random_housing_fund_account("370102"),
            validate_housing_fund_account,
            slice(6, 14),
            DIGITS,
        ),
    ],
    ids=["uscc", "seal", "bank_account", "housing_fund_account"],
)
def test_every_issued_code_is_valid_and_unique_and_its_space_holds_100000_draws(
    kind, draw, valid, random_part, alphabet
):
    """``DRAWS`` codes through the back-end's own store, in one transaction as ``once`` issues
    them; every other draw replays a code issued before, which the store must refuse and draw
    again (a collision forced each time, where random draws met one by chance or never). Then the
    code space: every position of the random part takes every symbol of its alphabet, everything
    else is fixed or a check character, so the space has ``len(alphabet) ** width`` codes."""
    store = ActionStore(Path(":memory:"))  # the back-end's own store: it redraws a code issued before
    issued: list[str] = []
    calls, replays = count(), count()

    def draw_or_replay() -> str:
        if issued and next(calls) % 2 == 0:
            next(replays)
            return issued[len(issued) // 2]  # issued before: must be refused
        return draw()

    store.db.execute("BEGIN IMMEDIATE")
    for i in range(DRAWS):
        issued.append(store.issue_unique(kind, f"C-{i}", draw_or_replay))
    store.db.execute("COMMIT")
    # a refused replay before each code but the first, and one more after any draw that met an issued code
    # by chance (10,000 draws from 10^8 codes meet one in about half the runs)
    assert next(replays) >= DRAWS - 1
    assert len(set(issued)) == DRAWS
    assert all(valid(code) == code for code in issued)
    assert store.db.execute("SELECT count(*) FROM issued WHERE kind=?", (kind,)).fetchone() == (DRAWS,)

    width = random_part.stop - random_part.start
    for pos in range(random_part.start, random_part.stop):
        symbols = {code[pos] for code in issued}
        assert symbols == set(alphabet), f"position {pos} of a {kind} draws from {sorted(symbols)}"
    fixed = {code[: random_part.start] for code in issued}
    assert len(fixed) == 1, f"a {kind}'s prefix varies: {sorted(fixed)[:5]}"
    assert len(alphabet) ** width >= 1000 * ISSUED


def test_account_numbers_pass_their_schemes():
    for _ in range(1000):
        bank, fund = random_bank_account(), random_housing_fund_account("370112")
        assert len(bank) == 19 and bank.startswith("3701") and luhn_ok(bank)
        assert len(fund) == 16 and fund.startswith("370112") and mod97_ok(fund)


@given(st.data())
def test_one_changed_digit_fails_either_account_number(data):
    for number, validate in (
        (random_bank_account(), validate_bank_account),
        (random_housing_fund_account("370102"), validate_housing_fund_account),
    ):
        pos, step = data.draw(st.integers(0, len(number) - 1)), data.draw(st.integers(1, 9))
        digit = str((int(number[pos]) + step) % 10)
        with pytest.raises(IdentifierError):
            validate(number[:pos] + digit + number[pos + 1 :])


@given(st.data())
def test_a_swap_of_neighbours_fails_the_housing_fund_account(data):
    number = random_housing_fund_account("370102")
    pos = data.draw(st.integers(6, len(number) - 2))
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    if swapped != number:
        with pytest.raises(IdentifierError):
            validate_housing_fund_account(swapped)


@pytest.mark.parametrize(
    "number,message",
    [
        ("370112345678901234", "19 ASCII digits"),
        ("３７０１１２３４５６７８９０１２３４５６", "19 ASCII digits"),  # fullwidth digits
        ("1101123456789012345", "starts 3701"),
    ],
)
def test_a_malformed_bank_account_is_refused_naming_the_rule(number, message):
    with pytest.raises(IdentifierError, match=message):
        validate_bank_account(number)


def test_a_housing_fund_account_of_another_division_is_refused():
    with pytest.raises(IdentifierError, match="not of division 370103"):
        validate_housing_fund_account(random_housing_fund_account("370102"), "370103")


@pytest.mark.parametrize(
    "sales,kind",
    [(0, "small_scale"), (SMALL_SCALE_MAX_ANNUAL_SALES_CNY, "small_scale"), (5_000_001, "general")],
)
def test_the_taxpayer_type_follows_the_declared_sales(sales, kind):
    assert taxpayer_type(sales) == kind


def test_tax_hr_bank_and_housing_fund_register_the_company(tmp_path, monkeypatch):
    upstream = {"uscc": random_uscc("370102")}
    monkeypatch.setattr("agencies.simulated.parent_output", lambda _request, key: upstream[key])
    app = application(division="370102")
    app.update(employees=12, expected_annual_sales_cny=8_000_000)

    def perform(agency: str, step: str) -> dict:
        backend = SimulatedBackend(agency, tmp_path / agency)
        first = backend.perform(request(step, "C-1", app))
        assert backend.perform(request(step, "C-1", app, attempt=2)) == first  # a retry: the same, once
        return first

    tax = perform("tax", "tax_registration")
    assert (tax["taxpayer_id"], tax["taxpayer_type"], tax["tax_office"]) == (
        upstream["uscc"],
        "general",
        "国家税务总局济南市历下区税务局",
    )
    assert [q["kind"] for q in tax["invoice_quota"]] == ["增值税专用发票", "增值税普通发票"]
    social = perform("human_resources", "social_security")
    assert [(i["kind"], i["insured_staff"]) for i in social["insurances"]] == [
        ("pension", 12),
        ("medical", 12),
        ("unemployment", 12),
        ("work_injury", 12),
        ("maternity", 12),
    ]
    assert validate_bank_account(perform("bank", "bank_account")["basic_account"])
    fund = perform("housing_fund", "housing_fund")
    assert validate_housing_fund_account(fund["housing_fund_unit_account"], "370102")
    assert (fund["unit_uscc"], fund["insured_staff"]) == (upstream["uscc"], 12)
