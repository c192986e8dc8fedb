"""The ledger suite against the embedded py-evm node (chain/node), in-process."""

import pytest

from tests.chain.ledger_suite import LedgerSuite


@pytest.fixture(scope="module")
def deployed(embedded_ledger):
    return embedded_ledger


class TestEmbeddedLedger(LedgerSuite):
    pass
