"""The gateway's store on a real PostgreSQL server (tests/fixtures/postgres.py): the store's own
tests and the API tests that write and read it most (applying, idempotent retries, the clerks'
queues and decisions, who read an application, the public licence check, the live case feed, a
lost start reply), each run here again with ``store_url`` pointing at a fresh PostgreSQL database.
"""

from __future__ import annotations

import pytest

from tests.gateway import (
    test_application_access,
    test_case_events,
    test_case_start,
    test_cases_api,
    test_clerks_api,
    test_erasure,
    test_idempotency,
    test_migrations,
    test_public_licence,
    test_store,
)

SQLITE_ONLY = {
    "test_a_database_from_an_older_version_is_refused_by_name",  # builds a SQLite file by hand
    # these read the store's SQLite files as an adversary would; the rest of test_erasure runs here
    "test_a_clerks_reason_reaches_the_engine_only_as_a_commitment_and_the_store_only_sealed",
    "test_a_withdrawal_reason_goes_as_a_commitment",
    "test_after_an_erasure_the_store_yields_no_name_id_number_or_reason",
}

for _module in (
    test_store,
    test_cases_api,
    test_idempotency,
    test_clerks_api,
    test_case_start,
    test_application_access,
    test_public_licence,
    test_case_events,
    test_migrations,
    test_erasure,
):
    for _name, _obj in vars(_module).items():
        if _name.startswith("test_") and _name not in SQLITE_ONLY and callable(_obj):
            globals()[_name] = _obj
        elif getattr(_obj, "_fixture_function_marker", None) or type(_obj).__name__ == "FixtureFunctionDefinition":
            globals()[_name] = _obj  # the module's own fixtures (a case awaiting a clerk, a session...)

pytestmark = pytest.mark.xdist_group("postgres")  # one server, started once, on one worker


@pytest.fixture
def store_url(postgres_url) -> str:
    return postgres_url


def test_the_gateway_here_runs_on_postgresql(in_process_gateway):
    assert in_process_gateway.store.url.get_backend_name() == "postgresql"


def test_the_store_here_is_postgresql(session):
    assert session.get_bind().url.get_backend_name() == "postgresql"
