"""Session-6 real captions (dev6 / heldout6) into the figure-text cache: no download.

The caption texts are CC BY 4.0 (each article states it) and are committed with their attribution in
``captions6_sources.json`` (id, unit = DOI, split, citation, licence, how the text was taken, caption). This module
only copies them to ``captions6.json`` in the cache, the file ``bench.eval_figtext_real`` reads for the dev6 and
heldout6 columns (the hand annotations ``captions_dev6.json`` / ``captions_heldout6.json`` refer to the texts by
character spans and check them by SHA-256).

    .venv/bin/python -m bench.real_text.fetch6 [--part 6|7|8] [--cache ~/.cache/matsearch/realdata/text]

The session-7 and session-8 parts (``captions7_sources.json``, ``captions8_sources.json``) are the same kind of file:
``--part 7`` / ``--part 8`` copies them to ``captions7.json`` / ``captions8.json``; ``bench.real_text.fetch7`` and
``fetch8`` are those two entry points under the module names their callers use.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCES = Path(__file__).with_name("captions6_sources.json")
DEFAULT_CACHE = Path("~/.cache/matsearch/realdata/text").expanduser()
CACHE_FILE = "captions6.json"


def fetch(cache: Path = DEFAULT_CACHE, sources: Path = SOURCES, cache_file: str = CACHE_FILE) -> list[dict[str, Any]]:
    """Copy the committed caption texts of ``sources`` into ``cache / cache_file``."""
    items = json.loads(sources.read_text("utf-8"))
    out = [{"id": it["id"], "paper": it["unit"], "split": it["split"], "caption": it["caption"]} for it in items]
    cache.mkdir(parents=True, exist_ok=True)
    (cache / cache_file).write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    return out


def ensure(cache: Path = DEFAULT_CACHE, sources: Path = SOURCES, cache_file: str = CACHE_FILE) -> Path:
    """The cache folder with an up-to-date ``captions6.json`` (rewritten whenever it differs from the sources)."""
    path = cache / cache_file
    want = {it["id"]: it["caption"] for it in json.loads(sources.read_text("utf-8"))}
    have = {c["id"]: c["caption"] for c in json.loads(path.read_text("utf-8"))} if path.exists() else {}
    if have != want:
        fetch(cache, sources, cache_file)
    return cache


def part_files(part: str) -> tuple[Path, str]:
    """(committed sources, cache file name) of a session part ("6", "7", "8")."""
    return Path(__file__).with_name(f"captions{part}_sources.json"), f"captions{part}.json"


def main(argv: list[str] | None = None, *, part: str | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    if part is None:
        ap.add_argument("--part", default="6", choices=("6", "7", "8"))
    args = ap.parse_args(argv)
    sources, cache_file = part_files(part or args.part)
    caps = fetch(args.cache, sources, cache_file)
    print(f"{len(caps)} captions in {args.cache / cache_file}")
    return 0


def part_entry(part: str) -> tuple[Callable[..., Path], Callable[..., int]]:
    """``ensure`` and ``main`` of one part, for the per-session modules (``fetch7``, ``fetch8``)."""
    sources, cache_file = part_files(part)

    def ensure_part(cache: Path = DEFAULT_CACHE) -> Path:
        return ensure(cache, sources, cache_file)

    def main_part(argv: list[str] | None = None) -> int:
        return main(argv, part=part)

    return ensure_part, main_part


if __name__ == "__main__":
    raise SystemExit(main())
