"""Panel type of whole real figures that show one type each (``bench/real_types/figures7t.json``), dev and held-out.

    .venv/bin/python -m bench.eval_real_types [--images ~/.cache/matsearch/realdata/types]

Each figure (every panel of one type, typed by eye) is classified as ONE panel, as ingestion types a panel: the
EfficientNet-Lite0 vector, ``panel_type.classify_panels`` (with the picture-inside-axes rule); no caption. The
files come from the papers' git repositories (see the README there: they are not on a package registry); each is
checked against its git blob SHA-1. Prints accuracy per part and writes ``bench/results/eval_real_types.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from PIL import Image

from matsearch.core.images import to_rgb
from matsearch.core.settings import Settings
from matsearch.indexer.figures.panel_type import classify_panels, image_vectors_of

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "bench/real_types/figures7t.json"
DEFAULT_IMAGES = Path("~/.cache/matsearch/realdata/types").expanduser()
RESULTS = ROOT / "bench/results/eval_real_types.json"
SPLITS = ("dev7t", "heldout7t")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    items = json.loads(FIGURES.read_text())["figures"]
    images, truth, splits = [], [], []
    for it in items:
        path = args.images / it["repo"].split("/", 1)[1] / it["path"]
        if not path.exists():
            raise SystemExit(f"{path} missing: see bench/real_types/README.md")
        data = path.read_bytes()
        if git_blob_sha1(data) != it["blob_sha1"]:
            raise SystemExit(f"{path} differs from the annotated file")
        images.append(to_rgb(Image.open(path)))
        truth.append(it["type"])
        splits.append(it["split"])
    typed = classify_panels(images, image_vectors_of(images, Settings()))
    out: dict[str, dict[str, object]] = {}
    for split in SPLITS:
        rows = [(t, k) for t, (k, _), s in zip(truth, typed, splits, strict=True) if s == split]
        ok = sum(t == k for t, k in rows)
        wrong: dict[str, int] = {}  # confusions of the dev part only (a held-out part gives its aggregate alone)
        for t, k in rows if split.startswith("dev") else []:
            if t != k:
                wrong[f"{t}->{k}"] = wrong.get(f"{t}->{k}", 0) + 1
        out[split] = {"figures": len(rows), "correct": ok, "accuracy": round(ok / max(1, len(rows)), 4), "wrong": wrong}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"{'whole real figures of one type (bench/real_types)':<52}" + "".join(f"{s:>14}" for s in SPLITS))
    print(f"  {'type accuracy (image only)':<50}" + "".join(f"{out[s]['accuracy']:>14.3f}" for s in SPLITS))
    print(f"  {'figures':<50}" + "".join(f"{out[s]['figures']:>14}" for s in SPLITS))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
