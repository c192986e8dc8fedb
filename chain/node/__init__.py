"""OneVisit's embedded ledger node: a permissioned py-evm chain persisted in SQLite, speaking
Ethereum JSON-RPC over HTTP, so web3 code talks to it as it would to anvil or Besu.

    node = LedgerNode(data_dir, genesis=genesis_for({addr: wei}, [addr]))
    url = node.start("127.0.0.1", 0)
    ...
    node.stop()

Command line: ``python -m chain.node --data-dir DIR [--genesis FILE] [--port 0] ...``.
"""

from chain.node.db import DataDirInUse
from chain.node.evm import genesis_for
from chain.node.node import GenesisMismatch, LedgerNode

__all__ = ["DataDirInUse", "GenesisMismatch", "LedgerNode", "genesis_for"]
