from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from agencies.divisions import divisions as all_divisions
from agencies.divisions import last_year
from agencies.identifiers import (
    JINAN_DIVISIONS,
    USCC_ALPHABET,
    IdentifierError,
    ResidentId,
    Uscc,
    is_jinan_division,
    make_resident_id,
    make_uscc,
    org_code_check_char,
    resident_id_check_char,
    resident_id_sex,
    uscc_check_char,
    uscc_from_sequence,
    validate_org_code,
    validate_resident_id,
    validate_uscc,
)

# Widely published valid codes.
KNOWN_USCCS = ["91350100M000100Y43", "91110000600037341L"]
KNOWN_RESIDENT_ID = "11010519491231002X"  # GB 11643 worked example


# --- resident ID: known values -------------------------------------------------


def test_known_resident_id_validates():
    assert validate_resident_id(KNOWN_RESIDENT_ID) == KNOWN_RESIDENT_ID
    assert resident_id_check_char(KNOWN_RESIDENT_ID[:17]) == "X"


def test_resident_id_lowercase_x_is_normalised_to_upper():
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"


def test_resident_id_surrounding_whitespace_is_trimmed():
    assert validate_resident_id(f"  {KNOWN_RESIDENT_ID}\n") == KNOWN_RESIDENT_ID


def test_make_resident_id_uses_defaults_and_sequence_sex():
    rid = make_resident_id(birth=date(1990, 1, 1), sequence=1)
    assert rid == "37010219900101001X"
    assert resident_id_sex(rid) == "male"
    leap = make_resident_id("370103", birth=date(2000, 2, 29), sequence=2)
    assert leap == "370103200002290027"
    assert resident_id_sex(leap) == "female"


# --- resident ID: each bad-input kind -------------------------------------------


def test_resident_id_wrong_check_char_names_expected_char():
    with pytest.raises(IdentifierError, match="check character is wrong: expected X"):
        validate_resident_id("110105194912310021")


@pytest.mark.parametrize("value", ["11010519491231002", "11010519491231002X1", ""])
def test_resident_id_wrong_length(value):
    with pytest.raises(IdentifierError, match="must be 18 characters"):
        validate_resident_id(value)


def test_resident_id_letter_in_body():
    with pytest.raises(IdentifierError, match="17 digits"):
        validate_resident_id("1101051949123100AX")


def test_resident_id_bad_check_char_symbol():
    with pytest.raises(IdentifierError, match="must be a digit or X"):
        validate_resident_id("11010519491231002Y")


def test_resident_id_impossible_birth_date():
    with pytest.raises(IdentifierError, match="birth date 19991332 is not a date"):
        validate_resident_id("370102199913320010")


def test_resident_id_feb_29_in_non_leap_year_is_not_a_date():
    with pytest.raises(IdentifierError, match="birth date 19990229 is not a date"):
        validate_resident_id("370102199902290010")


def test_resident_id_birth_before_1900():
    with pytest.raises(IdentifierError, match="before 1900"):
        validate_resident_id("440524188001010014")  # GB 11643's own 1880 example


def test_resident_id_birth_in_future():
    body = "37010220300101005"
    rid = body + resident_id_check_char(body)
    with pytest.raises(IdentifierError, match="birth date 20300101 is in the future"):
        validate_resident_id(rid, today=date(2025, 1, 1))
    assert validate_resident_id(rid, today=date(2030, 1, 1)) == rid  # born today is fine


def test_resident_id_unknown_province():
    body = "99010219900101001"
    with pytest.raises(IdentifierError, match="region code 990102"):
        validate_resident_id(body + resident_id_check_char(body))


def test_make_resident_id_rejects_bad_inputs():
    with pytest.raises(IdentifierError, match="6 digits"):
        make_resident_id("3701", birth=date(1990, 1, 1), sequence=1)
    with pytest.raises(IdentifierError, match="between 0 and 999"):
        make_resident_id(birth=date(1990, 1, 1), sequence=1000)


# --- organisation code -----------------------------------------------------------


def test_org_code_check_chars():
    assert org_code_check_char("60003734") == "1"
    assert org_code_check_char("M000100Y") == "4"
    assert validate_org_code("60003734-1") == "600037341"
    # check value 11 is written '0', 10 is written 'X'
    bodies = {org_code_check_char(f"{n:08d}") for n in range(200)}
    assert {"0", "X"} <= bodies


def test_org_code_wrong_check_char():
    with pytest.raises(IdentifierError, match="expected 1"):
        validate_org_code("600037342")


def test_org_code_body_rejects_punctuation():
    with pytest.raises(IdentifierError, match="0-9 and A-Z"):
        org_code_check_char("6000373-")


# --- USCC: known values ------------------------------------------------------------


@pytest.mark.parametrize("code", KNOWN_USCCS)
def test_known_usccs_validate(code):
    assert validate_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]


def test_uscc_lowercase_is_normalised():
    assert validate_uscc("91110000600037341l") == "91110000600037341L"


def test_make_uscc_computes_both_check_chars():
    assert make_uscc("370102", "MA3C0000") == "91370102MA3C00003L"


def test_uscc_from_sequence_is_deterministic_jinan_code():
    code = uscc_from_sequence("370102", 12345)
    assert code == uscc_from_sequence("370102", 12345) == "9137010200000CT75P"
    assert is_jinan_division(code[2:8])


