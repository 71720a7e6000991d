"""CLI start-up time: ``matsearch --help`` and ``matsearch collections --json`` (a fresh process each run).

    .venv/bin/python -m bench.bench_startup --runs 7
    .venv/bin/python -m bench.bench_startup --runs 7 --entry /tmp/run_base.py --label before   # another checkout

``--entry`` runs a Python file instead of the installed ``matsearch`` (e.g. a script that puts an older checkout's
folders first on ``sys.path``), so the same numbers can be taken before and after a change. Writes
``bench/results/startup[-LABEL].json`` and prints a table; the load average is recorded beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine_info

COMMANDS = (("--help",), ("collections", "--json"))


def time_command(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    arr = np.asarray(times) * 1000.0
    return {"p50_ms": round(float(np.median(arr)), 1), "min_ms": round(float(arr.min()), 1), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--entry", type=Path, help="a Python file to run instead of the matsearch entry point")
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)
    base = [sys.executable, str(args.entry)] if args.entry else [sys.executable, "-m", "matsearch.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MATSEARCH_DATA_DIR=tmp)
        results = {" ".join(c): time_command([*base, *c], args.runs, env) for c in COMMANDS}
    out = {"label": args.label or "current", "entry": str(args.entry or "matsearch"), "results": results}
    out["machine"] = machine_info()
    path = Path("bench/results") / f"startup{'-' + args.label if args.label else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"{'command':<24} {'p50 ms':>8} {'min ms':>8}   (load {os.getloadavg()[0]:.1f})")
    for cmd, r in results.items():
        print(f"matsearch {cmd:<14} {r['p50_ms']:>8.1f} {r['min_ms']:>8.1f}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
