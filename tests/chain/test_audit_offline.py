"""The auditor on bundles alone: every kind of tampering is found and named, and nothing else
is: each test compares the whole list of findings."""

import secrets

import pytest
from eth_account import Account

from chain.audit.case import parse_bundle, verify_case
from chain.audit.evidence import EvidenceItem
from chain.errors import VerificationError
from chain.handoff import Handoff, agency_id, sign, step_id
from chain.hexid import to_hex
from tests.fixtures.trail import build_trail


def checks(report) -> list[tuple[str, str | None]]:
    """(check, step) of every finding, in the order the auditor reports them."""
    return [(f.check, f.step) for f in report.findings]


def replace_item(bundle, index, **update):
    items = list(bundle.handoffs)
    items[index] = items[index].model_copy(update=update)
    return bundle.model_copy(update={"handoffs": items})


def test_an_untouched_trail_is_valid(trail):
    report = verify_case(trail.bundle)
    assert report.ok, report.findings
    assert report.handoffs == report.anchored == 5


def test_a_changed_field_is_found_by_hash(trail):
    item = trail.bundle.handoffs[1]
    rec = item.handoff.record.model_copy(update={"outputs": {"uscc": "forged"}})
    bundle = replace_item(trail.bundle, 1, handoff=item.handoff.model_copy(update={"record": rec}))
    assert checks(verify_case(bundle)) == [("hash", "business_licence")]


def test_a_deleted_handoff_breaks_its_dependants_parents(trail):
    bundle = trail.bundle.model_copy(
        update={"handoffs": [h for h in trail.bundle.handoffs if h.handoff.record.step != "business_licence"]}
    )
    # each dependant of the licence misses it (a dependency without its handoff) and so has
    # parent links that match nothing in the trail
    assert checks(verify_case(bundle)) == [
        ("parents", s)
        for s in (
            "seal_approval",
            "seal_approval",
            "social_security",
            "social_security",
            "tax_registration",
            "tax_registration",
        )
    ]


def test_an_inserted_unanchored_handoff_is_found(trail):
    first = trail.bundle.handoffs[0].handoff
    extra = sign(first.record.model_copy(update={"outputs": {"again": True}}), trail.keys["market_regulation"])
    items = list(trail.bundle.handoffs) + [
        trail.bundle.handoffs[0].model_copy(update={"handoff": extra, "anchor": None})
    ]
    report = verify_case(trail.bundle.model_copy(update={"handoffs": items}))
    # a second completed name check, and it was never anchored
    assert [(f.check, f.handoff) for f in report.findings] == [("complete", extra.hash), ("anchor", extra.hash)]


def test_a_reordered_parent_link_is_found(trail):
    # tax registration re-signed with the name check as its parent instead of the licence
    items = trail.bundle.handoffs
    tax = next(i for i in items if i.handoff.record.step == "tax_registration")
    name_check = next(i for i in items if i.handoff.record.step == "name_check")
    rec = tax.handoff.record.model_copy(update={"parents": [name_check.handoff.hash]})
    resigned = sign(Handoff.model_validate(rec.model_dump()), trail.keys["tax"])
    bundle = replace_item(
        trail.bundle,
        items.index(tax),
        handoff=resigned,
        anchor=tax.anchor.model_copy(update={"handoff": resigned.hash}),
    )
    assert checks(verify_case(bundle)) == [("parents", "tax_registration")]


def test_a_handoff_signed_by_the_wrong_agency_key_is_found(trail):
    items = trail.bundle.handoffs
    seal = next(i for i in items if i.handoff.record.step == "seal_approval")
    forged = sign(seal.handoff.record, trail.keys["tax"])
    bundle = replace_item(
        trail.bundle, items.index(seal), handoff=forged, anchor=seal.anchor.model_copy(update={"handoff": forged.hash})
    )
    assert checks(verify_case(bundle)) == [("signer", "seal_approval")]


def test_a_step_emitted_by_an_agency_that_does_not_own_it_is_found(trail):
    items = trail.bundle.handoffs
    seal = next(i for i in items if i.handoff.record.step == "seal_approval")
    rec = seal.handoff.record.model_copy(update={"agency": "tax"})
    forged = sign(Handoff.model_validate(rec.model_dump()), trail.keys["tax"])
    bundle = replace_item(
        trail.bundle, items.index(seal), handoff=forged, anchor=seal.anchor.model_copy(update={"handoff": forged.hash})
    )
    # tax does not own the step, and public security's anchor is not from tax's account
    assert checks(verify_case(bundle)) == [("flow", "seal_approval"), ("anchor", "seal_approval")]


def test_anchored_before_its_parent_is_found(trail):
    items = trail.bundle.handoffs
    licence = next(i for i in items if i.handoff.record.step == "business_licence")
    bundle = replace_item(
        trail.bundle, items.index(licence), anchor=licence.anchor.model_copy(update={"block_number": 999})
    )
    children = ("seal_approval", "social_security", "tax_registration")
    assert checks(verify_case(bundle)) == [("order", s) for s in children]


