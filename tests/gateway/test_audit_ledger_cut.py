"""`onevisit audit ledger` reads the ledger as it stood when the audit began and waits for the
records of anchors made just before (a handoff is recorded just after it is anchored), instead of
sleeping a fixed time and looking again. The gateway's listing of the store is the ``stored``
callable here; the ledger is the real embedded node."""

from __future__ import annotations

from chain.audit.ledger import StoredRecord
from gateway.cli.audit import reconcile_from_start
from tests.fixtures.onchain_trail import OnChainTrail, stored_records


def test_a_record_still_being_written_is_waited_for_not_reported(embedded_ledger):
    fresh = embedded_ledger.redeploy()  # a ledger of its own: other tests' anchors stay out
    records = stored_records(OnChainTrail.start(fresh).complete())
    listings = []

    def stored() -> list[StoredRecord]:  # the last handoff is recorded only after the first listing
        listings.append(None)
        return records if len(listings) > 1 else records[:-1]

    report, block = reconcile_from_start(stored, fresh.ledger(), settle_s=300)  # 300 s: a hang guard only
    assert report.ok and report.anchors_on_chain == report.records_in_store == report.matched == len(records)
    assert len(listings) == 2 and block >= max(r.anchor.block_number for r in records)


def test_anchors_after_the_start_wait_for_the_next_audit_unless_a_record_claims_them(embedded_ledger):
    fresh = embedded_ledger.redeploy()
    before = stored_records(OnChainTrail.start(fresh).complete())
    later: list[StoredRecord] = []

    def stored() -> list[StoredRecord]:  # a case anchored while the store is being listed ...
        if not later:
            later.extend(stored_records(OnChainTrail.start(fresh).complete()))
        return before + later[:1]  # ... of which the store has recorded one handoff so far

    report, block = reconcile_from_start(stored, fresh.ledger(), settle_s=300)
    assert all(r.anchor.block_number > block for r in later)
    assert report.ok and report.anchors_on_chain == report.matched == len(before) + 1, report.findings


def test_a_record_that_never_comes_is_reported_once_the_bound_has_passed(embedded_ledger):
    fresh = embedded_ledger.redeploy()
    records = stored_records(OnChainTrail.start(fresh).complete())
    report, _ = reconcile_from_start(lambda: records[1:], fresh.ledger(), settle_s=0.5)
    assert {(f.check, f.handoff) for f in report.findings} == {("complete", records[0].hash)}
