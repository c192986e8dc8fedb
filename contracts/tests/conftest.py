"""Fixtures for the contract tests: one py-evm chain per xdist worker, the two contracts
deployed once from ``chain/artifacts``, and every test run inside a snapshot that is reverted
afterwards, so tests are independent and fast."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from chain import artifacts
from contracts.tests.helpers import agency_id, step_id, transact

pytest_plugins = ["tests.fixtures.properties"]  # the hypothesis profile every property test runs under

MARKET = "market_regulation"
TAX = "tax_administration"
LICENCE_STEP = step_id("business_registration", "business_licence")
TAX_STEP = step_id("business_registration", "tax_registration")


@dataclass(frozen=True)
class RegisteredAgency:
    name: str
    id: bytes
    account: str
    signer: str
    step: bytes


def signer_address(label: str) -> str:
    """The address of a deterministic signing key; signers never send transactions."""
    return Account.from_key(agency_id(f"signer:{label}")).address


# chain -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tester() -> EthereumTester:
    return EthereumTester(PyEVMBackend())


@pytest.fixture(scope="session")
def w3(tester) -> Web3:
    return Web3(EthereumTesterProvider(tester))


def deploy(w3: Web3, name: str, sender: str, *args):
    art = artifacts.load(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])


@pytest.fixture(scope="session")
def registry(w3, admin):
    return deploy(w3, "AgencyRegistry", admin)


@pytest.fixture(scope="session")
def ledger(w3, admin, registry):
    return deploy(w3, "HandoffLedger", admin, registry.address)


@pytest.fixture(autouse=True)
def isolate(tester, registry, ledger):
    snapshot = tester.take_snapshot()
    yield
    tester.revert_to_snapshot(snapshot)


# roles -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def accounts(w3) -> list[str]:
    return list(w3.eth.accounts)


@pytest.fixture(scope="session")
def admin(accounts) -> str:
    return accounts[0]


@pytest.fixture(scope="session")
def stranger(accounts) -> str:
    """Funded, but neither admin nor registered to any agency."""
    return accounts[3]


@pytest.fixture(scope="session")
def spare_account(accounts) -> str:
    """Funded and unused: the target of account rotations."""
    return accounts[4]


@pytest.fixture(params=["stranger", "agency_account"])
def non_admin(request, stranger, market) -> str:
    """Each kind of caller who must not administer the registry."""
    return {"stranger": stranger, "agency_account": market.account}[request.param]


# agencies --------------------------------------------------------------------------------------
def _register(registry, admin, name: str, account: str, step: bytes) -> RegisteredAgency:
    agency = RegisteredAgency(name, agency_id(name), account, signer_address(name), step)
    transact(registry.functions.register_agency(agency.id, name, account, agency.signer), admin)
    transact(registry.functions.assign_step(step, agency.id), admin)
    return agency


@pytest.fixture
def market(registry, admin, accounts) -> RegisteredAgency:
    """Registered, active, owns the business-licence step."""
    return _register(registry, admin, MARKET, accounts[1], LICENCE_STEP)


@pytest.fixture
def tax(registry, admin, accounts) -> RegisteredAgency:
    """Registered, active, owns the tax-registration step."""
    return _register(registry, admin, TAX, accounts[2], TAX_STEP)
