"""The ledger suite against the embedded py-evm node (chain/node), in-process."""

import pytest

from tests.chain.ledger_suite import LedgerSuite


@pytest.fixture(scope="module")
def lut(test_ledger):
    return test_ledger


class TestEmbeddedLedger(LedgerSuite):
    pass
