"""Passwords, bearer tokens and the demo accounts (the route dependencies are in ``gateway.api.deps``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlmodel import Session, select

from agencies.directory import AGENCIES
from gateway.store import ApiToken, User, utcnow

SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not check_password(password, user.password_hash):
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_minutes: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_token_hash(token), user_id=user.id,
                         expires_at=utcnow() + timedelta(minutes=ttl_minutes)))
    session.commit()
    return token


def token_user(session: Session, token: str) -> User | None:
    """The user a bearer token signs in, or None if it is unknown or expired."""
    row = session.get(ApiToken, _token_hash(token))
    if row is None or row.expires_at < utcnow():
        return None
    return session.get(User, row.user_id)


def demo_users() -> list[tuple[str, str, str | None]]:
    """(username, role, agency): the accounts an embedded stack seeds, each with its name as password."""
    users = [("applicant", "applicant", None), ("auditor", "auditor", None), ("admin", "admin", None)]
    return users + [(f"clerk-{a}", "clerk", a) for a in AGENCIES]


def seed_demo_users(session: Session) -> None:
    for username, role, agency in demo_users():
        if session.exec(select(User).where(User.username == username)).first() is None:
            session.add(User(username=username, password_hash=hash_password(username), role=role, agency=agency))
    session.commit()

