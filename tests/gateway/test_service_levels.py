"""Service-level figures from anchor block times only (gateway/service_levels.py, and
GET /api/v1/audit/service-levels): time to licence, time to all seals, per month; each agency's step
times from its parents' anchors to its own."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.service_levels import Figure, figure, service_levels

T0 = int(datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC).timestamp())


def case(case_id: str, start: int, licence_after: int, seals_after: int) -> list[tuple]:
    """A case's completed handoffs: name check at ``start``, the licence and the seals after it."""
    h = {s: f"0x{case_id}{s}".ljust(66, "0") for s in ("n", "l", "s", "t")}
    return [
        (case_id, h["n"], "name_check", "market_regulation", [], start),
        (case_id, h["l"], "business_licence", "market_regulation", [h["n"]], start + licence_after),
        (case_id, h["s"], "seal_approval", "public_security", [h["l"]], start + seals_after),
        (case_id, h["t"], "tax_registration", "tax", [h["l"]], start + licence_after + 7),
    ]


def test_the_figures_are_differences_of_anchor_times_per_month_and_agency():
    rows = case("a1", T0, 60, 90) + case("b2", T0 + 120, 30, 300) + case("c3", T0 + 180, 600, 660)
    levels = service_levels(rows)
    assert levels.cases == 3
    assert levels.time_to_licence == Figure(n=3, p50_s=60, p90_s=600, max_s=600)
    assert levels.time_to_all_seals == Figure(n=3, p50_s=300, p90_s=660, max_s=660)
    assert [(m.month, m.cases, m.time_to_licence.n) for m in levels.by_month] == [("2026-11", 1, 1), ("2026-12", 2, 2)]
    by_agency = {a.agency: a.steps for a in levels.by_agency}
    assert by_agency["market_regulation"] == Figure(n=3, p50_s=60, p90_s=600, max_s=600)  # licence after name
    assert by_agency["public_security"] == Figure(n=3, p50_s=60, p90_s=270, max_s=270)  # seals after licence
    assert by_agency["tax"] == Figure(n=3, p50_s=7, p90_s=7, max_s=7)


def test_a_case_still_running_counts_only_what_it_reached():
    rows = case("a1", T0, 60, 90)[:2]  # licence anchored, seals not yet
    levels = service_levels(rows)
    assert (levels.cases, levels.time_to_licence.n, levels.time_to_all_seals) == (1, 1, Figure(n=0))


def test_nearest_rank_percentiles_are_measured_values():
    assert figure([5.0, 1.0, 3.0, 2.0, 4.0]) == Figure(n=5, p50_s=3, p90_s=5, max_s=5)
    assert figure([]) == Figure(n=0)


def test_the_auditor_reads_them_from_the_store(in_process_gateway):
    from gateway.casework import record_handoff
    from tests.gateway.test_public_licence import licence_handoff

    gw = in_process_gateway
    case_id = gw.open_case()
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff("91370102MA3C7FPK7H"))
    resp = gw.http.get("/api/v1/audit/service-levels", headers=gw.login("auditor"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["basis"].startswith("differences of anchor block times")
    assert body["by_agency"] == [] and body["cases"] == 0  # a licence with no name check anchored: no start
