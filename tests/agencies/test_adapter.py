"""The agency adapter as Temporal activities (ActivityEnvironment), on the real embedded ledger:
exactly once under retries, refusals signed, other agencies' work turned away."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agencies.adapter import AgencyActivities, SignedHandoffs
from agencies.backend import Broken, RemoteBackend
from agencies.service import create_service
from agencies.simulated import SimulatedBackend
from chain.client import Sender
from chain.handoff import case_commitment, new_salt
from tests.fixtures.http import serving
from tests.fixtures.stack import application
from workflows.catalog import get_flow
from workflows.messages import AnchoredHandoff, AnchorInput, StepInput

FLOW = get_flow("business_registration")


def adapter(embedded_ledger, tmp_path, agency: str, backend=None) -> AgencyActivities:
    keys = embedded_ledger.keys[agency]
    return AgencyActivities(
        keys,
        backend or SimulatedBackend(agency, tmp_path),
        Sender(embedded_ledger.ledger(), keys.account_key),
        SignedHandoffs(tmp_path / f"{agency}-journal.db"),
    )


def request(step: str, case_id: str, app: dict, parents=(), attempt: int = 1, flow=FLOW) -> StepInput:
    s = flow.step(step)
    return StepInput(
        key=f"{case_id}/{step}/{attempt}",
        case_id=case_id,
        flow=flow.name,
        flow_version=flow.version_hash(),
        rules_version=s.approval.version(),
        step=step,
        agency=s.agency,
        commitment=case_commitment(case_id, new_salt()),
        application=app,
        parents=list(parents),
        attempt=attempt,
        decided_by="rule:test",
    )


def run(fn, arg):
    return ActivityEnvironment().run(fn, arg)


def test_a_retried_step_returns_the_same_signed_handoff_and_one_licence(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    app = application()
    name = run(market.perform_step, request("name_check", "C-1", app)).handoff
    req = request("business_licence", "C-1", app, [name])
    first, second = run(market.perform_step, req), run(market.perform_step, req)
    assert first == second and first.handoff.verify() == embedded_ledger.keys["market_regulation"].signer
    # a new attempt key would sign anew, but the back-end still issues the same licence code
    third = run(market.perform_step, req.model_copy(update={"key": "C-1/business_licence/2"}))
    assert third.handoff.record.outputs["uscc"] == first.handoff.record.outputs["uscc"]


def test_a_retried_step_sends_no_second_transaction(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    req = request("name_check", "C-2", application())
    first, again = run(market.perform_step, req), run(market.perform_step, req)
    assert first == again and first.anchor.handoff == first.handoff.hash
    assert first.anchor.account == embedded_ledger.keys["market_regulation"].account
    assert embedded_ledger.ledger().anchors_for_case(first.handoff.record.case) == [first.anchor]


def test_the_legacy_pair_signs_then_anchors_the_same_handoff_once(embedded_ledger, tmp_path):
    """Cases started before one-activity steps sign (execute_step) and anchor (anchor_handoff) apart."""
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    req = request("name_check", "C-2b", application())
    signed = run(market.execute_step, req)
    anchor_in = AnchorInput(flow=FLOW.name, step="name_check", handoff=signed)
    a1, a2 = run(market.anchor_handoff, anchor_in), run(market.anchor_handoff, anchor_in)
    assert a1 == a2 and run(market.perform_step, req) == AnchoredHandoff(handoff=signed, anchor=a1)
    assert len(embedded_ledger.ledger().anchors_for_case(signed.record.case)) == 1


def test_a_refusal_becomes_a_signed_rejected_handoff(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    done = run(market.perform_step, request("name_check", "C-3", application(name="济南国际贸易有限公司")))
    signed = done.handoff
    assert signed.record.outcome == "rejected" and "restricted word" in signed.record.outputs["reason"]
    assert signed.verify() == embedded_ledger.keys["market_regulation"].signer and done.anchor.handoff == signed.hash


def test_another_agencys_step_is_not_performed(embedded_ledger, tmp_path):
    tax = adapter(embedded_ledger, tmp_path, "tax")
    with pytest.raises(ApplicationError, match="belongs to market_regulation") as err:
        run(tax.perform_step, request("name_check", "C-4", application()))
    assert err.value.non_retryable


def test_an_agency_anchors_only_what_it_signed(embedded_ledger, tmp_path):
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    tax = adapter(embedded_ledger, tmp_path, "tax")
    signed = run(market.execute_step, request("name_check", "C-5", application()))
    with pytest.raises(ApplicationError, match="only handoffs it signed") as err:
        run(tax.anchor_handoff, AnchorInput(flow=FLOW.name, step="name_check", handoff=signed))
    assert err.value.non_retryable


def test_the_remote_client_speaks_to_an_agency_service(embedded_ledger, tmp_path):
    service = create_service(SimulatedBackend("market_regulation", tmp_path / "remote"))
    with serving(service) as url:
        market = adapter(
            embedded_ledger, tmp_path, "market_regulation", backend=RemoteBackend("market_regulation", url)
        )
        ok = run(market.perform_step, request("name_check", "C-6", application())).handoff
        restricted = application(name="济南中华科技有限公司")
        refused = run(market.perform_step, request("name_check", "C-7", restricted)).handoff
    assert ok.record.outcome == "completed" and ok.record.outputs["name_reserved"] is True
    assert refused.record.outcome == "rejected" and "中华" in refused.record.outputs["reason"]


def test_an_agency_service_with_a_token_acts_only_for_its_token(embedded_ledger, tmp_path):
    backend = SimulatedBackend("market_regulation", tmp_path / "remote")
    with serving(create_service(backend, token="s3cret-token")) as url:
        for token in (None, "wrong-token"):
            market = adapter(
                embedded_ledger,
                tmp_path / str(token),
                "market_regulation",
                backend=RemoteBackend("market_regulation", url, token=token),
            )
            with pytest.raises(ApplicationError, match="refused this worker's token") as err:
                run(market.perform_step, request("name_check", "C-10", application()))
            assert not err.value.non_retryable  # the operator mends the token; the step waits meanwhile
        assert backend.store.once("C-10", "name_check", lambda: {"untouched": True}) == {"untouched": True}
        market = adapter(
            embedded_ledger,
            tmp_path,
            "market_regulation",
            backend=RemoteBackend("market_regulation", url, token="s3cret-token"),
        )
        ok = run(market.perform_step, request("name_check", "C-11", application())).handoff
    assert ok.record.outcome == "completed"


def test_an_unreachable_agency_service_is_retried_not_refused(embedded_ledger, tmp_path):
    market = adapter(
        embedded_ledger, tmp_path, "market_regulation", backend=RemoteBackend("market_regulation", "http://127.0.0.1:9")
    )
    with pytest.raises(ApplicationError, match="unreachable") as err:
        run(market.execute_step, request("name_check", "C-8", application()))
    assert not err.value.non_retryable and err.value.type == "AgencyUnavailable"


def test_a_permanent_fault_behind_the_agency_service_fails_the_step_for_good(embedded_ledger, tmp_path, monkeypatch):
    def broken(self, request):
        raise Broken("registry schema mismatch")

    monkeypatch.setattr(SimulatedBackend, "perform", broken)
    service = create_service(SimulatedBackend("market_regulation", tmp_path / "remote"))
    with serving(service) as url:
        market = adapter(
            embedded_ledger, tmp_path, "market_regulation", backend=RemoteBackend("market_regulation", url)
        )
        with pytest.raises(ApplicationError, match="registry schema mismatch") as err:
            run(market.execute_step, request("name_check", "C-9", application()))
    assert err.value.non_retryable and err.value.type == "AgencyBroken"


def test_a_running_activity_heartbeats_until_it_ends_and_then_stops():
    """A worker killed mid-step stops heartbeating, so Temporal retries in seconds, not a minute."""
    import time

    from temporalio import activity

    from agencies.heartbeat import heartbeating

    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())

    @activity.defn(name="slow")
    def slow() -> str:
        with heartbeating(every_s=0.05):
            time.sleep(0.6)
        return "done"

    assert env.run(slow) == "done"
    during = len(beats)
    time.sleep(0.3)
    assert during >= 3 and len(beats) == during


def test_activities_running_at_once_each_heartbeat_from_one_thread_and_never_after_they_end():
    import threading
    import time

    from temporalio import activity

    from agencies.heartbeat import Heartbeats

    heartbeats = Heartbeats()
    beats: dict[str, list[tuple[float, str]]] = {}
    ended: dict[str, float] = {}

    def run_one(name: str, for_s: float) -> None:
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: beats.setdefault(name, []).append(
            (time.monotonic(), threading.current_thread().name)
        )

        @activity.defn(name=name)
        def work() -> None:
            with heartbeats.beating(every_s=0.05):
                time.sleep(for_s)
            ended[name] = time.monotonic()

        env.run(work)

    before = threading.active_count()
    runs = [threading.Thread(target=run_one, args=(f"a{i}", 0.3 + 0.1 * i)) for i in range(6)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    time.sleep(0.2)
    assert set(beats) == {f"a{i}" for i in range(6)}
    assert {thread for each in beats.values() for _, thread in each} == {"heartbeats"}
    for name, each in beats.items():
        assert len(each) >= 3, name  # every 0.05 s over 0.3 s or more
        assert max(at for at, _ in each) <= ended[name], name  # none after its block ended
    assert threading.active_count() <= before + 1  # the one beating thread, however many ran
