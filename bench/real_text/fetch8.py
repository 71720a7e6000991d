"""Session-8 real captions (dev8 / heldout8: journal figure pages) into the figure-text cache: no download.

The same as ``python -m bench.real_text.fetch6 --part 8`` (see :mod:`bench.real_text.fetch6`): copies the committed
CC BY texts of ``captions8_sources.json`` to ``captions8.json`` in the cache.

    .venv/bin/python -m bench.real_text.fetch8 [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

from bench.real_text.fetch6 import part_entry

ensure, main = part_entry("8")

if __name__ == "__main__":
    raise SystemExit(main())
