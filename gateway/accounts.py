"""Passwords, bearer tokens and the demo accounts (the route dependencies are in ``gateway.api.deps``)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from agencies.directory import AGENCIES
from gateway.store import ApiToken, User, utcnow

HASHER = PasswordHasher()  # argon2id with the library's parameters (RFC 9106's low-memory profile)
LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # hashes of earlier versions: checked, then rehashed
DISABLED = "!disabled"  # a password hash nothing verifies against


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        _, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **LEGACY_SCRYPT)
        return hmac.compare_digest(candidate.hex(), digest)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user these credentials sign in, else None, after the same work either way (an unknown
    name is checked against a decoy hash, so timing does not tell whether a user exists). A hash
    from older parameters is replaced on a successful sign-in."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        check_password(password, _decoy_hash())
        return None
    if not check_password(password, user.password_hash):
        return None
    if user.password_hash.startswith("scrypt$") or HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
    return user


class LoginThrottle:
    """Failed sign-ins, counted per account and per client address (in this gateway's memory).

    ``free`` failures within ``window_s`` cost nothing; each one after that locks the key for
    twice as long as the one before (1 s, 2 s, 4 s … up to ``max_lock_s``), right password or
    not, until the window passes without a failure. A success clears the account's count."""

    def __init__(
        self, free: int = 5, window_s: float = 900, max_lock_s: float = 900, clock: Callable[[], float] = time.monotonic
    ):
        self.free, self.window_s, self.max_lock_s, self.clock = free, window_s, max_lock_s, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def retry_after(self, *keys: str) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                free = self.free * (4 if key.startswith("addr:") else 1)  # an address serves many users
                if len(recent) >= free:
                    lock = min(2.0 ** (len(recent) - free), self.max_lock_s)
                    wait = max(wait, recent[-1] + lock - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures[key] = self._recent(key, now) + [now]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_minutes: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(token_hash=_token_hash(token), user_id=user.id, expires_at=utcnow() + timedelta(minutes=ttl_minutes))
    )
    session.commit()
    return token


class RateLimit:
    """At most ``per_minute`` requests per client address in any 60 s (429 with Retry-After)."""

    def __init__(self, per_minute: int = 60, clock=time.monotonic):
        self.per_minute, self.clock = per_minute, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(address, deque())
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                wait = math.ceil(60 - (now - seen[0]))
                raise RateLimited(wait)
            seen.append(now)
            if len(self._seen) > 100_000:  # forget idle addresses rather than grow without bound
                for key in [k for k, v in self._seen.items() if not v or now - v[-1] >= 60]:
                    del self._seen[key]


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests: try again in {retry_after} s")
        self.retry_after = retry_after


def revoke_token(session: Session, token: str) -> None:
    row = session.get(ApiToken, _token_hash(token))
    if row is not None:
        session.delete(row)
        session.commit()


def token_expiry(session: Session, token: str) -> datetime | None:
    """When a bearer token stops signing anyone in (None: it is not one)."""
    row = session.get(ApiToken, _token_hash(token))
    return row.expires_at if row else None


def token_user(session: Session, token: str) -> User | None:
    """The user a bearer token signs in, or None if it is unknown or expired (one query: every
    request of a signed-in user asks)."""
    query = select(User).join(ApiToken, ApiToken.user_id == User.id)
    return session.exec(query.where(ApiToken.token_hash == _token_hash(token), ApiToken.expires_at >= utcnow())).first()


def demo_users() -> list[tuple[str, str, str | None]]:
    """(username, role, agency): the accounts an embedded stack seeds, each with its name as password."""
    users = [("applicant", "applicant", None), ("resident", "applicant", None), ("auditor", "auditor", None)]
    users += [("admin", "admin", None)]
    return users + [(f"clerk-{a}", "clerk", a) for a in AGENCIES]


def seed_demo_users(session: Session) -> None:
    """Only for an embedded stack started by `onevisit up` (never on a production database)."""
    for username, role, agency in demo_users():
        if session.exec(select(User).where(User.username == username)).first() is None:
            session.add(User(username=username, password_hash=_demo_hash(username), role=role, agency=agency))
    session.commit()


@cache
def _demo_hash(username: str) -> str:
    """A demo account's hash (its password is its name, public): made once per process, however
    many stores it seeds (argon2id takes a tenth of a second per hash, and there are a score of them)."""
    return hash_password(username)


def disable_demo_users(session: Session) -> list[str]:
    """On a production gateway: any demo account whose password is still its own name can no
    longer sign in (kept, not deleted: cases may name it). Returns the names disabled."""
    disabled = []
    for username, _role, _agency in demo_users():
        user = session.exec(select(User).where(User.username == username)).first()
        if user is not None and user.password_hash != DISABLED and check_password(username, user.password_hash):
            user.password_hash = DISABLED
            session.add(user)
            disabled.append(username)
    session.commit()
    return disabled
