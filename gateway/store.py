"""The gateway's SQLModel store: users, sessions, cases and the off-chain handoff records.

Table rows are never returned by the API as they are: ``gateway.schemas`` has the public shapes.
Applications (personal data) are encrypted at rest with a key per case, so deleting that key
erases the person while the handoff trail, which holds no personal data, still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import JSON, Column, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, create_engine

from gateway.migrate import upgrade


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True)
    password_hash: str
    role: str  # applicant | clerk | auditor | admin
    agency: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    token_hash: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    expires_at: datetime


class StoreMark(SQLModel, table=True):
    """Facts about the database itself, e.g. ``environment=production`` once a production gateway
    has opened it (an embedded stack then never seeds demo accounts into it)."""

    key: str = Field(primary_key=True)
    value: str


def marked(session: Session, key: str) -> str | None:
    row = session.get(StoreMark, key)
    return row.value if row else None


def mark(session: Session, key: str, value: str) -> None:
    session.merge(StoreMark(key=key, value=value))
    session.commit()


class Case(SQLModel, table=True):
    id: str = Field(primary_key=True)
    applicant_id: int = Field(foreign_key="user.id", index=True)
    flow: str
    title: str = Field(description="what the case is about, without personal data (e.g. the company name)")
    flow_version: str
    flow_definition: dict[str, Any] = Field(sa_column=Column(JSON))
    status: str = Field(default="running", index=True)
    reason: str | None = None
    salt: str
    commitment: str = Field(index=True)
    application_enc: bytes
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    snapshot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    revision: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)  # the live feed looks up what changed


class IdempotentRequest(SQLModel, table=True):
    """An ``Idempotency-Key`` an applicant sent with a new case: a repeat of the same request
    (a retry after a lost reply) is answered with the case the first one opened."""

    user_id: int = Field(primary_key=True, foreign_key="user.id")
    key: str = Field(primary_key=True)
    request_hash: str  # sha256 of the application as parsed: the same key with another one is refused
    case_id: str = Field(foreign_key="case.id")
    created_at: datetime = Field(default_factory=utcnow)


class QueueItem(SQLModel, table=True):
    """A step waiting for a clerk's decision, rebuilt from each recorded case status."""

    case_id: str = Field(primary_key=True, foreign_key="case.id")
    step: str = Field(primary_key=True)
    agency: str = Field(index=True)
    title: str
    since: datetime
    deadline: datetime = Field(index=True)
    escalated: bool = False
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class CaseKey(SQLModel, table=True):
    """The per-case data key (encrypted by the Vault's key): delete it to erase the person."""

    case_id: str = Field(primary_key=True, foreign_key="case.id")
    key: str


