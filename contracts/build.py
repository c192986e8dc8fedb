"""Compile the Vyper contracts into the artifacts the runtime loads.

    python -m contracts.build           # write chain/artifacts/<Name>.json
    python -m contracts.build --check   # exit 1 if the committed artifacts are stale

The runtime never needs the compiler: it reads ``chain/artifacts`` through
``chain.artifacts.load``. Compilation is offline and deterministic for a given vyper
version, so ``--check`` recompiles and compares the files byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

CONTRACTS = ("AgencyRegistry", "HandoffLedger")
SOURCE_DIR = Path(__file__).resolve().parent
ARTIFACT_DIR = SOURCE_DIR.parent / "chain" / "artifacts"


def compile_contract(name: str) -> dict[str, Any]:
    """Compile ``contracts/<name>.vy`` (imports resolve inside ``contracts/``)."""
    import vyper
    from vyper.compiler import compile_from_file_input
    from vyper.compiler.input_bundle import FilesystemInputBundle

    bundle = FilesystemInputBundle([SOURCE_DIR])
    source = bundle.load_file(f"{name}.vy")  # a relative path keeps the output path-independent
    out = compile_from_file_input(source, input_bundle=bundle, output_formats=["abi", "bytecode", "settings_dict"])
    return {
        "contract_name": name,
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "source_sha256": hashlib.sha256(source.source_code.encode()).hexdigest(),
        "vyper_version": vyper.__version__,
        "evm_version": out["settings_dict"]["evm_version"],
    }


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, sort_keys=True, indent=2) + "\n"


def artifact_path(name: str, out_dir: Path = ARTIFACT_DIR) -> Path:
    return out_dir / f"{name}.json"


def compile_all() -> dict[str, dict[str, Any]]:
    return {name: compile_contract(name) for name in CONTRACTS}


def build(out_dir: Path = ARTIFACT_DIR) -> list[Path]:
    written = []
    for name, artifact in compile_all().items():
        path = artifact_path(name, out_dir)
        path.write_text(render(artifact))
        written.append(path)
    return written


def stale(out_dir: Path = ARTIFACT_DIR, fresh_build: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """One line per artifact that a fresh build would change, saying why.

    ``fresh_build`` (from ``compile_all``) saves compiling again when checking several directories.
    """
    fresh_build = fresh_build or compile_all()
    problems = []
    for name in CONTRACTS:
        path = artifact_path(name, out_dir)
        fresh = fresh_build[name]
        if not path.exists():
            problems.append(f"{path.name}: missing")
            continue
        text = path.read_text()
        if text == render(fresh):
            continue
        try:
            committed = json.loads(text)
        except json.JSONDecodeError:
            problems.append(f"{path.name}: not valid JSON")
            continue
        if committed.get("source_sha256") != fresh["source_sha256"]:
            problems.append(f"{path.name}: contracts/{name}.vy changed since it was built")
        elif committed.get("vyper_version") != fresh["vyper_version"]:
            problems.append(
                f"{path.name}: built with vyper {committed.get('vyper_version')}, installed is {fresh['vyper_version']}"
            )
        else:
            problems.append(f"{path.name}: differs from a fresh build (an imported source or formatting changed)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are stale")
    args = parser.parse_args(argv)

    if args.check:
        problems = stale()
        if problems:
            print("stale contract artifacts; run `python -m contracts.build`:", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"artifacts up to date: {', '.join(CONTRACTS)}")
        return 0

    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    for path in build():
        print(f"wrote {path.relative_to(SOURCE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
