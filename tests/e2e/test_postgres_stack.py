"""The production topology on this machine: `onevisit up --split-workers` (the gateway, the
engine's worker and each agency's worker in processes of their own, one Temporal server, one
ledger node) with the store on a real PostgreSQL server. Registrations complete, their trails
verify and close, the whole ledger reconciles with the store, and the store is PostgreSQL's."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gateway import migrate
from tests.fixtures.stack import application, wait_all_ended

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("postgres")]


def test_split_processes_on_postgresql_register_verify_and_reconcile(split_stack):
    stack = split_stack
    headers = stack.token("applicant")
    ids = []
    for _ in range(3):
        resp = httpx.post(f"{stack.url}/api/v1/cases", json=application(), headers=headers, timeout=60)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["case_id"])
    cases = wait_all_ended(stack, ids)
    assert {c["status"] for c in cases.values()} == {"completed"} and all(c["closing"] for c in cases.values())
    verified = stack.cli("audit", "verify", ids[0], "--url", stack.url, "--json", check=True)
    assert '"closed": "completed"' in verified.stdout
    stack.cli("audit", "ledger", "--url", stack.url, check=True)
    with psycopg.connect(stack.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        stored = conn.execute("""SELECT count(*) FROM "case" WHERE id = ANY(%s) AND status = 'completed'""", (ids,))
        assert stored.fetchone()[0] == 3
        handoffs = conn.execute("SELECT count(*) FROM handoffrow WHERE case_id = ANY(%s)", (ids,)).fetchone()[0]
        assert handoffs == 3 * 6  # five steps and the closing record each
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()
    assert not (stack.data_dir / "onevisit.db").exists()  # nothing went to the embedded SQLite store
