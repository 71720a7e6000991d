r"""Leave-one-paper-out accuracy of the panel-type recipe on the real DEV typed boxes (the fair dev number).

    .venv/bin/python -m training.loso_panel_type --features-cache FEATURES.npz [--real-splits dev,dev4,dev5,dev8t]

``FEATURES.npz`` is the trainer's ``--features-cache`` (``training.train_panel_type``: its generated panels are reused,
its recipe decides them). Scored: every typed, unambiguous true box of the real dev parts — ``old`` (dev, dev4, dev5 of
``bench/real_figures``), ``dev78`` (figvision's dev7/dev8 boxes of the dev-side msa-em papers), ``dev9f`` (dev9),
``dev8t``, ``dev9t``, ``dev11t`` (``bench/real_types``; ``dev9td`` / ``dev11td``: their Debian documentation images).
For each unit (paper, documentation set; ``unit`` of the manifests, the repository for msa-em papers) a model is
trained as the trainer
trains it (generated panels + the real boxes of ``--real-splits`` outside the unit, each with ``--real-aug`` jittered
copies) and types the unit's boxes as ingestion does: the classifier, the picture-inside-axes rule, then ``fuse`` with
the figure's caption where there is one. Boxes of parts not in ``--real-splits`` are scored but never trained on.
Prints accuracy per part and the confusions; ``--out`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from matsearch.core.images import to_rgb
from matsearch.core.settings import Settings
from matsearch.indexer.figures import panel_type as pt
from matsearch.indexer.figures.captions import split_caption
from training.train_panel_type import HELD_OUT_PAPERS, TYPED_PANELS, figure_annotations, figure_unit, jitter


def dev_boxes() -> list[dict[str, Any]]:
    """Every typed, unambiguous true box of the real dev parts: part, unit, type, label, caption, box, image."""
    from bench.real_figures import fetch as rf
    from bench.real_types.fetch import image_path

    manifest, panels, cache = figure_annotations(fetch=True)
    parts = {"dev": "old", "dev4": "old", "dev5": "old", "dev7": "dev78", "dev8": "dev78", "dev9": "dev9f"}
    out: list[dict[str, Any]] = []
    for name, truth in sorted(panels.items()):
        fig = manifest[name]
        unit = figure_unit(name, fig)
        if fig["split"] not in parts or unit in HELD_OUT_PAPERS:
            continue
        typed = [p for p in truth if not p.get("type_ambiguous") and p.get("type") in pt.PANEL_TYPES]
        if not typed:
            continue
        img = to_rgb(Image.open(cache / name))
        cap = rf.caption_of(fig, cache)
        for p in typed:
            out.append(
                {"part": parts[fig["split"]], "split": fig["split"], "unit": unit, "type": p["type"]}
                | {"label": p.get("label"), "caption": cap, "crop": img.crop(tuple(p["bbox"]))}
            )
    for path in TYPED_PANELS:
        for f in json.loads(path.read_text())["figures"]:
            typed = [p for p in f["panels"] if not p.get("type_ambiguous") and p.get("type") in pt.PANEL_TYPES]
            if not f["split"].startswith("dev") or not typed:
                continue
            img = to_rgb(Image.open(image_path(f)))
            part = f["split"] + ("d" if f.get("deb") else "")
            for p in typed:
                out.append(
                    {"part": part, "split": f["split"], "unit": f.get("unit", f["repo"]), "type": p["type"]}
                    | {"label": p.get("label"), "caption": f.get("caption"), "crop": img.crop(tuple(p["bbox"]))}
                )
    return out


def box_features(boxes: list[dict[str, Any]], n_aug: int, settings: Settings, seed: int = 7) -> dict[str, np.ndarray]:
    """Features of each box, of ``n_aug`` jittered copies, and of its inner picture where the rule would look."""
    rng = np.random.default_rng(seed)
    dim = 1280 + pt.STATS_DIM
    x, xj = np.zeros((len(boxes), dim), np.float32), np.zeros((len(boxes), n_aug, dim), np.float32)
    xi, has_inner = np.zeros((len(boxes), dim), np.float32), np.zeros(len(boxes), bool)
    for k0 in range(0, len(boxes), 16):  # a few at a time: whole figures are large
        crops = [b["crop"] for b in boxes[k0 : k0 + 16]]
        x[k0 : k0 + len(crops)] = pt.features(crops, pt.image_vectors_of(crops, settings))
        if n_aug:
            jit = [jitter(c, rng) for c in crops for _ in range(n_aug)]
            xj[k0 : k0 + len(crops)] = pt.features(jit, pt.image_vectors_of(jit, settings)).reshape(
                len(crops), n_aug, -1
            )
        for k, c in enumerate(crops, start=k0):
            found = pt.inner_picture(c)
            if found is not None:
                box, share, fill = found
                if pt.INNER_MIN_SHARE <= share < pt.INNER_MAX_SHARE and fill >= pt.INNER_MIN_FILL:
                    inner = [c.convert("RGB").crop(box)]
                    xi[k] = pt.features(inner, pt.image_vectors_of(inner, settings))[0]
                    has_inner[k] = True
    return {"x": x, "xj": xj, "xi": xi, "has_inner": has_inner}


def leave_one_unit_out(
    boxes: list[dict[str, Any]],
    feats: dict[str, np.ndarray],
    xtr: np.ndarray,
    ytr: np.ndarray,
    train_splits: list[str],
    c: float = 0.5,
) -> list[str]:
    """The fused type of every box, each typed by a model trained without its unit (see the module doc)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray([pt.PANEL_TYPES.index(b["type"]) for b in boxes])
    trainable = np.asarray([b["split"] in train_splits for b in boxes])
    n_aug = feats["xj"].shape[1]
    pred = [""] * len(boxes)
    for unit in sorted({b["unit"] for b in boxes}):
        test = np.asarray([b["unit"] == unit for b in boxes])
        tr = trainable & ~test
        xa = np.concatenate([xtr, feats["x"][tr], feats["xj"][tr].reshape(-1, xtr.shape[1])])
        ya = np.concatenate([ytr, y[tr], np.repeat(y[tr], n_aug)])
        mean, std = xa.mean(axis=0), xa.std(axis=0) + 1e-3
        clf = LogisticRegression(C=c, max_iter=3000).fit((xa - mean) / std, ya)
        classes = [pt.PANEL_TYPES[int(k)] for k in clf.classes_]
        for k in np.where(test)[0]:
            p = clf.predict_proba(((feats["x"][k] - mean) / std)[None])[0]
            kind, prob = classes[int(p.argmax())], float(p.max())
            if kind in ("graph", "other") and feats["has_inner"][k]:  # the picture-inside-axes rule
                q = clf.predict_proba(((feats["xi"][k] - mean) / std)[None])[0]
                if classes[int(q.argmax())] in ("microscopy", "diffraction", "photo") and float(q.max()) >= 0.5:
                    kind, prob = classes[int(q.argmax())], float(q.max())
            b = boxes[k]
            if b["caption"]:
                sc = split_caption(b["caption"])
                kind, prob = pt.fuse(
                    kind, prob, sc.segment(b["label"]), b["label"], context=sc.panel_caption(b["label"])
                )
            pred[k] = kind
    return pred


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--features-cache", type=Path, required=True, help="the trainer's --features-cache file")
    ap.add_argument("--real-splits", default="dev,dev4,dev5,dev8t", help="real dev parts trained on (as the trainer)")
    ap.add_argument("--real-aug", type=int, default=6)
    ap.add_argument("--C", type=float, default=0.5)
    ap.add_argument("--box-cache", type=Path, help="npz file: reuse/store the real boxes' features (same annotations)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    z = np.load(args.features_cache)
    boxes = dev_boxes()
    described = [[b["part"], b["unit"], b["type"], b["label"], list(b["crop"].size)] for b in boxes]
    key = json.dumps([*described, args.real_aug])
    if args.box_cache and args.box_cache.exists() and str(np.load(args.box_cache)["key"]) == key:
        feats = {k: v for k, v in np.load(args.box_cache).items() if k != "key"}
    else:
        feats = box_features(boxes, args.real_aug, Settings(image_backend="onnx", onnx_threads=2))
        if args.box_cache:
            arrays: dict[str, Any] = dict(feats, key=np.asarray(key))
            np.savez_compressed(args.box_cache, **arrays)
    splits = [s for s in args.real_splits.split(",") if s]
    pred = leave_one_unit_out(boxes, feats, z["xtr"], z["ytr"], splits, args.C)
    result: dict[str, Any] = {}
    for part in sorted({b["part"] for b in boxes}) + ["all"]:
        ks = [k for k, b in enumerate(boxes) if part in ("all", b["part"])]
        ok = sum(pred[k] == boxes[k]["type"] for k in ks)
        wrong = Counter(f"{boxes[k]['type']}->{pred[k]}" for k in ks if pred[k] != boxes[k]["type"])
        result[part] = {"boxes": len(ks), "correct": ok, "accuracy": round(ok / max(1, len(ks)), 4)}
        result[part]["wrong"] = dict(wrong.most_common())
        print(f"{part:<8} {ok:>4}/{len(ks):<4} = {ok / max(1, len(ks)):.3f}   {dict(wrong.most_common(6))}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
