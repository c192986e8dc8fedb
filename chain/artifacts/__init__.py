"""Compiled contract artifacts (ABI and bytecode), built from ``contracts/*.vy`` by
``python -m contracts.build``. The runtime reads these; it never needs the compiler."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


@cache
def _text(name: str) -> str:
    path = _HERE / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        known = sorted(p.stem for p in _HERE.glob("*.json"))
        raise LookupError(f"no contract artifact named {name!r} (known: {', '.join(known)})")
    return path.read_text()


def load(name: str) -> dict[str, Any]:
    """The artifact ``<name>.json``: contract_name, abi, bytecode, source_sha256,
    vyper_version, evm_version. Each call returns a fresh dict."""
    return json.loads(_text(name))
