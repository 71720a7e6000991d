"""Session-8 real captions (dev8 / heldout8) into the figure-text cache: no download.

Like :mod:`bench.real_text.fetch6`: the caption texts are CC BY (each source's licence in ``captions8_sources.json``,
with citation and how the text was taken) and are committed; this module copies them to ``captions8.json`` in the
cache, which ``bench.eval_figtext_real`` reads for the dev8 / heldout8 columns.

    .venv/bin/python -m bench.real_text.fetch8 [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

from pathlib import Path

from bench.real_text import fetch6
from bench.real_text.fetch import cache_args

SOURCES = Path(__file__).with_name("captions8_sources.json")
CACHE_FILE = "captions8.json"


def ensure(cache: Path = fetch6.DEFAULT_CACHE) -> Path:
    """The cache folder with an up-to-date ``captions8.json``."""
    return fetch6.ensure(cache, SOURCES, CACHE_FILE)


def main(argv: list[str] | None = None) -> int:
    args = cache_args(__doc__, argv)
    caps = fetch6.fetch(args.cache, SOURCES, CACHE_FILE)
    print(f"{len(caps)} captions in {args.cache / CACHE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
