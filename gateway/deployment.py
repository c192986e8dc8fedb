"""The deployment file: where the contracts live and which keys each agency registered."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chain.anchors import Deployment


def write_deployment(path: Path, deployment: Deployment, agencies: dict[str, dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**deployment.to_json(), "agencies": agencies}, indent=2) + "\n")
    os.replace(tmp, path)


def read_deployment(path: Path) -> tuple[Deployment, dict[str, dict[str, str]]]:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    agencies = data.pop("agencies")
    return Deployment(**data), agencies
