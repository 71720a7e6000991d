"""Panel type on real paper figures of the Elemental Microscopy papers (``bench/real_types``), dev and held-out.

    .venv/bin/python -m bench.eval_real_types [--parts dev7t,dev8t] [--images ~/.cache/matsearch/realdata/types]

Two kinds of items, typed by eye (files from the papers' git repositories, ``python -m bench.real_types.fetch``;
each is checked against its git blob SHA-1):

- ``figures7t.json`` (dev7t / heldout7t, session 7): whole figures whose every panel is of one type, each classified
  as ONE panel, image only (no caption, no split);
- ``panels8t.json`` (dev8t, session 8: trained on, so its number is not a fair dev number — the fair one is
  leave-one-paper-out, docs/figures.md) and ``heldout8t.json`` (heldout8t): boxes of figures (the whole figure, or
  the panels ``split_figure`` gives), each classified as ingestion types a panel: the EfficientNet-Lite0 vector,
  ``panel_type.classify_panels`` (with the picture-inside-axes rule), then ``fuse`` with the caption where there is
  one (the panel's segment, its caption as indexed). Ambiguous boxes are not scored;
- ``panels9t.json`` (dev9t, session 9: trained on) and ``heldout9t.json`` (heldout9t): the same, whole images of new
  dev-side papers and the image outputs stored in the papers' notebooks (held-out side: heldout9t);
- ``panels11t.json`` (dev11t / heldout11t, session 11): whole images of the dev-side papers not typed before and the
  documentation images of X-ray / materials software packages (Debian), split by package (its ``split_rule``).

Since session 12 the boxes typed photo or illustration also get their scale bars read as ``fill_scales`` reads them,
and ``panel_type.scale_cue`` retypes those with a sub-mm bar microscopy (``--no-scales``: without it). The plot-frame
cue is inside ``classify_panels``.

Prints accuracy per part (dev parts also list their confusions; held-out parts give aggregates only) and writes
``bench/results/eval_real_types.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from PIL import Image

from bench.real_types.fetch import image_path, is_annotated_file
from matsearch.core.images import to_rgb
from matsearch.core.settings import Settings
from matsearch.indexer.figures.captions import split_caption
from matsearch.indexer.figures.panel_type import SCALE_CUE_TYPES, classify_panels, fuse, image_vectors_of, scale_cue
from matsearch.indexer.figures.panels import holds_picture, wants_scale
from matsearch.indexer.figures.scales import ScaleTask, assign_scales

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "dev7t": ROOT / "bench/real_types/figures7t.json",
    "heldout7t": ROOT / "bench/real_types/figures7t.json",
    "dev8t": ROOT / "bench/real_types/panels8t.json",
    "heldout8t": ROOT / "bench/real_types/heldout8t.json",
    "dev9t": ROOT / "bench/real_types/panels9t.json",
    "heldout9t": ROOT / "bench/real_types/heldout9t.json",
    "dev11t": ROOT / "bench/real_types/panels11t.json",
    "heldout11t": ROOT / "bench/real_types/panels11t.json",
}
DEFAULT_IMAGES = Path("~/.cache/matsearch/realdata/types").expanduser()
RESULTS = ROOT / "bench/results/eval_real_types.json"
SPLITS = tuple(FILES)


def _image(it: dict[str, Any], root: Path) -> Image.Image:
    path = image_path(it, root)
    if not path.exists():
        raise SystemExit(f"{path} missing: see bench/real_types/README.md")
    data = path.read_bytes()
    if not is_annotated_file(it, data):
        raise SystemExit(f"{path} differs from the annotated file")
    return to_rgb(Image.open(path))


def typed_items(split: str, root: Path, settings: Settings, scales: bool = True) -> list[tuple[str, str]]:
    """(true type, predicted type) of every scored box of ``split``."""
    figures = [f for f in json.loads(FILES[split].read_text())["figures"] if f["split"] == split]
    rows: list[tuple[str, str]] = []
    for f in figures:
        boxes = f.get("panels")
        if boxes is None:  # figures7t: the whole figure is one panel of type f["type"]
            boxes = [{"label": None, "bbox": None, "type": f["type"]}]
        boxes = [b for b in boxes if not b.get("type_ambiguous") and b.get("type")]
        if not boxes:
            continue
        img = _image(f, root)
        crops = [img.crop(tuple(b["bbox"])) if b["bbox"] else img for b in boxes]
        typed = classify_panels(crops, image_vectors_of(crops, settings))
        caption = f.get("caption")
        split_cap = split_caption(caption) if caption else None
        kinds: list[tuple[str, float]] = []
        for b, (kind, prob) in zip(boxes, typed, strict=True):
            if split_cap is not None:  # as split_figure / fill_types do
                label = b.get("label")
                kind, prob = fuse(kind, prob, split_cap.segment(label), label, context=split_cap.panel_caption(label))
            kinds.append((kind, prob))
        if scales:  # as fill_scales does, for the boxes the scale cue can retype (photo, illustration)
            kinds = _scale_cue(boxes, crops, kinds, split_cap)
        rows.extend((b["type"], kind) for b, (kind, _) in zip(boxes, kinds, strict=True))
    return rows


def _scale_cue(
    boxes: list[dict[str, Any]], crops: list[Image.Image], kinds: list[tuple[str, float]], split_cap: Any
) -> list[tuple[str, float]]:
    """``panel_type.scale_cue`` after the scale bars are read as ``fill_scales`` reads them (wants / strict from the
    fused type, the caption's value for the label); only the boxes typed photo or illustration are read (together, as
    one figure's panels), the others cannot change."""
    todo = [k for k, (kind, _) in enumerate(kinds) if kind in SCALE_CUE_TYPES]
    if not todo:
        return kinds
    tasks = []
    for k in todo:
        label = boxes[k].get("label")
        value, scope, inset = split_cap.scale_info(label) if split_cap is not None else (None, None, None)
        kind, prob = kinds[k]
        wants = wants_scale(crops[k], kind, prob, value, scope)
        strict = not wants and holds_picture(crops[k], kind)
        tasks.append(ScaleTask(crop=crops[k], wants=wants, value=value, scope=scope, inset=inset, strict=strict))
    out = list(kinds)
    for k, task, readings in zip(todo, tasks, assign_scales(tasks), strict=True):
        if (task.wants or task.strict) and readings:
            cued, conf = scale_cue(kinds[k][0], kinds[k][1], readings[0].to_dict())
            out[k] = (str(cued), float(conf or 0.0))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--parts", default=",".join(SPLITS), help=f"comma-separated, of {', '.join(SPLITS)}")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--no-scales", action="store_true", help="skip the scale-bar cue (session 12): image + caption only"
    )
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    if unknown := [p for p in parts if p not in FILES]:
        raise SystemExit(f"unknown part(s) {unknown}")
    settings = Settings()
    out: dict[str, dict[str, object]] = {}
    for split in parts:
        rows = typed_items(split, args.images, settings, scales=not args.no_scales)
        ok = sum(t == k for t, k in rows)
        wrong: dict[str, int] = {}  # confusions of the dev parts only (a held-out part gives its aggregate alone)
        for t, k in rows if split.startswith("dev") else []:
            if t != k:
                wrong[f"{t}->{k}"] = wrong.get(f"{t}->{k}", 0) + 1
        out[split] = {"items": len(rows), "correct": ok, "accuracy": round(ok / max(1, len(rows)), 4), "wrong": wrong}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"{'real paper figures / panels (bench/real_types)':<52}" + "".join(f"{s:>12}" for s in parts))
    print(f"  {'type accuracy':<50}" + "".join(f"{out[s]['accuracy']:>12.3f}" for s in parts))
    print(f"  {'items (figures7t: figures; 8t: typed boxes)':<50}" + "".join(f"{out[s]['items']:>12}" for s in parts))
    print("  dev8t is trained on (the fair dev number is leave-one-paper-out: docs/figures.md)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
