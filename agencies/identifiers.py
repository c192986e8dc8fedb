"""Validate and generate real Chinese identifiers (pure functions, no I/O).

* Resident identity number, GB 11643-1999 (check char: ISO 7064 MOD 11-2).
* Organisation code, GB 11714-1997 (8 chars + weighted mod-11 check char).
* Unified social credit code (USCC), GB 32100-2015 (embeds an org code; mod-31 check).

Every failure raises ``IdentifierError`` (a ``ValueError``) whose message names the
rule that failed, so it can be shown to a user next to the form field and pydantic
turns it into a 422 entry for the field.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Annotated

from pydantic import AfterValidator

from agencies.divisions import last_year, names_of


class IdentifierError(ValueError):
    """An identifier broke one of its format rules; the message says which."""


# --- Administrative divisions (GB/T 2260) ------------------------------------

JINAN_DIVISIONS: dict[str, str] = {
    "370102": "历下区",
    "370103": "市中区",
    "370104": "槐荫区",
    "370105": "天桥区",
    "370112": "历城区",
    "370113": "长清区",
    "370114": "章丘区",
    "370115": "济阳区",
    "370116": "莱芜区",
    "370117": "钢城区",
    "370124": "平阴县",
    "370126": "商河县",
}
JINAN_CITY = "370100"  # 济南市 itself (city-level registrations use it)


def is_jinan_division(code: str) -> bool:
    """True for Jinan's current districts/counties and the city code 370100."""
    return code == JINAN_CITY or code in JINAN_DIVISIONS


# --- Resident identity number (GB 11643-1999) --------------------------------

_RID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # 7 9 10 5 8 4 2 1 6 3 ...
_DIGITS6 = re.compile(r"[0-9]{6}")


