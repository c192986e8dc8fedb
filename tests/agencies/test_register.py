"""The licence register: what public security (and the public check) learn about a code. Seals
are refused for a licence revoked or unknown at the time of the step."""

from __future__ import annotations

import pytest

from agencies.backend import Refused
from agencies.identifiers import random_uscc
from agencies.register import LicenceRegister
from agencies.simulated import SimulatedBackend
from tests.agencies.test_adapter import request
from tests.fixtures.stack import application


@pytest.fixture
def agencies(tmp_path, monkeypatch):
    """Market regulation and public security laid out as `onevisit up` lays them (DIR/agencies/NAME)."""
    upstream: dict = {"company_name": "济南泉智信息科技有限公司"}
    monkeypatch.setattr("agencies.simulated.parent_output", lambda _request, key: upstream[key])
    root = tmp_path / "agencies"
    market = SimulatedBackend("market_regulation", root / "market_regulation")
    police = SimulatedBackend("public_security", root / "public_security")
    return market, police, upstream


def test_codes_are_judged_whatever_comes_in(agencies):
    market, police, _ = agencies
    assert police.register.path == market.store_path  # found beside it, no configuration
    for junk in ("", "91370102MA3C8G8X3", "91370102MA3C8G8X3F", "9137010200000019K\u200d", "x" * 10_000):
        status = police.register.status(junk)
        assert (status.format_valid, status.status) == (False, "unknown")
        assert len(status.code) <= 64
    never_issued = random_uscc("370102")
    assert (police.register.status(never_issued).format_valid, police.register.status(never_issued).status) == (
        True,
        "unknown",
    )


def test_seals_only_for_a_licence_valid_now(agencies):
    market, police, upstream = agencies
    licence = market.perform(request("business_licence", "C-1", application()))
    status = police.register.status(licence["uscc"])
    assert (status.status, status.company_name, status.issued_on) == (
        "valid",
        "济南泉智信息科技有限公司",
        licence["licence_date"],
    )
    upstream["uscc"] = licence["uscc"]
    assert len(police.perform(request("seal_approval", "C-1", application()))["seals"]) == 5

    market.store.revoke_licences("C-1", "2026-11-22")
    assert police.register.status(licence["uscc"]).status == "revoked"
    with pytest.raises(Refused, match="revoked on the register") as err:
        police.perform(request("seal_approval", "C-2", application()))
    assert err.value.code == "LicenceNotValid"

    upstream["uscc"] = random_uscc("370102")  # well-formed, never issued here: a forged upstream output
    with pytest.raises(Refused, match="unknown on the register"):
        police.perform(request("seal_approval", "C-3", application()))


def test_an_empty_register_knows_nothing(tmp_path):
    assert LicenceRegister(tmp_path / "none.db").status(random_uscc("370103")).status == "unknown"
