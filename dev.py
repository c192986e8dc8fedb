#!/usr/bin/env python3
"""Set-up and entry points that need nothing but Python 3.11+ and pip.

    python3 dev.py run  [onevisit up options]   set up, then start the whole stack
    python3 dev.py test [pytest options]        set up, then lint (ruff) and run every test

Set-up is idempotent: a tools venv with a pinned uv (.tools/), then `uv sync --frozen` into
.venv/ from the committed lock file, plus what the tests need from npm (anvil) when present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
UV_VERSION = "0.13.8"
ANVIL_VERSION = "1.7.1"  # @foundry-rs/anvil on npm: a node we did not write, for the ledger suite
NPM_PREFIX = TOOLS / "npm"
PACKAGES = ("chain", "workflows", "agencies", "gateway", "contracts", "bench", "tests")


def sh(*argv: str, **kw) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, cwd=ROOT, **kw)


def setup() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs on whatever python3 the machine has)
        sys.exit(f"OneVisit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    uv = TOOLS / "bin" / "uv"
    if not uv.exists():
        venv.create(TOOLS, with_pip=True)
        sh(str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable}
    # Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines)
    # every process would otherwise compile every module it imports, ~4 CPU-s per process.
    sh(str(uv), "sync", "--frozen", "--quiet", "--compile-bytecode", env=env)
    bin_dir = ROOT / ".venv" / "bin"
    sh(str(bin_dir / "python"), "-m", "compileall", "-q", *PACKAGES, stdout=subprocess.DEVNULL)
    return bin_dir


def setup_anvil() -> None:
    """Install the pinned anvil into .tools/npm unless it is there already. Without npm the
    tests that need anvil fail (naming this step); everything else still runs."""
    installed = NPM_PREFIX / "node_modules" / "@foundry-rs" / "anvil" / "package.json"
    if installed.exists() and json.loads(installed.read_text()).get("version") == ANVIL_VERSION:
        return
    npm = shutil.which("npm")
    if npm is None:
        print(
            f"warning: npm not found, so anvil {ANVIL_VERSION} is not installed: the ledger tests "
            "against anvil will fail until node and npm are installed",
            file=sys.stderr,
        )
        return
    sh(
        npm,
        "install",
        "--prefix",
        str(NPM_PREFIX),
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        f"@foundry-rs/anvil@{ANVIL_VERSION}",
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    bin_dir = setup()
    if command in ("test", "setup"):
        setup_anvil()
    if command == "setup":
        return 0
    if command == "run":
        args = rest or ["--data-dir", ".onevisit", "--port", "8000"]
        return subprocess.call([str(bin_dir / "onevisit"), "up", *args], cwd=ROOT)
    for lint in (["check", "."], ["format", "--check", "."]):  # the house style is part of the suite
        if subprocess.call([str(bin_dir / "ruff"), *lint], cwd=ROOT) != 0:
            print(f"ruff {' '.join(lint)} failed: fix it (ruff check --fix . ; ruff format .)", file=sys.stderr)
            return 1
    # one worker more than the cores: the end-to-end tests wait on their stacks (Temporal, blocks,
    # pages) much of the time, and a third worker fills those waits (measured: 14:52 -> 12:55 on 2 cores)
    workers = os.environ.get("ONEVISIT_TEST_WORKERS", str(len(os.sched_getaffinity(0)) + 1))
    return subprocess.call([str(bin_dir / "pytest"), "-n", workers, "--dist", "loadgroup", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
