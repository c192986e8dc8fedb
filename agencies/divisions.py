"""GB/T 2260 administrative division codes, current and former (``agencies/data/divisions.tsv``).

A resident ID number keeps the division code of the place where it was first given out, so a
code abolished since (370181 章丘市, now 370114 章丘区) is still a real prefix; one abolished
before the holder was born is not, since no number could have been given out under it then.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).parent / "data" / "divisions.tsv"


@dataclass(frozen=True)
class DivisionName:
    """One name a code carried, with the years it was in use (None: before records / still in use)."""

    code: str
    name: str
    since: int | None
    until: int | None


@cache
def divisions() -> dict[str, tuple[DivisionName, ...]]:
    """Every code in the table with the names it carried, oldest first as listed."""
    table: dict[str, list[DivisionName]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, since, until = line.split("\t")
        table.setdefault(code, []).append(DivisionName(code, name, int(since or 0) or None, int(until or 0) or None))
    return {code: tuple(names) for code, names in table.items()}


def names_of(code: str) -> tuple[DivisionName, ...]:
    """The names ``code`` carried, or () for a code that never existed."""
    return divisions().get(code, ())


def last_year(code: str) -> int | None:
    """The last year ``code`` was in use; None while it still is (or for an unknown code)."""
    names = names_of(code)
    if not names or any(n.until is None for n in names):
        return None
    return max(n.until for n in names if n.until is not None)
