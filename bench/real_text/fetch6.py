"""Session-6 real captions (dev6 / heldout6) into the figure-text cache: no download.

The caption texts are CC BY 4.0 (each article states it) and are committed with their attribution in
``captions6_sources.json`` (id, unit = DOI, split, citation, licence, how the text was taken, caption). This module
only copies them to ``captions6.json`` in the cache, the file ``bench.eval_figtext_real`` reads for the dev6 and
heldout6 columns (the hand annotations ``captions_dev6.json`` / ``captions_heldout6.json`` refer to the texts by
character spans and check them by SHA-256).

    .venv/bin/python -m bench.real_text.fetch6 [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.real_text.fetch import cache_args

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


def main(argv: list[str] | None = None) -> int:
    args = cache_args(__doc__, argv)
    caps = fetch(args.cache)
    print(f"{len(caps)} captions in {args.cache / CACHE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
