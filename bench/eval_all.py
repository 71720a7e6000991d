"""Every recognition step's evaluation, one command (``make eval``): each prints its table and writes its JSON
under bench/results/; this writes bench/results/eval_all.json with what ran, how long, and where the results are,
and ends with the issues' Must-show table (``bench.must_show``: dev and held-out side by side, met / not met, read
from the result files; a line whose file is missing says "not run"), also under "must_show" in eval_all.json.

    .venv/bin/python -m bench.eval_all                 # full evaluations (tens of minutes on 2 cores)
    .venv/bin/python -m bench.eval_all --quick         # smaller query sets
    .venv/bin/python -m bench.eval_all --only figures,xrd
    .venv/bin/python -m bench.eval_all --summary-only  # the Must-show table from the result files there, no run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import must_show

RESULTS = Path(__file__).resolve().parent / "results"

# name → (module, extra args for --quick, results file)
EVALS: dict[str, tuple[str, list[str], str]] = {
    "figures": ("bench.eval_figures", ["--quick"], "eval_figures.json"),
    "figures_real": ("bench.eval_real_figures", ["--quick"], "eval_real_figures.json"),
    # panel types of typed paper figures and notebook/docs images (bench/real_types; files: bench.real_types.fetch)
    "figures_types": ("bench.eval_real_types", [], "eval_real_types.json"),
    # seeded film strips / frame series / graph grids (synthetic check of the layout methods), dev and held-out
    "figures_hard": ("bench.eval_hard_layouts", [], "eval_hard_layouts.json"),
    "figures_text": ("bench.eval_figures_text", ["--synthetic", "60"], "figures_text.json"),
    # real captions, scales, scale labels and text search, dev and held-out side by side
    "figtext_real": ("bench.eval_figtext_real", [], "eval_figtext_real.json"),
    "xrd": ("bench.eval_xrd", ["--quick"], "eval_xrd.json"),
    # real measured patterns (fetched from PyPI sdists; needs the built xrd collection), dev and held-out
    "xrd_real": ("bench.eval_xrd_real", [], "eval_xrd_real.json"),
    # organic molecular crystals the library lacks, as measured-looking absent queries (pyxtal's CIFs, cache only)
    "xrd_absent": ("bench.eval_xrd_absent", ["--reps", "1"], "eval_xrd_absent.json"),
    "stem": ("bench.eval_stem", ["--quick"], "eval_stem.json"),
    "plots": (
        "bench.eval_plots",
        ["--dev", "20", "--held-out", "60", "--new-held-out", "60", "--held-out-3", "60", "--held-out-4", "60"],
        "eval_plots.json",
    ),
    "plots_real": ("bench.eval_plots_real", ["--e2e", "10"], "eval_plots_real.json"),
    # ingested PDFs' XRD panels found by `search spectrum --collection spectra` (measured-looking .xy), dev + held-out
    "spectra_ingest": ("bench.eval_spectra_ingest", ["--quick"], "eval_spectra_ingest.json"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller query sets")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(EVALS)}")
    ap.add_argument("--summary-only", action="store_true", help="run nothing: print the Must-show table")
    args = ap.parse_args(argv)
    if args.summary_only:
        print(must_show.table(must_show.evaluate(must_show.load_results(RESULTS)), RESULTS))
        return 0
    names = args.only.split(",") if args.only else list(EVALS)
    unknown = [n for n in names if n not in EVALS]
    if unknown:
        ap.error(f"unknown evaluation(s) {unknown}; choose from {list(EVALS)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = []
    for name in names:
        module, quick_args, result_file = EVALS[name]
        cmd = [sys.executable, "-m", module, *(quick_args if args.quick else [])]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.monotonic()
        code = subprocess.call(cmd)
        if args.quick and module == "bench.eval_stem":  # --quick writes its own file
            result_file = "eval_stem_quick.json"
        summary.append(
            {
                "name": name,
                "command": " ".join(["python", *cmd[1:]]),
                "exit_code": code,
                "seconds": round(time.monotonic() - start, 1),
                "results": str(RESULTS / result_file),
            }
        )
    rows = must_show.evaluate(must_show.load_results(RESULTS))
    report = {"runs": summary, "must_show": [dataclasses.asdict(r) for r in rows]}
    (RESULTS / "eval_all.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print("\n evaluation      exit   seconds  results")
    for row in summary:
        print(f" {row['name']:<15} {row['exit_code']:>4} {row['seconds']:>9}  {row['results']}")
    print("\nMust show (issues 9, 10, 11, 12, 15), from the result files under bench/results/:")
    print(must_show.table(rows, RESULTS))
    return 0 if all(r["exit_code"] == 0 for r in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
