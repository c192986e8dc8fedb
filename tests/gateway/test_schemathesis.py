"""Schemathesis against the OpenAPI document the gateway serves, in-process (a fake Temporal
client, a ledger faked to answer), once as each kind of caller: every operation gets requests that fit its schema
and requests that do not, half of the well-formed ones aimed at a real case and a real licence of
the applicant's. No answer may be a 5xx or break the schema the gateway publishes for it, and
malformed input must be refused with a 4xx.

Statuses the document does not list (401, 403, 404, 409, 429...) are the role matrix's business
(``test_role_matrix.py``), not checked here. Bounded and derandomized: the same requests every run."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES

from agencies.identifiers import random_uscc
from gateway.casework import record_case
from tests.agencies.test_certificates import OUTPUTS
from tests.fixtures.gateway import DEPLOYMENT
from tests.fixtures.stack import application
from tests.gateway.test_documents_api import record_step
from tests.gateway.test_licence_document_api import issue
from tests.gateway.test_role_matrix import CALLERS
from workflows.engine import CaseWorkflow

EXAMPLES = 4  # per operation, caller and mode: about 1,300 requests in all
CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, response_schema_conformance, content_type_conformance],
    GenerationMode.NEGATIVE: [
        not_a_server_error,
        response_schema_conformance,
        content_type_conformance,
        negative_data_rejection,
    ],
}
# malformed input may also be refused as 413: a body over the route's limit is refused unread
# (chain.jsonguard.BodyLimit), whatever else is wrong with it
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]}}}
)
APPLICATION_BODIES = {"POST /api/v1/cases", "POST /api/v1/cases/{case_id}/correction"}
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def checks_answer_at_once(monkeypatch) -> None:
    """A hospital's card check waits for its case to end; the fake engine never ends one (202 at once)."""
    monkeypatch.setattr("gateway.api.health_cards.CHECK_WAIT_S", 0.05)


@pytest.fixture
def fake_ledger(monkeypatch) -> None:
    """A ledger that answers: the chain id the deployment names, and no registry events. With none
    listening, /healthz and the evidence bundle rightly answer 503, which would hide their 200s."""
    import gateway.api.cases
    import gateway.api.health

    eth = SimpleNamespace(chain_id=DEPLOYMENT.chain_id)
    monkeypatch.setattr(gateway.api.health, "connect", lambda *_args, **_kw: SimpleNamespace(eth=eth))
    monkeypatch.setattr(gateway.api.cases, "LedgerClient", lambda *_args: SimpleNamespace(registry_events=lambda: []))
    monkeypatch.setattr(gateway.api.cases, "proofs_for", lambda bundle, *_args: bundle)  # nothing anchored to prove


def completed_case(gw, fake_temporal) -> dict[str, str]:
    """The applicant's case, recorded as completed (so its event stream ends), its licence and
    seals: the values of the path parameters ``case_id``, ``code`` and ``step``."""
    app = application()
    case_id = gw.open_case(app)
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    status.state, status.revision = "completed", 1
    for st_ in status.steps:
        st_.state = "skipped" if st_.step in ("bank_account", "housing_fund") else "completed"
    with gw.session() as session:
        record_case(session, status)
    code = issue(gw, case_id, random_uscc("370102"), app["company"]["name"])
    record_step(gw, case_id, "seal_approval", *OUTPUTS["seal_approval"])  # a certificate to download
    return {"case_id": case_id, "code": code, "step": "seal_approval"}


def operations(gw):
    """Every operation in the served document; sign-out last, so the caller keeps its token."""
    schema = schemathesis.openapi.from_dict(gw.http.get("/openapi.json").json(), config=CONFIG)
    ops = [result.ok() for result in schema.get_all_operations()]
    return sorted(ops, key=lambda op: (op.path == "/api/v1/auth/logout", op.label))


def fuzz(gw, op, mode: GenerationMode, headers: dict[str, str], real: dict[str, str], aim: bool = False) -> None:
    """``EXAMPLES`` requests to ``op`` as the caller ``headers`` sign in; raises on the first failure
    (shrunk). ``aim``: well-formed requests name the ``real`` case and licence, and send an
    application that passes the checks no schema can state (check characters, company names)."""

    @BOUNDED
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case):
        send(gw, op, mode, case, headers, real, aim)

    run()


