"""The business-licence register market regulation keeps: what the agencies after it (and the
public check) consult to learn whether a licence code is valid now.

Rows live in market regulation's own store (its simulated back-end writes them when it issues a
licence and marks them revoked when a withdrawal revokes it); this is a read-only view of them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agencies.identifiers import IdentifierError, validate_uscc

LICENCES_TABLE = (
    "CREATE TABLE IF NOT EXISTS licences (uscc TEXT PRIMARY KEY, case_id TEXT, company_name TEXT, "
    "division TEXT, issued_on TEXT, status TEXT NOT NULL, revoked_on TEXT)"
)
REGISTRAR = "market_regulation"


@dataclass(frozen=True)
class LicenceStatus:
    code: str
    format_valid: bool
    status: Literal["valid", "revoked", "unknown"]
    company_name: str | None = None
    issued_on: str | None = None
    revoked_on: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("code", "format_valid", "status")}


class LicenceRegister:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def beside(cls, state_dir: Path) -> LicenceRegister:
        """Market regulation's register next to an agency's state: DIR/agencies/market_regulation/
        where each agency keeps a directory of its own (as `onevisit up` lays them out), else the
        same directory."""
        file = f"{REGISTRAR}-backend.db"
        own_dirs = state_dir.parent / REGISTRAR / file
        if own_dirs.exists() or (state_dir.parent.name == "agencies" and not (state_dir / file).exists()):
            return cls(own_dirs)
        return cls(state_dir / file)

    def status(self, code: str) -> LicenceStatus:
        """Any string in: a malformed code is ``format_valid: false``; a well-formed code issued
        elsewhere (or not at all) is ``unknown``."""
        try:
            code = validate_uscc(code)
        except IdentifierError:
            return LicenceStatus(code[:64], False, "unknown")
        if not self.path.exists():
            return LicenceStatus(code, True, "unknown")
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            row = db.execute(
                "SELECT company_name, issued_on, status, revoked_on FROM licences WHERE uscc=?", (code,)
            ).fetchone()
        except sqlite3.OperationalError:  # the registrar has issued nothing yet
            row = None
        finally:
            db.close()
        if row is None:
            return LicenceStatus(code, True, "unknown")
        return LicenceStatus(code, True, row[2], row[0], row[1], row[3])
