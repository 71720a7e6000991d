"""Session-11 real captions (dev11: journal figure pages, CC BY) into the figure-text cache: no download.

The same as the session-8 part (see :mod:`bench.real_text.fetch6`): copies the committed CC BY texts of
``captions11_sources.json`` to ``captions11.json`` in the cache. Split rule: ``bench/real_text/SPLIT11.md``.

    .venv/bin/python -m bench.real_text.fetch11 [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

from bench.real_text.fetch6 import part_entry

ensure, main = part_entry("11")

if __name__ == "__main__":
    raise SystemExit(main())
