"""The auditor on bundles alone: every kind of tampering is found and named."""

import secrets

import pytest

from chain.audit import parse_bundle, verify_case
from chain.errors import VerificationError
from chain.handoff import Handoff, sign


def checks(report):
    return {(f.check, f.step) for f in report.findings}


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
    assert ("hash", "business_licence") in checks(verify_case(bundle))


def test_a_deleted_handoff_breaks_its_dependants_parents(trail):
    bundle = trail.bundle.model_copy(update={"handoffs": [h for h in trail.bundle.handoffs if h.handoff.record.step != "business_licence"]})
    found = checks(verify_case(bundle))
    assert ("parents", "seal_approval") in found and ("parents", "tax_registration") in found


def test_an_inserted_unanchored_handoff_is_found(trail):
    first = trail.bundle.handoffs[0].handoff
    extra = sign(first.record.model_copy(update={"outputs": {"again": True}}), trail.keys["market_regulation"])
    items = list(trail.bundle.handoffs) + [trail.bundle.handoffs[0].model_copy(update={"handoff": extra, "anchor": None})]
    report = verify_case(trail.bundle.model_copy(update={"handoffs": items}))
    assert any(f.check == "anchor" and f.handoff == extra.hash for f in report.findings)


def test_a_reordered_parent_link_is_found(trail):
    # tax registration re-signed with the name check as its parent instead of the licence
    items = trail.bundle.handoffs
    tax = next(i for i in items if i.handoff.record.step == "tax_registration")
    name_check = next(i for i in items if i.handoff.record.step == "name_check")
    rec = tax.handoff.record.model_copy(update={"parents": [name_check.handoff.hash]})
    resigned = sign(Handoff.model_validate(rec.model_dump()), trail.keys["tax"])
    bundle = replace_item(trail.bundle, items.index(tax), handoff=resigned,
                          anchor=tax.anchor.model_copy(update={"handoff": resigned.hash}))
    assert ("parents", "tax_registration") in checks(verify_case(bundle))


def test_a_handoff_signed_by_the_wrong_agency_key_is_found(trail):
    items = trail.bundle.handoffs
    seal = next(i for i in items if i.handoff.record.step == "seal_approval")
    forged = sign(seal.handoff.record, trail.keys["tax"])
    bundle = replace_item(trail.bundle, items.index(seal), handoff=forged,
                          anchor=seal.anchor.model_copy(update={"handoff": forged.hash}))
    assert ("signer", "seal_approval") in checks(verify_case(bundle))


def test_a_step_emitted_by_an_agency_that_does_not_own_it_is_found(trail):
    items = trail.bundle.handoffs
    seal = next(i for i in items if i.handoff.record.step == "seal_approval")
    rec = seal.handoff.record.model_copy(update={"agency": "tax"})
    forged = sign(Handoff.model_validate(rec.model_dump()), trail.keys["tax"])
    bundle = replace_item(trail.bundle, items.index(seal), handoff=forged,
                          anchor=seal.anchor.model_copy(update={"handoff": forged.hash}))
    assert ("flow", "seal_approval") in checks(verify_case(bundle))


def test_anchored_before_its_parent_is_found(trail):
    items = trail.bundle.handoffs
    licence = next(i for i in items if i.handoff.record.step == "business_licence")
    bundle = replace_item(trail.bundle, items.index(licence), anchor=licence.anchor.model_copy(update={"block_number": 999}))
    found = checks(verify_case(bundle))
    assert ("order", "seal_approval") in found


def test_a_wrong_salt_does_not_open_the_commitment(trail):
    bundle = trail.bundle.model_copy(update={"salt": "0x" + secrets.token_bytes(32).hex()})
    assert ("commitment", None) in checks(verify_case(bundle))


@pytest.mark.parametrize("garbage", [b"", b"{", b'{"format": "other"}', b"\x00\xff"])
def test_an_unparseable_bundle_raises_naming_the_bundle_check(garbage):
    with pytest.raises(VerificationError) as err:
        parse_bundle(garbage)
    assert err.value.check == "bundle"
