"""python -m chain.node --data-dir DIR [--host H] [--port P] [--genesis FILE] [--block-time S]
[--ready-file FILE] [--max-block-txs N] [--admin-port P --admin-jwt-public-key PEM]

With --admin-jwt-public-key the allowlist (perm_*) is served on 127.0.0.1:--admin-port only, each
call with a JWT (ES256) that key verifies; without it the allowlist is fixed by the genesis."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from chain.node.db import DataDirInUse
from chain.node.node import GenesisMismatch, LedgerNode


def write_ready_file(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def _fast_keccak() -> None:
    """keccak through safe-pysha3 (~10% faster sealing); eth_hash picks its backend on first
    use, which has not happened yet when the command line starts."""
    if importlib.util.find_spec("sha3") is not None:
        os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")


def main(argv: list[str] | None = None) -> int:
    _fast_keccak()
    parser = argparse.ArgumentParser(prog="python -m chain.node", description=__doc__)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--genesis", type=Path)
    parser.add_argument("--block-time", type=float, default=0.01)
    parser.add_argument("--max-block-txs", type=int, default=500)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--admin-jwt-public-key", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    genesis = None
    if args.genesis is not None:
        try:
            genesis = json.loads(args.genesis.read_text())
        except (OSError, ValueError) as exc:
            print(f"error: cannot read genesis {args.genesis}: {exc}", file=sys.stderr)
            return 2
    try:
        node = LedgerNode(args.data_dir, genesis=genesis, block_time=args.block_time, max_block_txs=args.max_block_txs)
    except (GenesisMismatch, DataDirInUse, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    admin_key = args.admin_jwt_public_key.read_bytes() if args.admin_jwt_public_key else None
    url = node.start(args.host, args.port, args.admin_port, admin_key)
    if args.ready_file is not None:
        write_ready_file(
            args.ready_file, {"url": url, "admin_url": node.admin_url, "chain_id": node.chain_id, "pid": os.getpid()}
        )
    print(url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
