"""Benchmark of `onevisit up`'s start-up: prints ONE JSON line.

    .venv/bin/onevisit bench startup [--json] [--runs N] [--split-workers]
    .venv/bin/python bench/startup.py [--runs N] [--split-workers]

Starts the whole embedded stack (the very ``Stack`` that ``onevisit up`` runs) on a fresh data
directory, stops it, and starts it again on the same directory (warm) ``runs`` times. Per start:
  seconds                  from the start until GET /healthz answers 200 (contracts deployed,
                           agencies registered, every task queue polled)
  milestones               seconds until each stage: every part spawned, the ledger node
                           serving, contracts and registrations checked, Temporal listening,
                           healthy
  cpu_s                    CPU seconds each part (and the supervisor) had used when healthy
Run it on a quiet machine: other load shows up one for one in the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.stack import Stack, free_port  # noqa: E402


def start_once(data_dir: Path, split_workers: bool) -> dict:
    stack = Stack(data_dir, free_port(), echo=False, split_workers=split_workers)
    try:
        stack.start()
        return {"seconds": stack.timings["healthy"], "milestones": dict(stack.timings), "cpu_s": stack.cpu()}
    finally:
        stack.stop()


def run(runs: int = 3, split_workers: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-startup-") as tmp:
        data = Path(tmp) / "data"
        fresh = start_once(data, split_workers)
        warm = [start_once(data, split_workers) for _ in range(runs)]
    return {
        "fresh_s": fresh["seconds"],
        "warm_s": statistics.median(w["seconds"] for w in warm),
        "warm_runs_s": [w["seconds"] for w in warm],
        "fresh": fresh,
        "warm": warm[-1],
        "settings": {"runs": runs, "split_workers": split_workers},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="warm starts after the fresh one")
    parser.add_argument("--split-workers", action="store_true", help="one process per worker (production shape)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.runs, args.split_workers)))


if __name__ == "__main__":
    main()
