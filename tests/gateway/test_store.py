"""The gateway's store (on SQLite; test_store_postgres.py runs these on PostgreSQL too): newest
status wins, queues follow it, data keys erase."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlmodel import Session, select

from gateway.accounts import issue_token, token_user
from gateway.casework import escalations, record_case
from gateway.store import ApiToken, Case, CaseKey, QueueItem, SchemaMismatch, User, Vault, make_engine, utcnow
from workflows.catalog import get_flow
from workflows.messages import CaseStatus, StepStatus

FLOW = get_flow("business_registration")


@pytest.fixture
def session(tmp_path, store_url):
    engine = make_engine(store_url or f"sqlite:///{tmp_path / 'store.db'}")
    with Session(engine) as s:
        s.add(User(id=1, username="applicant", password_hash="x", role="applicant"))
        s.commit()
        s.add(
            Case(
                id="BR-1",
                applicant_id=1,
                flow=FLOW.name,
                title="济南测试科技有限公司",
                flow_version="v",
                flow_definition={},
                salt="0x",
                commitment="0x",
                application_enc=b"",
            )
        )
        s.commit()
        yield s


def status(revision: int, licence_state: str, escalated: bool = False) -> CaseStatus:
    steps = [StepStatus(step=s.id, title=s.title, agency=s.agency, sla_minutes=s.sla_minutes) for s in FLOW.steps]
    steps[1].state, steps[1].escalated = licence_state, escalated
    steps[1].since, steps[1].deadline = "2026-11-21T10:00:00+00:00", "2026-11-21T11:00:00+00:00"
    return CaseStatus(case_id="BR-1", flow=FLOW.name, flow_version="v", steps=steps, revision=revision)


def test_a_waiting_step_enters_the_agency_queue_and_leaves_when_decided(session):
    record_case(session, status(1, "awaiting_decision"))
    assert [(q.step, q.agency) for q in session.exec(select(QueueItem)).all()] == [
        ("business_licence", "market_regulation")
    ]
    record_case(session, status(2, "running"))
    assert session.exec(select(QueueItem)).all() == []


def test_an_older_status_delivered_late_does_not_overwrite_a_newer_one(session):
    record_case(session, status(3, "running"))
    record_case(session, status(2, "awaiting_decision"))
    assert session.get(Case, "BR-1").revision == 3 and session.exec(select(QueueItem)).all() == []


def test_escalations_list_only_the_agencys_overdue_open_steps(session):
    record_case(session, status(1, "awaiting_decision", escalated=True))
    assert [e["step"] for e in escalations(session, "market_regulation")] == ["business_licence"]
    assert escalations(session, "tax") == []


def test_deleting_a_case_key_erases_the_application_and_a_wrong_data_key_opens_nothing(session):
    vault = Vault(Vault.new_key())
    case = session.get(Case, "BR-1")
    vault.seal(session, case, {"legal_representative": {"id_number": "370102198806151237"}})
    session.commit()
    assert vault.open(session, case)["legal_representative"]["id_number"] == "370102198806151237"
    assert b"370102198806151237" not in case.application_enc
    with pytest.raises(InvalidToken):
        Vault(Fernet.generate_key().decode()).open(session, case)
    session.delete(session.get(CaseKey, "BR-1"))
    session.commit()
    assert vault.open(session, case) is None


def test_a_database_from_an_older_version_is_refused_by_name(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("CREATE TABLE 'case' (id TEXT PRIMARY KEY)")
    with pytest.raises(SchemaMismatch, match=r"lacks table .*, case\.applicant_id"):
        make_engine(f"sqlite:///{path}")


def test_a_bearer_token_signs_in_its_own_user_until_it_expires(session):
    """One query finds a token's user (on SQLite and PostgreSQL alike): not an unknown token, not an
    expired one, and never another user's."""
    session.add(User(id=2, username="auditor", password_hash="x", role="auditor"))
    session.commit()
    applicant, auditor = session.get(User, 1), session.get(User, 2)
    theirs, mine = issue_token(session, applicant, 10), issue_token(session, auditor, 10)
    assert token_user(session, theirs).username == "applicant" and token_user(session, mine).username == "auditor"
    assert token_user(session, mine + "x") is None and token_user(session, "") is None
    row = session.get(ApiToken, hashlib.sha256(mine.encode()).hexdigest())
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert token_user(session, mine) is None and token_user(session, theirs).username == "applicant"
