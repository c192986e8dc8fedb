"""`provision` (what `onevisit up` and `onevisit provision` run) on a real embedded node: every
agency registered and every step assigned in a few blocks, nothing sent twice, a registration a
crash left unwritten picked up from the chain, a registry that disagrees with the keys refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agencies.directory import AGENCIES
from chain.client import Admin, LedgerClient
from chain.errors import AnchorRefused, ChainError
from chain.handoff import agency_id, step_id
from chain.node import LedgerNode, genesis_for
from gateway.deployment import read_deployment, write_deployment
from gateway.provision import provision
from tests.fixtures.ledger import FUNDS, new_keys
from workflows.catalog import builtin_flows


@pytest.fixture
def node(tmp_path):
    admin, keys = new_keys()
    accounts = [admin.account, *(k.account for k in keys.values())]
    node = LedgerNode(tmp_path / "ledger", genesis=genesis_for({a: FUNDS for a in accounts}, accounts))
    url = node.start("127.0.0.1", 0)
    try:
        yield url, admin, keys, set(accounts)
    finally:
        node.stop()


def test_agencies_and_steps_are_put_on_the_chain_in_a_few_blocks_and_once(node, tmp_path):
    url, admin, keys, admitted = node
    path = tmp_path / "deployment.json"
    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)
    deployment, known = read_deployment(path)
    ledger = LedgerClient(url, deployment)
    registry = ledger.agency_registry.functions
    assert set(known) == set(AGENCIES)
    for name, k in keys.items():
        assert registry.account_of(agency_id(name)).call() == k.account
        assert registry.signer_of(agency_id(name)).call() == k.signer
    owned = [(f.name, s, a) for f in builtin_flows().values() for s, a in f.owned_steps()]
    assert len(owned) > 10
    for flow, step, agency in owned:
        assert registry.owner_of_step(step_id(flow, step)).call() == agency_id(agency)
    head = ledger.w3.eth.block_number
    # two deployments, then the registrations and the assignments packed: not one block per transaction
    assert head < 2 + len(keys) + len(owned), head

    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)  # again: nothing to send
    assert ledger.w3.eth.block_number == head


def test_a_registration_a_crash_left_unwritten_is_read_from_the_chain(node, tmp_path):
    url, admin, keys, admitted = node
    path = tmp_path / "deployment.json"
    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)
    deployment, known = read_deployment(path)
    write_deployment(path, deployment, {n: v for n, v in known.items() if n != "tax"})  # registered, not written
    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)
    assert read_deployment(path)[1] == known


def test_an_agency_registered_under_other_keys_is_refused_by_name(node, tmp_path):
    url, admin, keys, admitted = node
    path = tmp_path / "deployment.json"
    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)
    deployment, known = read_deployment(path)
    write_deployment(path, deployment, {n: v for n, v in known.items() if n != "tax"})
    _, other = new_keys()
    with pytest.raises(ChainError, match=f"tax is registered on the ledger with the account {keys['tax'].account}"):
        provision(url, admin.account_key, {**keys, "tax": other["tax"]}, path, admitted, say=lambda _: None)
    # the same account with another signing key: the chain would refuse every handoff it signs
    swapped = replace(keys["tax"], signing_key=other["tax"].signing_key)
    assert swapped.account == keys["tax"].account and swapped.signer != keys["tax"].signer
    with pytest.raises(ChainError, match=f"and the signer {keys['tax'].signer}, not"):
        provision(url, admin.account_key, {**keys, "tax": swapped}, path, admitted, say=lambda _: None)
    assert "tax" not in read_deployment(path)[1]  # nothing written down


def test_a_refused_call_in_a_batch_names_the_contracts_reason(node, tmp_path):
    url, admin, keys, admitted = node
    path = tmp_path / "deployment.json"
    provision(url, admin.account_key, keys, path, admitted, say=lambda _: None)
    a = Admin(LedgerClient(url, read_deployment(path)[0]), admin.account_key)
    with pytest.raises(AnchorRefused, match="agency already registered"):
        a.register_agencies([(name, k.account, k.signer) for name, k in keys.items()])
    with pytest.raises(AnchorRefused, match="unknown agency"):
        a.assign_steps([("business_registration", "tax_registration", "no_such_agency")])
