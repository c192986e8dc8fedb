"""Passwords, bearer tokens and the role checks every route depends on."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select

from agencies.directory import AGENCIES
from gateway.store import ApiToken, User, utcnow

SCRYPT = {"n": 2**14, "r": 8, "p": 1}

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


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


def issue_token(session: Session, user: User, ttl_minutes: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=user.id,
                         expires_at=utcnow() + timedelta(minutes=ttl_minutes)))
    session.commit()
    return token


def demo_users() -> list[tuple[str, str, str | None]]:
    """(username, role, agency): the accounts an embedded stack seeds, each with its name as password."""
    users = [("applicant", "applicant", None), ("auditor", "auditor", None), ("admin", "admin", None)]
    return users + [(f"clerk-{a}", "clerk", a) for a in AGENCIES]


def seed_demo_users(session: Session) -> None:
    for username, role, agency in demo_users():
        if session.exec(select(User).where(User.username == username)).first() is None:
            session.add(User(username=username, password_hash=hash_password(username), role=role, agency=agency))
    session.commit()


def get_session(request: Request):
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(session: SessionDep, token: Annotated[str | None, Depends(oauth2)]) -> User:
    unauthorized = HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in, or the session expired",
                                 headers={"WWW-Authenticate": "Bearer"})
    if not token:
        raise unauthorized
    row = session.get(ApiToken, hashlib.sha256(token.encode()).hexdigest())
    if row is None or row.expires_at < utcnow():
        raise unauthorized
    user = session.get(User, row.user_id)
    if user is None:
        raise unauthorized
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: str):
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return Depends(check)
