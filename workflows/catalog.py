"""The flow catalog: definitions shipped as JSON files under ``workflows/definitions``.

Read by workers and the gateway at start-up (never inside workflow code).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from workflows.flows import FlowDef

DEFINITIONS = Path(__file__).with_name("definitions")


def load_flow(path: str | Path) -> FlowDef:
    return FlowDef.model_validate_json(Path(path).read_text(encoding="utf-8"))


@cache
def builtin_flows() -> dict[str, FlowDef]:
    flows = (load_flow(p) for p in sorted(DEFINITIONS.glob("*.json")))
    return {f.name: f for f in flows}


def get_flow(name: str) -> FlowDef:
    try:
        return builtin_flows()[name]
    except KeyError:
        raise KeyError(f"unknown flow {name!r}; known: {', '.join(sorted(builtin_flows()))}") from None