def test_a_wrong_salt_does_not_open_the_commitment(trail):
    bundle = trail.bundle.model_copy(update={"salt": "0x" + secrets.token_bytes(32).hex()})
    assert checks(verify_case(bundle)) == [("commitment", None)]


@pytest.mark.parametrize("garbage", [b"", b"{", b'{"format": "other"}', b"\x00\xff"])
def test_an_unparseable_bundle_raises_naming_the_bundle_check(garbage):
    with pytest.raises(VerificationError) as err:
        parse_bundle(garbage)
    assert err.value.check == "bundle"


# each of the auditor's checks that no tamper above trips, tripped alone -----------------------


def registered(trail, *, late: str | None = None, suspended: str | None = None) -> list[dict]:
    """Registry events for the trail's agencies, all at block 1 (``late`` only at block 50, after
    every anchor), with ``suspended`` suspended at block 2 and reinstated at block 40."""
    events, steps = [], []
    for n, (name, claim) in enumerate(sorted(trail.bundle.agencies.items())):
        aid = to_hex(agency_id(name))
        events.append(
            {
                "event": "AgencyRegistered",
                "block_number": 50 if name == late else 1,
                "log_index": n,
                "agency": aid,
                "account": claim.account,
                "signer": claim.signer,
            }
        )
    for n, s in enumerate(trail.bundle.flow["steps"]):
        steps.append(
            {
                "event": "StepAssigned",
                "block_number": 1,
                "log_index": 100 + n,
                "agency": to_hex(agency_id(s["agency"])),
                "step": to_hex(step_id(trail.bundle.flow["name"], s["id"])),
            }
        )
    events = sorted(events + steps, key=lambda e: (e["block_number"], e["log_index"]))
    if suspended:
        aid = to_hex(agency_id(suspended))
        events += [
            {"event": "AgencySuspended", "block_number": 2, "log_index": 0, "agency": aid},
            {"event": "AgencyReinstated", "block_number": 40, "log_index": 0, "agency": aid},
        ]
    return sorted(events, key=lambda e: (e["block_number"], e["log_index"]))


def with_item(trail, step: str, **fields) -> tuple:
    """The trail with one more handoff like ``step``'s (fields changed), signed by its agency and
    claimed anchored in a later block."""
    item = next(i for i in trail.bundle.handoffs if i.handoff.record.step == step)
    rec = item.handoff.record
    signed = sign(Handoff.model_validate({**rec.model_dump(), **fields}), trail.keys[rec.agency])
    anchor = item.anchor.model_copy(
        update={"handoff": signed.hash, "block_number": 30, "timestamp": item.anchor.timestamp + 60}
    )
    return appended(trail, EvidenceItem(handoff=signed, anchor=anchor))


def appended(trail, item: EvidenceItem):
    return trail.bundle.model_copy(update={"handoffs": [*trail.bundle.handoffs, item]})


def test_registry_events_in_the_bundle_verify_offline(trail):
    bundle = trail.bundle.model_copy(update={"registry": registered(trail)})
    assert checks(verify_case(parse_bundle(bundle.model_dump_json()))) == []


def test_a_handoff_twice_in_the_trail_is_found(trail):
    name_check = [i.handoff.hash for i in trail.bundle.handoffs if i.handoff.record.step == "name_check"]
    escalated = with_item(trail, "business_licence", outcome="escalated", decided_by="rule:sla", parents=name_check)
    twice = escalated.model_copy(update={"handoffs": [*escalated.handoffs, escalated.handoffs[-1]]})
    assert checks(verify_case(escalated)) == []
    report = verify_case(twice)
    assert checks(report) == [("complete", "business_licence")]
    assert "appears twice" in report.findings[0].message


def test_a_record_of_another_flow_version_is_found():
    trail = build_trail(records={"seal_approval": {"flow_version": "sha256:" + "0e" * 32}})
    report = verify_case(trail.bundle)
    assert checks(report) == [("flow", "seal_approval")]
    assert "not this bundle's" in report.findings[0].message


def test_a_step_the_flow_does_not_have_is_found(trail):
    tax = next(i for i in trail.bundle.handoffs if i.handoff.record.step == "tax_registration")
    rec = tax.handoff.record
    notary = sign(Handoff.model_validate({**rec.model_dump(), "step": "notary", "parents": []}), trail.keys["tax"])
    anchor = tax.anchor.model_copy(
        update={"handoff": notary.hash, "block_number": 30, "step": to_hex(step_id(rec.flow, "notary"))}
    )
    bundle = appended(trail, EvidenceItem(handoff=notary, anchor=anchor))
    report = verify_case(bundle)
    assert checks(report) == [("flow", "notary")]
    assert "has no step 'notary'" in report.findings[0].message


def test_an_agency_not_registered_at_the_anchor_block_is_found(trail):
    bundle = trail.bundle.model_copy(update={"registry": registered(trail, late="human_resources")})
    report = verify_case(bundle)
    assert checks(report) == [("signer", "social_security")]
    assert "human_resources was not a registered agency when anchored" in report.findings[0].message