def resident_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise IdentifierError("resident ID body must be 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _RID_WEIGHTS, strict=False))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Return the normalised ID (trimmed, 'x' -> 'X') or raise IdentifierError.

    Rules, in order: 18 characters, 17 ASCII digits and a digit or X (a fullwidth digit is named
    by its position, never folded silently); a GB/T 2260 division code (current or former, not
    abolished before the birth year); a real birth date from 1900 on and not after ``today``;
    the GB 11643 check character."""
    if not isinstance(value, str):
        raise IdentifierError("resident ID must be a string")
    value = value.strip().upper()
    for pos, c in enumerate(value, start=1):
        if not (c.isascii() and c.isdigit()) and not (pos == 18 and c == "X"):
            what = "fullwidth " if "\uff10" <= c <= "\uff19" or c == "\uff38" else ""
            if pos == 18 and len(value) == 18 and not what:
                raise IdentifierError(f"resident ID check character must be a digit or X, not {c!r}")
            raise IdentifierError(
                f"resident ID must be 17 digits followed by a digit or X, in ASCII: {what}character "
                f"{c!r} (U+{ord(c):04X}) at position {pos}"
            )
    if len(value) != 18:
        raise IdentifierError(f"resident ID must be 18 characters, not {len(value)}")
    body, check = value[:17], value[17]
    raw = body[6:14]
    try:
        birth = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise IdentifierError(f"resident ID birth date {raw} is not a date") from None
    region = body[:6]
    if not names_of(region):
        raise IdentifierError(f"resident ID region code {region} is not a GB/T 2260 administrative division")
    until = last_year(region)
    if until is not None and until < birth.year:
        raise IdentifierError(
            f"resident ID region code {region} was abolished in {until}, before the birth year {birth.year}"
        )
    if birth.year < 1900:
        raise IdentifierError(f"resident ID birth date {raw} is before 1900")
    if birth > (today or date.today()):
        raise IdentifierError(f"resident ID birth date {raw} is in the future")
    expected = resident_id_check_char(body)
    if check != expected:
        raise IdentifierError(f"resident ID check character is wrong: expected {expected}")
    return value


def refusal_without_the_number(exc: IdentifierError) -> str:
    """What an agency may sign about a refused ID number: the rule it broke, without the number's
    parts (birth date, region, age). A signed handoff cannot be erased; what it says of a person must
    not need to be."""
    said = re.sub(r",? not \d+ \(born [^)]*\)", "", str(exc))
    return re.sub(r"(?<!GB/T )\d{4,}", "…", said)


def resident_id_birth_date(value: str) -> date:
    """The birth date a (valid) resident ID carries."""
    raw = validate_resident_id(value)[6:14]
    return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))


def age_on(birth: date, today: date) -> int:
    """Full years from ``birth`` to ``today`` (a 29 February birthday falls on 1 March)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def validate_adult_resident_id(value: str, *, today: date | None = None, min_age: int = 18) -> str:
    """A valid resident ID whose holder is at least ``min_age`` (a legal representative: 18)."""
    today = today or date.today()
    value = validate_resident_id(value, today=today)
    birth = resident_id_birth_date(value)
    if (age := age_on(birth, today)) < min_age:
        raise IdentifierError(f"resident ID holder must be at least {min_age} years old, not {age} (born {birth})")
    return value


def resident_id_sex(value: str) -> str:
    """'male' if the 3-digit sequence is odd, 'female' if even."""
    return "male" if int(validate_resident_id(value)[16]) % 2 else "female"


def make_resident_id(division: str = "370102", *, birth: date, sequence: int) -> str:
    """Build a valid ID; ``sequence`` 0-999 (odd = male, even = female)."""
    if not _DIGITS6.fullmatch(division):
        raise IdentifierError(f"administrative division {division!r} must be 6 digits")
    if not 0 <= sequence <= 999:
        raise IdentifierError("resident ID sequence must be between 0 and 999")
    body = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return validate_resident_id(body + resident_id_check_char(body))


# --- Organisation code (GB 11714-1997) ---------------------------------------

_ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # value = index (A=10 ... Z=35)
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character ('0'-'9' or 'X') for an 8-char body over 0-9A-Z."""
    if len(first8) != 8 or any(c not in _ORG_CHARS for c in first8):
        raise IdentifierError("organisation code body must be 8 characters from 0-9 and A-Z")
    total = sum(_ORG_CHARS.index(c) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=False))
    check = 11 - total % 11  # 1..11
    return {10: "X", 11: "0"}.get(check, str(check))


def validate_org_code(value: str) -> str:
    """Validate a 9-char organisation code (an optional '-' before the check char)."""
    value = value.strip().upper()
    if len(value) == 10 and value[8] == "-":  # printed form: XXXXXXXX-C
        value = value[:8] + value[9]
    if len(value) != 9:
        raise IdentifierError("organisation code must be 9 characters")
    expected = org_code_check_char(value[:8])
    if value[8] != expected:
        raise IdentifierError(f"organisation code check character is wrong: expected {expected}")
    return value


# --- Unified social credit code (GB 32100-2015) -------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 chars: no I, O, Z, S, V
_USCC_WEIGHTS = [3**i % 31 for i in range(17)]  # 1 3 9 27 19 26 16 17 20 29 ...


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise IdentifierError("unified social credit code body must be 17 characters from " + USCC_ALPHABET)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=False))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Return the normalised code (trimmed, upper-case) or raise IdentifierError."""
    if not isinstance(value, str):
        raise IdentifierError("unified social credit code must be a string")
    value = value.strip().upper()
    if len(value) != 18:
        raise IdentifierError("unified social credit code must be 18 characters")
    for pos, c in enumerate(value, start=1):
        if c not in USCC_ALPHABET:
            raise IdentifierError(
                f"unified social credit code has forbidden character {c!r} at position {pos}"
                " (only digits and capital letters except I, O, Z, S, V)"
            )
    if not value[2:8].isdigit():
        raise IdentifierError(f"unified social credit code division {value[2:8]} (positions 3-8) must be 6 digits")
    org = value[8:17]  # positions 9-17: an organisation code with its own check char
    expected_org = org_code_check_char(org[:8])
    if org[8] != expected_org:
        raise IdentifierError(
            f"unified social credit code embedded organisation code {org} has a wrong "
            f"check character (position 17): expected {expected_org}"
        )
    expected = uscc_check_char(value[:17])
    if value[17] != expected:
        raise IdentifierError(f"unified social credit code check character is wrong: expected {expected}")
    return value


def make_uscc(division: str, org_body: str, authority: str = "9", entity_type: str = "1") -> str:
    """Build a valid USCC; the org-code and final check characters are computed."""
    if not _DIGITS6.fullmatch(division):
        raise IdentifierError(f"administrative division {division!r} must be 6 digits")
    for label, part, size in (
        ("registration authority", authority, 1),
        ("entity type", entity_type, 1),
        ("organisation code body", org_body, 8),
    ):
        if len(part) != size or any(c not in USCC_ALPHABET for c in part):
            raise IdentifierError(f"{label} {part!r} must be {size} character(s) from {USCC_ALPHABET}")
    first17 = authority + entity_type + division + org_body + org_code_check_char(org_body)
    return validate_uscc(first17 + uscc_check_char(first17))


def uscc_from_sequence(division: str, sequence: int, *, authority: str = "9", entity_type: str = "1") -> str:
    """Deterministic, unique USCC per ``sequence`` (0 <= sequence < 31**8).

    The org body is ``sequence`` written in base 31 over USCC_ALPHABET, so distinct
    sequences give distinct codes and no forbidden letter can appear.
    """
    if not 0 <= sequence < 31**8:
        raise IdentifierError("USCC sequence must be between 0 and 31**8 - 1")
    digits = []
    for _ in range(8):
        sequence, rem = divmod(sequence, 31)
        digits.append(USCC_ALPHABET[rem])
    return make_uscc(division, "".join(reversed(digits)), authority, entity_type)


def random_uscc(division: str, *, authority: str = "9", entity_type: str = "1") -> str:
    """A valid USCC with a random (not sequential, so not guessable from its neighbours)
    organisation code body; the issuer keeps drawing until it has one it never issued."""
    return make_uscc(division, "".join(secrets.choice(USCC_ALPHABET) for _ in range(8)), authority, entity_type)


SEAL_PREFIX = "3701"  # Jinan's police filing numbers (a 13-digit code, treated as opaque)


def random_seal_number() -> str:
    return SEAL_PREFIX + "".join(secrets.choice("0123456789") for _ in range(9))


# --- Pydantic field types -----------------------------------------------------

ResidentId = Annotated[str, AfterValidator(validate_resident_id)]
AdultResidentId = Annotated[str, AfterValidator(validate_adult_resident_id)]  # a legal representative
Uscc = Annotated[str, AfterValidator(validate_uscc)]
