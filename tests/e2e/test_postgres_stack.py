"""The production topology on this machine: `onevisit up --split-workers` (the gateway, the
engine's worker and each agency's worker in processes of their own, one Temporal server, one
ledger node) with the store on a real PostgreSQL server. Registrations complete, their trails
verify and close, the whole ledger reconciles with the store, and the store is PostgreSQL's."""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest

from agencies.directory import AGENCIES
from agencies.keys import AgencyKeys
from gateway import migrate
from tests.fixtures.http import loopback
from tests.fixtures.stack import application, wait_all_ended

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("postgres")]


def test_split_processes_on_postgresql_register_verify_and_reconcile(split_stack):
    stack = split_stack
    headers = stack.token("applicant")
    ids = []
    for _ in range(3):
        resp = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=headers, timeout=60)
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


def environment_of(process: psutil.Process) -> dict[str, str]:
    """What the process holds in its environment, read as the kernel keeps it."""
    entries = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode(errors="replace").partition("=")[::2] for e in entries if e)


def test_an_agency_worker_holds_its_own_keys_and_never_the_data_key(split_stack):
    """The data key opens every case's application and every payload in Temporal: the operator's
    processes hold it (here in their environment, as in production), the agencies' workers do not;
    each runs its steps (the registrations above complete) with its own payload key alone."""
    parts = {" ".join(p.cmdline()[-3:]): p for p in psutil.Process(split_stack.proc.pid).children()}
    engine = parts["gateway.cli worker engine"]
    assert "ONEVISIT_DATA_KEY" in environment_of(engine)  # so the agencies' lack of it means something
    for name in AGENCIES:
        worker = parts[f"worker agency {name}"]
        assert not any(k == "ONEVISIT_DATA_KEY" for k in environment_of(worker)), name
        own = AgencyKeys.load(split_stack.data_dir / "keys" / f"{name}.json").payload_key
        assert own is not None and own not in {
            AgencyKeys.load(split_stack.data_dir / "keys" / f"{other}.json").payload_key
            for other in AGENCIES
            if other != name
        }
