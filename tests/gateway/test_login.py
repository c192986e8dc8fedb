"""Sign-in as an attacker tries it: guessing is throttled per account and per address (429 with
Retry-After, even for the right password), unknown users cost the same work, hashes are argon2id
and old ones are rehashed, logout revokes, and demo accounts never reach production."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from gateway.accounts import DISABLED, LoginThrottle, authenticate, check_password, hash_password
from gateway.app import prepare_accounts
from gateway.settings import Settings
from gateway.store import User, make_engine


def login(gw, user: str, password: str):
    return gw.http.post("/api/v1/auth/token", data={"username": user, "password": password})


def test_guessing_one_account_is_locked_with_retry_after_even_for_the_right_password(in_process_gateway):
    for _ in range(5):
        assert login(in_process_gateway, "admin", "guess").status_code == 401
    locked = login(in_process_gateway, "admin", "admin")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1 and "try again in" in locked.json()["detail"]
    assert login(in_process_gateway, "auditor", "auditor").status_code == 200  # other accounts sign in


def test_spraying_many_accounts_from_one_address_is_locked():
    throttle = LoginThrottle()
    for i in range(20):
        throttle.failed(f"user:u{i}", "addr:10.0.0.9")
    assert throttle.retry_after("user:fresh", "addr:10.0.0.9") >= 1
    assert throttle.retry_after("user:fresh", "addr:10.0.0.10") == 0


def test_locks_double_and_pass_with_time():
    now = [0.0]
    throttle = LoginThrottle(free=2, window_s=100, max_lock_s=8, clock=lambda: now[0])
    throttle.failed("user:a")
    throttle.failed("user:a")
    assert throttle.retry_after("user:a") == 1
    throttle.failed("user:a")
    assert throttle.retry_after("user:a") == 2
    for _ in range(10):
        throttle.failed("user:a")
    assert throttle.retry_after("user:a") == 8  # capped
    now[0] = 200.0  # the window passed without a failure
    assert throttle.retry_after("user:a") == 0
    throttle.failed("user:b")
    throttle.failed("user:b")
    throttle.succeeded("user:b")
    assert throttle.retry_after("user:b") == 0


def test_unknown_users_cost_the_same_work(monkeypatch, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with Session(engine) as session:
        session.add(User(username="known", password_hash=hash_password("pw"), role="auditor"))
        session.commit()
        checked = []
        real = check_password
        monkeypatch.setattr("gateway.accounts.check_password", lambda p, h: checked.append(h[:9]) or real(p, h))
        assert authenticate(session, "nobody", "pw") is None
        assert authenticate(session, "known", "wrong") is None
    assert checked == ["$argon2id", "$argon2id"]  # one argon2id verification each, known or not


def test_legacy_scrypt_hashes_still_sign_in_and_are_rehashed_to_argon2id(tmp_path):
    salt = secrets.token_bytes(16)
    legacy = f"scrypt${salt.hex()}${hashlib.scrypt(b'old-pw', salt=salt, n=2**14, r=8, p=1).hex()}"
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with Session(engine) as session:
        session.add(User(username="veteran", password_hash=legacy, role="auditor"))
        session.commit()
        assert authenticate(session, "veteran", "old-pw") is not None
        stored = session.exec(select(User).where(User.username == "veteran")).one().password_hash
    assert stored.startswith("$argon2id$") and check_password("old-pw", stored)


def test_logout_revokes_the_token(in_process_gateway):
    headers = in_process_gateway.login("auditor")
    assert in_process_gateway.http.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert in_process_gateway.http.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert in_process_gateway.http.get("/api/v1/auth/me", headers=headers).status_code == 401


def embedded(tmp_path, demo: bool) -> Settings:
    return Settings(environment="embedded", demo_accounts=demo, data_dir=tmp_path, data_key=None)


def test_demo_accounts_only_when_asked_and_never_into_a_production_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with Session(engine) as session:
        prepare_accounts(session, embedded(tmp_path, demo=False))  # ONEVISIT_ENVIRONMENT unset, not `up`
        assert session.exec(select(User)).all() == []
        prepare_accounts(session, embedded(tmp_path, demo=True))
        assert session.exec(select(User).where(User.username == "admin")).one()
        production = Settings(
            environment="production",
            data_dir=tmp_path,
            data_key=Fernet.generate_key().decode(),
            database_url=f"sqlite:///{tmp_path / 's.db'}",
            temporal_tls_ca=tmp_path / "ca.pem",
            temporal_tls_cert=tmp_path / "client.pem",
            temporal_tls_key=tmp_path / "client.key",
        )
        prepare_accounts(session, production)  # demo accounts left from an embedded run are disabled
        admin = session.exec(select(User).where(User.username == "admin")).one()
        assert admin.password_hash == DISABLED and authenticate(session, "admin", "admin") is None
        with pytest.raises(RuntimeError, match="production"):
            prepare_accounts(session, embedded(tmp_path, demo=True))


def test_production_refuses_the_demo_flag(tmp_path):
    with pytest.raises(ValueError, match="embedded stack only"):
        Settings(
            environment="production",
            demo_accounts=True,
            data_dir=tmp_path,
            data_key=Fernet.generate_key().decode(),
            database_url="sqlite://",
        )
