"""The ledger suite against anvil (Foundry's node, installed from npm by `dev.py setup`):
the same client code on a node we did not write."""

import pytest

from tests.chain.ledger_suite import LedgerSuite


@pytest.fixture(scope="module")
def deployed(anvil_ledger):
    return anvil_ledger


class TestAnvilLedger(LedgerSuite):
    pass