# --- USCC: each bad-input kind ---------------------------------------------------


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100Y433"])
def test_uscc_wrong_length(value):
    with pytest.raises(IdentifierError, match="must be 18 characters"):
        validate_uscc(value)


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_uscc_forbidden_letter(letter):
    with pytest.raises(IdentifierError, match=f"forbidden character '{letter}' at position 16"):
        validate_uscc(f"91350100M000100{letter}43")


def test_uscc_wrong_check_char():
    with pytest.raises(IdentifierError, match="check character is wrong: expected 3"):
        validate_uscc("91350100M000100Y44")


def test_uscc_bad_embedded_org_code_check_char():
    # final mod-31 check is right, but the embedded GB 11714 check char is wrong
    with pytest.raises(IdentifierError, match="embedded organisation code 600037342.*expected 1"):
        validate_uscc("91110000600037342P")


def test_uscc_non_digit_division():
    first17 = "91A1000060003734" + "1"
    with pytest.raises(IdentifierError, match="positions 3-8"):
        validate_uscc(first17 + uscc_check_char(first17))


def test_make_uscc_refuses_letters_outside_the_alphabet():
    for body in ["MA3C000I", "OA3C0000", "MA3Z0000", "MS3C0000", "MA3C000V"]:
        with pytest.raises(IdentifierError, match="organisation code body"):
            make_uscc("370102", body)
    with pytest.raises(IdentifierError, match="6 digits"):
        make_uscc("37010", "MA3C0000")
    with pytest.raises(IdentifierError, match="registration authority"):
        make_uscc("370102", "MA3C0000", authority="S")


def test_uscc_from_sequence_range():
    with pytest.raises(IdentifierError, match="sequence"):
        uscc_from_sequence("370102", -1)
    with pytest.raises(IdentifierError, match="sequence"):
        uscc_from_sequence("370102", 31**8)


# --- divisions -------------------------------------------------------------------


def test_jinan_divisions():
    assert JINAN_DIVISIONS["370102"] == "历下区"
    assert len(JINAN_DIVISIONS) == 12
    assert all(code.startswith("3701") for code in JINAN_DIVISIONS)
    assert is_jinan_division("370126") and is_jinan_division("370100")
    assert not is_jinan_division("370202") and not is_jinan_division("371202")


# --- pydantic --------------------------------------------------------------------


class Applicant(BaseModel):
    resident_id: ResidentId
    company: Uscc


def test_pydantic_types_normalise_and_report_field():
    ok = Applicant(resident_id="11010519491231002x", company="91110000600037341l")
    assert ok.resident_id == KNOWN_RESIDENT_ID and ok.company == "91110000600037341L"
    with pytest.raises(ValidationError) as info:
        Applicant(resident_id="110105194912310021", company="91350100M000100Y43")
    (err,) = info.value.errors()
    assert err["loc"] == ("resident_id",)
    assert "check character is wrong: expected X" in err["msg"]


# --- properties --------------------------------------------------------------------

# Division codes still in use (a former code is valid only for holders born before it was abolished).
CURRENT_DIVISIONS = sorted(c for c in all_divisions() if last_year(c) is None)
divisions = st.sampled_from(sorted(JINAN_DIVISIONS)) | st.sampled_from(CURRENT_DIVISIONS)
births = st.dates(min_value=date(1900, 1, 1), max_value=date.today())
uscc_chars = st.sampled_from(USCC_ALPHABET)


@given(divisions, births, st.integers(0, 999))
def test_every_generated_resident_id_validates(division, birth, sequence):
    rid = make_resident_id(division, birth=birth, sequence=sequence)
    assert validate_resident_id(rid) == rid
    assert rid[6:14] == birth.strftime("%Y%m%d")
    assert resident_id_sex(rid) == ("male" if sequence % 2 else "female")


@given(
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.text(USCC_ALPHABET, min_size=8, max_size=8),
    uscc_chars,
    uscc_chars,
)
def test_every_generated_uscc_validates(division, body, authority, entity_type):
    code = make_uscc(division, body, authority, entity_type)
    assert validate_uscc(code) == code
    assert code[8:16] == body


@given(st.integers(0, 31**8 - 1), st.integers(0, 31**8 - 1))
def test_uscc_from_sequence_valid_and_unique(a, b):
    ca, cb = uscc_from_sequence("370102", a), uscc_from_sequence("370102", b)
    assert validate_uscc(ca) == ca
    assert (ca == cb) == (a == b)


@given(
    st.sampled_from(KNOWN_USCCS) | st.integers(0, 31**8 - 1).map(lambda n: uscc_from_sequence("370112", n)),
    st.integers(0, 17),
    uscc_chars,
)
def test_any_single_substitution_breaks_a_uscc(code, pos, char):
    if code[pos] == char:
        char = USCC_ALPHABET[(USCC_ALPHABET.index(char) + 1) % 31]
    mutated = code[:pos] + char + code[pos + 1 :]
    with pytest.raises(IdentifierError):
        validate_uscc(mutated)


@given(divisions, births, st.integers(0, 999), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_substitution_breaks_a_resident_id(division, birth, sequence, pos, char):
    rid = make_resident_id(division, birth=birth, sequence=sequence)
    if rid[pos] == char:
        char = "0123456789X"[("0123456789X".index(char) + 1) % 11]
    mutated = rid[:pos] + char + rid[pos + 1 :]
    with pytest.raises(IdentifierError):
        validate_resident_id(mutated)
