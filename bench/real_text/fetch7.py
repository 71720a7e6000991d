"""Session-7 real captions (dev7 / heldout7: Sci. Adv., MDPI, NRL, Hindawi, Elemental Microscopy) into the cache.

The same as ``python -m bench.real_text.fetch6 --part 7`` (see :mod:`bench.real_text.fetch6`): copies the committed
CC BY texts of ``captions7_sources.json`` to ``captions7.json`` in the cache.

    .venv/bin/python -m bench.real_text.fetch7 [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

from bench.real_text.fetch6 import part_entry

ensure, main = part_entry("7")

if __name__ == "__main__":
    raise SystemExit(main())