class HandoffRow(SQLModel, table=True):
    hash: str = Field(primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    step: str
    agency: str
    outcome: str = Field(index=True)  # counted by outcome (metrics, service levels)
    signed: dict[str, Any] = Field(sa_column=Column(JSON))
    anchor: dict[str, Any] = Field(sa_column=Column(JSON))
    block_number: int
    log_index: int
    recorded_at: datetime = Field(default_factory=utcnow)


# Connections for everything that may hold a session at once: the gateway's requests in flight
# (gateway.app.IN_FLIGHT) and the engine worker's activity threads (16), with room to spare. Once,
# 15 connections and 40 request threads starved each other until the pool's 30 s timeout.
POOL_SIZE, POOL_OVERFLOW = 48, 16


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # cases and handoff records: Temporal will not write them again
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")  # an erasure's deleted rows are overwritten, not left in free pages
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    upgrade(engine, check_schema)  # the migrations (gateway.migrate), the first time and after each upgrade
    check_schema(engine)
    return engine


class SchemaMismatch(RuntimeError):
    """The database was made by another version of OneVisit."""


AFTER_BASELINE = {"residentbinding", "casenote", "erasure"}  # tables a migration after the baseline (0001) makes


def check_schema(bind: Engine | Connection) -> None:
    """Refuse, naming what differs, a database whose tables lack columns (or tables) this version needs."""
    inspector = inspect(bind)
    url = bind.engine.url if isinstance(bind, Connection) else bind.url
    present = set(inspector.get_table_names()) | AFTER_BASELINE  # those the migrations add
    missing = [f"table {t.name}" for t in SQLModel.metadata.sorted_tables if t.name not in present] + [
        f"{table.name}.{col.name}"
        for table in SQLModel.metadata.sorted_tables
        if table.name in present and table.name not in AFTER_BASELINE
        for col in table.columns
        if col.name not in {c["name"] for c in inspector.get_columns(table.name)}
    ]
    if missing:
        raise SchemaMismatch(
            f"the database at {url} was made by a OneVisit older than its migrations and lacks "
            f"{', '.join(missing)}; start on a fresh --data-dir"
        )


class ResidentBinding(SQLModel, table=True):
    """Real-name binding: a resident ID number (as the vault's blind index, never in clear) belongs
    to one account, the first to apply for a health card with it; no other account may use it."""

    id_index: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class CaseNote(SQLModel, table=True):
    """Free text about a case (a clerk's reason, a withdrawal's), sealed with its salt under the
    case's key; the handoffs carry only ``commitment`` (chain.handoff.text_commitment)."""

    commitment: str = Field(primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    kind: str  # rejection | withdrawal | erasure (each in a handoff) | approval (in the case's events only)
    sealed: bytes  # Fernet under the case key: {"text", "salt"}
    created_at: datetime = Field(default_factory=utcnow)


class Erasure(SQLModel, table=True):
    """A case whose personal data was erased: by whom, when, and the case whose anchored handoff
    records it (the reason is a CaseNote of that case, under its own key)."""

    case_id: str = Field(primary_key=True, foreign_key="case.id")
    erased_by: str
    record_case: str
    reason_commitment: str
    erased_at: datetime = Field(default_factory=utcnow)


class Vault:
    """Envelope encryption: each case's data key is itself encrypted with the operator's data key
    (ONEVISIT_DATA_KEY), so a copy of the database alone opens nothing, and deleting one case's
    key row erases that person while the handoff trail still verifies."""

    def __init__(self, data_key: str):
        self._master = Fernet(data_key.encode())
        self._master_key = base64.urlsafe_b64decode(data_key.encode())

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, session: Session, case: Case, application: dict[str, Any]) -> None:
        row = session.get(CaseKey, case.id)
        if row is None:
            row = CaseKey(case_id=case.id, key=self._master.encrypt(Fernet.generate_key()).decode())
            session.add(row)
        case.application_enc = self._case_key(row).encrypt(json.dumps(application, ensure_ascii=False).encode())

    def open(self, session: Session, case: Case) -> dict[str, Any] | None:
        """The decrypted application, or None once its key has been erased."""
        row = session.get(CaseKey, case.id)
        if row is None:
            return None
        return json.loads(self._case_key(row).decrypt(case.application_enc))

    def seal_note(self, session: Session, case: Case, note: dict[str, Any]) -> bytes | None:
        """``note`` encrypted under the case's key (None once the key is erased)."""
        row = session.get(CaseKey, case.id)
        if row is None:
            return None
        return self._case_key(row).encrypt(json.dumps(note, ensure_ascii=False).encode())

    def open_note(self, session: Session, case_id: str, sealed: bytes) -> dict[str, Any] | None:
        """A note sealed by ``seal_note``, or None once the case's key is erased."""
        row = session.get(CaseKey, case_id)
        if row is None:
            return None
        return json.loads(self._case_key(row).decrypt(sealed))

    def blind_index(self, purpose: str, value: str) -> str:
        """A keyed hash of ``value`` (HMAC-SHA256 under a key derived from the operator's data key):
        equal values match, and without the key an ID number cannot be guessed back from it."""
        key = hmac.new(self._master_key, f"onevisit/blind-index/{purpose}".encode(), hashlib.sha256).digest()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    def _case_key(self, row: CaseKey) -> Fernet:
        return Fernet(self._master.decrypt(row.key.encode()))


class ApplicationRead(SQLModel, table=True):
    """One read of a case's application: who (name, role, agency), why, when, and which fields
    they were given. Written before the data leaves; the applicant lists the reads of their case.
    It outlives an erasure, which blanks only its purpose (a clerk's free text)."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    username: str
    role: str
    agency: str | None = None
    purpose: str | None = None
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    read_at: datetime = Field(default_factory=utcnow)
