"""Codes market regulation and public security issue: valid, never issued twice, not guessable
from a neighbour's, and the same on a retried step."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agencies.identifiers import JINAN_DIVISIONS, random_seal_number, random_uscc, validate_uscc
from agencies.register import LicenceRegister
from agencies.simulated import ActionStore, SimulatedBackend
from tests.agencies.test_adapter import request
from tests.fixtures.stack import application


@given(st.sampled_from(sorted(JINAN_DIVISIONS)))
def test_every_drawn_code_is_valid_and_carries_its_division(division):
    code = random_uscc(division)
    assert validate_uscc(code) == code and code[2:8] == division


def test_a_drawn_code_that_was_issued_before_is_drawn_again(tmp_path):
    store = ActionStore(tmp_path / "s.db")
    draws = iter(["A", "A", "A", "B"])
    assert store.issue_unique("uscc", "C-1", lambda: next(draws)) == "A"
    assert store.issue_unique("uscc", "C-2", lambda: next(draws)) == "B"  # two collisions skipped


def test_licences_and_seals_are_unique_non_sequential_and_stable_on_retry(tmp_path, monkeypatch):
    # what the name check and the licence handed over (their signed handoffs are the adapter tests' subject)
    upstream = {"company_name": "济南泉智信息科技有限公司"}
    monkeypatch.setattr("agencies.simulated.parent_output", lambda _request, key: upstream[key])
    market = SimulatedBackend("market_regulation", tmp_path / "m")
    police = SimulatedBackend(
        "public_security", tmp_path / "p", register=LicenceRegister(tmp_path / "m" / "market_regulation-backend.db")
    )
    codes, seals = [], []
    for i in range(60):
        licence = market.perform(request("business_licence", f"C-{i}", application(), parents=()))
        assert (
            market.perform(request("business_licence", f"C-{i}", application(), parents=()))["uscc"] == licence["uscc"]
        )
        codes.append(licence["uscc"])
    assert len(set(codes)) == 60 and all(validate_uscc(c) for c in codes)
    bodies = sorted(int("".join(f"{'0123456789ABCDEFGHJKLMNPQRTUWXY'.index(ch):02d}" for ch in c[8:16])) for c in codes)
    assert len({b - a for a, b in zip(bodies, bodies[1:], strict=False)}) > 50  # no fixed stride between neighbours
    for i in range(20):
        upstream["uscc"] = codes[i]
        seals += [s["number"] for s in police.perform(request("seal_approval", f"C-{i}", application()))["seals"]]
    assert len(set(seals)) == 100 and all(len(s) == 13 and s.isdigit() for s in seals)
    assert len(random_seal_number()) == 13
