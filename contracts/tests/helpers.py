"""Small helpers shared by the contract tests (fixtures live in conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3.exceptions import ContractLogicError

ZERO_ADDRESS = "0x" + "00" * 20
EMPTY = b"\x00" * 32


def agency_id(name: str) -> bytes:
    return keccak(text=name)


def step_id(flow: str, step: str) -> bytes:
    return keccak(text=f"{flow}/{step}")


def h(label: str) -> bytes:
    """A stand-in 32-byte hash (handoff, commitment, Merkle root) named by what it stands for."""
    return keccak(text=label)


def transact(fn, sender: str) -> Any:
    """Send a contract call from ``sender`` and return its (successful) receipt."""
    w3 = fn.w3
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt.status == 1
    return receipt


@contextmanager
def reverts(reason: str) -> Iterator[None]:
    """The call inside must revert with exactly this reason string."""
    with pytest.raises((TransactionFailed, ContractLogicError)) as info:
        yield
    message = getattr(info.value, "message", None) or str(info.value)
    assert re.fullmatch(rf"(execution reverted: )?{re.escape(reason)}", message), message


def events(contract, name: str, receipt) -> list[dict[str, Any]]:
    """The ``name`` events a receipt holds, as plain dicts of their arguments."""
    return [dict(log.args) for log in getattr(contract.events, name)().process_receipt(receipt)]


def only_event(contract, name: str, receipt) -> dict[str, Any]:
    found = events(contract, name, receipt)
    assert len(found) == 1, f"expected one {name} event, got {found}"
    assert len(receipt.logs) == 1, f"expected only the {name} event, got {len(receipt.logs)} logs"
    return found[0]
