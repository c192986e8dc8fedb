"""The same registration, and a health card, through the engine and the real agency adapters with
anvil as the ledger (a node we did not write, standing in for Besu's JSON-RPC): every handoff is
anchored there by the agency owning its step, as on the embedded node."""

from __future__ import annotations

import pytest

from tests.fixtures.engine import engine_rig
from tests.fixtures.stack import application
from workflows.catalog import get_flow


@pytest.fixture
async def anvil_rig(time_skipping_env, queue_prefix, anvil_ledger, tmp_path):
    async with engine_rig(time_skipping_env, queue_prefix, anvil_ledger, tmp_path) as r:
        yield r


def assert_anchored_on(ledger, rig, case_id: str) -> list[str]:
    trail = rig.trail(case_id)
    on_chain = ledger.ledger().anchors_of([h.handoff.hash for h in trail])
    assert {h.handoff.hash: h.anchor for h in trail} == on_chain  # each where the engine recorded it
    keys = ledger.keys
    for h in trail:
        assert on_chain[h.handoff.hash].account == keys[h.handoff.record.agency].account
        assert h.handoff.signer == keys[h.handoff.record.agency].signer
    return [h.handoff.record.step for h in trail]


async def test_a_registration_completes_with_every_handoff_anchored_on_anvil(anvil_rig, anvil_ledger):
    status = await (await anvil_rig.start(application())).result()
    assert status.state == "completed"
    steps = assert_anchored_on(anvil_ledger, anvil_rig, status.case_id)
    assert sorted(steps) == sorted(
        ["name_check", "business_licence", "seal_approval", "tax_registration", "social_security", "_closing"]
    )


async def test_a_health_card_completes_on_anvil(anvil_rig, anvil_ledger):
    from agencies.health import hash_pin

    app = {"resident": {"name": "张伟", "id_number": "370102199001011231"}, "pin_hash": hash_pin("580316")}
    handle = await anvil_rig.start(app | {"share": ["identity"]}, flow=get_flow("health_card"))
    status = await handle.result()
    assert status.state == "completed" and len(status.result["card_number"]) == 18
    assert assert_anchored_on(anvil_ledger, anvil_rig, status.case_id) == [
        "resident_identity",
        "health_archive",
        "card_issue",
        "_closing",
    ]
