"""The deployment file: where the contracts live and which keys each agency registered."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.anchors import Deployment


@dataclass(frozen=True)
class DeploymentFile:
    """What ``deployment.json`` holds: the contracts, and each agency's registered signer and account."""

    chain: Deployment
    agencies: dict[str, dict[str, str]]

    @classmethod
    def read(cls, path: Path) -> DeploymentFile:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        agencies = data.pop("agencies")
        return cls(Deployment(**data), agencies)


def write_deployment(path: Path, deployment: Deployment, agencies: dict[str, dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**deployment.to_json(), "agencies": agencies}, indent=2) + "\n")
    os.replace(tmp, path)


def read_deployment(path: Path) -> tuple[Deployment, dict[str, dict[str, str]]]:
    """The same as a (contracts, agencies) pair, for the commands that read it so."""
    file = DeploymentFile.read(path)
    return file.chain, file.agencies
