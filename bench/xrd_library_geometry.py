"""Geometry check of every structure the library's sources hold (before de-duplication), per source.

    python -m bench.xrd_library_geometry [--out bench/results/xrd_library_geometry.json]

Prints entries / failures per source and per failing test, and writes the per-entry list (id, source, formula,
space group, check label, metrics) as JSON. Method: ``matsearch.indexer.structures.geometry`` (docs/xrd.md,
"Library geometry check (session 6)")."""

from __future__ import annotations

import argparse
import collections
import json
import time
import warnings
from pathlib import Path

from matsearch.indexer.structures.geometry import check_geometry
from matsearch.indexer.structures.library import SOURCES
from matsearch.indexer.structures.sources import SkippedStructure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/xrd_library_geometry.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rows: list[dict[str, object]] = []
    counts: collections.Counter[str] = collections.Counter()
    fails: collections.Counter[str] = collections.Counter()
    for name, loader in SOURCES.items():
        for e in loader():
            if isinstance(e, SkippedStructure):
                continue
            c = check_geometry(e.structure)
            counts[name] += 1
            fails[name] += not c.ok
            rows.append(
                {"id": e.id, "source": name, "formula": e.formula, "spacegroup": e.spacegroup_number,
                 "check": c.label, "metrics": {k: float(v) for k, v in c.metrics.items()}}
            )  # fmt: skip
    seconds = time.perf_counter() - t0
    print(f"{'source':20s} {'entries':>8s} {'fail':>6s} {'share':>6s}")
    for k in counts:
        print(f"{k:20s} {counts[k]:8d} {fails[k]:6d} {fails[k] / counts[k]:6.3f}")
    tests: collections.Counter[tuple[str, str]] = collections.Counter()
    for r in rows:
        if r["check"] != "pass":
            tests[(str(r["source"]), str(r["check"]).split(" (")[0].removeprefix("fail: ").split(" ")[0])] += 1
    for (src, test), n in sorted(tests.items()):
        print(f"  {src:20s} {test:14s} {n:5d}")
    print(f"{seconds:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": round(seconds, 1), "entries": rows}, indent=0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
