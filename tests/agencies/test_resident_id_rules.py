"""Resident ID numbers checked as a real registry checks them: the GB 11643 check character, a
GB/T 2260 division code (former codes too, but not one abolished before the holder was born), a
real birth date, and a legal representative of at least 18. Bad inputs are named for what is wrong."""

from __future__ import annotations

from datetime import date

import pytest

from agencies.divisions import last_year, names_of
from agencies.identifiers import (
    IdentifierError,
    age_on,
    make_resident_id,
    resident_id_birth_date,
    resident_id_check_char,
    validate_adult_resident_id,
    validate_resident_id,
)

TODAY = date(2026, 11, 22)
LI_MING = "370102198806151237"  # examples/registration.json's legal representative


def with_check(body: str) -> str:
    return body + resident_id_check_char(body)


def test_the_division_table_knows_jinan_then_and_now():
    assert [n.name for n in names_of("370102")] == ["历下区"] and last_year("370102") is None
    assert last_year("370181") == 2016  # 章丘市, a district (370114) since 2016
    assert names_of("370114")[0].since == 2016
    assert names_of("110105") and names_of("810000") and names_of("830000")  # Beijing 朝阳区; HK; Taiwan permits
    assert not names_of("370199") and not names_of("999999")


def test_a_former_division_code_is_valid_for_someone_born_while_it_existed():
    rid = with_check("37018119950307001")  # 章丘市 (1992-2016)
    assert validate_resident_id(rid, today=TODAY) == rid


def test_a_division_abolished_before_the_birth_year_is_refused():
    with pytest.raises(IdentifierError, match="370120 was abolished in 1983, before the birth year 1990"):
        validate_resident_id(with_check("37012019900101001"), today=TODAY)


@pytest.mark.parametrize("region", ["370199", "379901", "000000", "990101"])
def test_unknown_region_is_refused_naming_the_code(region):
    with pytest.raises(IdentifierError, match=f"region code {region} is not a GB/T 2260 administrative division"):
        validate_resident_id(with_check(f"{region}198806151230"[:17]), today=TODAY)


def test_wrong_check_digit_names_the_expected_one():
    with pytest.raises(IdentifierError, match="check character is wrong: expected 7"):
        validate_resident_id(LI_MING[:-1] + "8", today=TODAY)


@pytest.mark.parametrize(
    "value, position",
    [
        ("３７０１０２198806151237", 1),  # fullwidth digits from a Chinese input method
        ("37010219880615123７", 18),
        ("37010219880615123Ｘ", 18),  # fullwidth X
    ],
    ids=["fullwidth-prefix", "fullwidth-check-digit", "fullwidth-x"],
)
def test_fullwidth_digits_are_refused_naming_the_position(value, position):
    with pytest.raises(IdentifierError, match=f"in ASCII: fullwidth character .* at position {position}$"):
        validate_resident_id(value, today=TODAY)


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\ufeff", "\u00ad"])
def test_an_invisible_character_inside_is_refused_naming_it(invisible):
    with pytest.raises(IdentifierError, match=f"U\\+{ord(invisible):04X}"):
        validate_resident_id(LI_MING[:6] + invisible + LI_MING[6:], today=TODAY)


def test_a_future_birth_date_is_refused():
    with pytest.raises(IdentifierError, match="birth date 20261123 is in the future"):
        validate_resident_id(with_check("37010220261123001"), today=TODAY)


def test_a_birth_date_that_does_not_exist_is_refused():
    with pytest.raises(IdentifierError, match="birth date 19880230 is not a date"):
        validate_resident_id(with_check("37010219880230123"), today=TODAY)


def test_a_minor_cannot_be_legal_representative_but_may_hold_shares():
    minor = make_resident_id(birth=date(2008, 11, 23), sequence=12)  # 18 tomorrow
    assert validate_resident_id(minor, today=TODAY) == minor
    with pytest.raises(IdentifierError, match="at least 18 years old, not 17 \\(born 2008-11-23\\)"):
        validate_adult_resident_id(minor, today=TODAY)
    assert validate_adult_resident_id(minor, today=date(2026, 11, 23)) == minor  # the 18th birthday


def test_a_29_february_birthday_comes_of_age_on_1_march():
    leap = make_resident_id(birth=date(2008, 2, 29), sequence=3)
    assert resident_id_birth_date(leap) == date(2008, 2, 29)
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    with pytest.raises(IdentifierError, match="not 17"):
        validate_adult_resident_id(leap, today=date(2026, 2, 28))
    assert validate_adult_resident_id(leap, today=date(2026, 3, 1)) == leap


def test_the_example_people_are_valid_adults():
    assert validate_adult_resident_id(LI_MING, today=TODAY) == LI_MING
    assert validate_adult_resident_id("370103199003022467", today=TODAY) == "370103199003022467"