def send(gw, op, mode: GenerationMode, case, headers: dict[str, str], real: dict[str, str], aim: bool) -> None:
    """Aim ``case`` as ``fuzz`` describes, send it as the caller ``headers`` sign in, check the answer."""
    if aim and case.path_parameters:
        case.path_parameters = {k: real.get(k, v) for k, v in case.path_parameters.items()}
    if aim and op.label in APPLICATION_BODIES:
        case.body = application()
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "idempotency-key"}
    sent = case.as_transport_kwargs(base_url=str(gw.http.base_url), headers=headers)
    sent.pop("cookies", None)
    if isinstance(sent.get("data"), bytes | str):  # raw bytes go as content
        sent["content"] = sent.pop("data")
    case.validate_response(gw.http.request(**sent), checks=CHECKS[mode])


class Recording:
    """An operation whose strategy keeps a copy of every request it generates, so the requests
    generated for the first caller are sent as every other caller: derandomized, hypothesis draws
    the same requests for each (a passing example never steers it), and drawing them was most of
    each caller's CPU. The first caller's run is unchanged, shrinking and all; the others send the
    recorded requests, reporting the first that fails as drawn."""

    def __init__(self, op, recorded: list) -> None:
        self._op, self._recorded = op, recorded

    def __getattr__(self, name: str):
        return getattr(self._op, name)

    def as_strategy(self, **kwargs):
        return self._op.as_strategy(**kwargs).map(self._record)

    def _record(self, case):
        self._recorded.append(fresh(case))
        return case


RECORDED: dict[tuple[str, GenerationMode], list] = {}  # requests generated per operation and mode


def fresh(case):
    """A copy of a generated request for one caller to aim: its parameters, body and metadata (which
    records whether it is still malformed once changed) its own, its operation shared."""
    copied = object.__new__(type(case))
    memo = {id(case.operation): case.operation}
    for name in type(case).__slots__:
        object.__setattr__(copied, name, copy.deepcopy(getattr(case, name), memo))
    return copied


def replay(gw, op, mode: GenerationMode, headers: dict[str, str], real: dict[str, str], aim: bool = False) -> None:
    """The requests ``fuzz`` generated for ``op`` and ``mode`` once, sent as this caller, aimed as
    ``fuzz`` aims them; raises on the first failure."""
    for case in RECORDED[op.label, mode]:
        send(gw, op, mode, fresh(case), headers, real, aim)


def runs(op) -> list[tuple[GenerationMode, bool]]:
    """Well-formed requests as generated, and (where the operation names a case, a licence or
    takes an application) aimed at the real ones, so the fuzzer gets past what no schema states;
    malformed ones where there is something to malform (a bare string path parameter has none)."""
    plan = [(GenerationMode.POSITIVE, False)]
    if op.path_parameters or op.label in APPLICATION_BODIES:
        plan.append((GenerationMode.POSITIVE, True))
    if len(op.body) or len(op.query) or len(op.headers):
        plan.append((GenerationMode.NEGATIVE, False))
    return plan


@pytest.mark.parametrize("caller", CALLERS)
def test_no_request_gets_a_server_error_or_an_answer_that_breaks_the_schema(
    in_process_gateway, fake_temporal, fake_ledger, caller
):
    gw = in_process_gateway
    gw.add_user("other-applicant", "applicant")
    real = completed_case(gw, fake_temporal)
    headers = {} if caller == "anonymous" else gw.login(caller)
    failures: dict[str, str] = {}
    for op in operations(gw):
        for mode, aim in runs(op):
            try:
                if (op.label, mode) in RECORDED:
                    replay(gw, op, mode, headers, real, aim)
                else:
                    fuzz(gw, Recording(op, RECORDED.setdefault((op.label, mode), [])), mode, headers, real, aim)
            except Exception as exc:  # every operation is fuzzed; the failures are reported together
                failures[f"{op.label} ({mode}{', aimed' if aim else ''})"] = str(exc)
    if caller in ("applicant", "other-applicant"):  # the fuzzer got past the checks no schema states
        assert len(fake_temporal.started) > 1
    assert not failures, "\n\n".join(f"{where}:\n{what}" for where, what in failures.items())