def test_an_anchor_made_for_another_case_is_found(trail):
    items = trail.bundle.handoffs
    seal = next(i for i in items if i.handoff.record.step == "seal_approval")
    bundle = replace_item(
        trail.bundle,
        items.index(seal),
        anchor=seal.anchor.model_copy(update={"case_commitment": to_hex(secrets.token_bytes(32))}),
    )
    report = verify_case(bundle)
    assert checks(report) == [("anchor", "seal_approval")]
    assert "another case or step" in report.findings[0].message


def test_a_handoff_anchored_while_its_agency_was_suspended_is_found(trail):
    bundle = trail.bundle.model_copy(update={"registry": registered(trail, suspended="public_security")})
    report = verify_case(bundle)  # seal approval is anchored at block 12, between blocks 2 and 40
    assert checks(report) == [("signer", "seal_approval")]
    assert "public_security was suspended when anchored" in report.findings[0].message


def test_a_signer_rotated_after_the_anchor_leaves_it_valid(trail):
    new_key = secrets.token_bytes(32)
    events = registered(trail) + [
        {
            "event": "SignerRotated",
            "block_number": 11,
            "log_index": 5,
            "agency": to_hex(agency_id("market_regulation")),
            "new_signer": Account.from_key(new_key).address,
        }
    ]
    events.sort(key=lambda e: (e["block_number"], e["log_index"]))
    bundle = trail.bundle.model_copy(update={"registry": events})
    # the licence (block 11, log 0) was anchored just before the rotation (log 5): still valid
    assert checks(verify_case(bundle)) == []


# two-phase signer rotation: both keys in the window, the new one alone after ----------------


def scheduled(trail, block: int, effective: int | None, new_key: bytes, agency: str = "market_regulation"):
    """The trail's registry with ``agency``'s key rotated to ``new_key`` at ``block`` (log 5),
    taking effect at ``effective`` (None: a rotation of the older contracts, at once)."""
    event = {
        "event": "SignerRotated",
        "block_number": block,
        "log_index": 5,
        "agency": to_hex(agency_id(agency)),
        "old_signer": trail.bundle.agencies[agency].signer,
        "new_signer": Account.from_key(new_key).address,
    }
    if effective is not None:
        event["effective_block"] = effective
    return sorted([*registered(trail), event], key=lambda e: (e["block_number"], e["log_index"]))


def resigned(bundle, step: str, key: bytes):
    """The bundle with ``step``'s record signed again by ``key``: the same record and hash."""
    index = next(n for n, i in enumerate(bundle.handoffs) if i.handoff.record.step == step)
    return replace_item(bundle, index, handoff=sign(bundle.handoffs[index].handoff.record, key))


def test_the_old_key_verifies_until_the_rotations_effective_block(trail):
    # name check anchored at block 10 and licence at 11, both signed by the old key; the rotation
    # was scheduled at block 9 to take effect at block 12: both anchors fall in the window
    bundle = trail.bundle.model_copy(update={"registry": scheduled(trail, 9, 12, secrets.token_bytes(32))})
    assert checks(verify_case(bundle)) == []


def test_the_old_key_anchored_from_the_effective_block_on_is_found(trail):
    new_key = secrets.token_bytes(32)
    bundle = trail.bundle.model_copy(update={"registry": scheduled(trail, 9, 11, new_key)})
    report = verify_case(bundle)  # the name check (block 10) is still in the window; the licence (11) is not
    assert checks(report) == [("signer", "business_licence")]
    assert f"registered key at block 11 was {Account.from_key(new_key).address}" in report.findings[0].message
    # the same record re-signed by the new key (same hash, same anchor) verifies
    assert checks(verify_case(resigned(bundle, "business_licence", new_key))) == []


def test_the_new_key_verifies_from_the_rotation_not_before(trail):
    new_key = secrets.token_bytes(32)
    in_window = resigned(trail.bundle, "business_licence", new_key)
    window = in_window.model_copy(update={"registry": scheduled(trail, 10, 30, new_key)})
    assert checks(verify_case(window)) == []  # scheduled at block 10, the licence anchored at 11
    early = in_window.model_copy(update={"registry": scheduled(trail, 11, 30, new_key)})
    report = verify_case(early)  # scheduled at block 11 log 5: after the licence's anchor (log 0)
    assert checks(report) == [("signer", "business_licence")]
    assert "taking over from block 30" not in report.findings[0].message


def test_a_rotation_of_the_older_contracts_takes_effect_at_once(trail):
    bundle = trail.bundle.model_copy(update={"registry": scheduled(trail, 10, None, secrets.token_bytes(32))})
    assert checks(verify_case(bundle)) == [("signer", "business_licence")]


@pytest.mark.parametrize("effective", [9, 8, "12", 12.0])
def test_a_rotation_whose_effective_block_is_not_later_is_refused(trail, effective):
    bundle = trail.bundle.model_copy(update={"registry": scheduled(trail, 9, 12, secrets.token_bytes(32))})
    data = bundle.model_dump(mode="json")
    next(e for e in data["registry"] if e["event"] == "SignerRotated")["effective_block"] = effective
    with pytest.raises(VerificationError, match="effective_block must be a block after the event's"):
        parse_bundle(data)
