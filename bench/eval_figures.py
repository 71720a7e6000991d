"""Evaluate figure separation, panel labels, panel types and sketch search on held-out data.

    .venv/bin/python bench/eval_figures.py            # prints a table, writes bench/results/eval_figures.json
    .venv/bin/python bench/eval_figures.py --quick    # fewer synthetic items

Data (none of it used for tuning or training):
- the 5 dev figures with hand-annotated panels (``bench/annotations/dev_panels.json``) and their real captions;
- synthetic compound figures (``synth.compound_figure``, seeds from 60000; 20000+ were used while developing)
  with known boxes, labels and types,
  split with their captions and without;
- synthetic panels for type accuracy (seeds from 30000; the classifier was trained on seed 0);
- sketch precision@5: hand-drawn-style drawings (``synth.hand_sketch``, seed 50000) against particle micrographs
  (``synth.particle_micrograph``, seed 40000) of spheres, cubes, rods, stars and plates.

A predicted panel is correct when its label equals the true label and IoU >= 0.5 (unlabelled figures: label None).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.indexer.figures.panels import split_figure
from training import figures_synth as synth

ROOT = Path(__file__).resolve().parents[1]
DEV_DIR = ROOT.parent / "shared/data/dev/figures"
ANNOTATIONS = ROOT / "bench/annotations/dev_panels.json"
RESULTS = ROOT / "bench/results/eval_figures.json"
SETTINGS = Settings()


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


class Tally:
    def __init__(self) -> None:
        self.tp = self.n_pred = self.n_true = 0
        self.label_ok = self.label_pred = 0  # predicted labels that match the box's true label
        self.label_found = 0  # true labels found anywhere
        self.type_ok = self.type_n = 0
        self.figures = 0

    def add(self, pred: list[dict[str, Any]], truth: list[dict[str, Any]]) -> None:
        self.figures += 1
        self.n_pred += len(pred)
        self.n_true += len(truth)
        used: set[int] = set()
        for p in pred:
            best, bi = 0.0, -1
            for i, t in enumerate(truth):
                v = iou(p["bbox"], t["bbox"])
                if v > best:
                    best, bi = v, i
            if p.get("label") is not None:
                self.label_pred += 1
                if bi >= 0 and best >= 0.5 and truth[bi]["label"] == p["label"]:
                    self.label_ok += 1
            if bi >= 0 and best >= 0.5 and bi not in used and truth[bi]["label"] == p.get("label"):
                used.add(bi)
                self.tp += 1
                if truth[bi].get("type") not in (None, "mixed"):
                    self.type_n += 1
                    self.type_ok += int(truth[bi]["type"] == p.get("type"))
        found = {p.get("label") for p in pred}
        self.label_found += sum(1 for t in truth if t["label"] in found)

    def summary(self) -> dict[str, float]:
        prec = self.tp / self.n_pred if self.n_pred else 0.0
        rec = self.tp / self.n_true if self.n_true else 0.0
        return {
            "figures": self.figures,
            "panels_true": self.n_true,
            "panels_pred": self.n_pred,
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
            "label_precision": round(self.label_ok / self.label_pred, 4) if self.label_pred else 1.0,
            "label_accuracy": round(self.label_found / self.n_true, 4) if self.n_true else 0.0,
            "type_accuracy": round(self.type_ok / self.type_n, 4) if self.type_n else 0.0,
        }


def eval_dev() -> dict[str, float]:
    ann = json.loads(ANNOTATIONS.read_text())["figures"]
    meta = {m["file"]: m for m in json.loads((DEV_DIR / "figures.json").read_text())}
    tally, tally_nocap = Tally(), Tally()
    for name, truth in ann.items():
        img = Image.open(DEV_DIR / name).convert("RGB")
        res = split_figure(img, meta[name]["caption"], scale=False, settings=SETTINGS)
        tally.add([p.to_dict() for p in res.panels], truth)
        res = split_figure(img, None, scale=False, settings=SETTINGS)
        tally_nocap.add([p.to_dict() for p in res.panels], truth)
    out = tally.summary()
    out.update({f"nocaption_{k}": v for k, v in tally_nocap.summary().items() if k in ("f1", "label_precision")})
    return out


def eval_synthetic(n: int) -> dict[str, float]:
    tally, tally_nocap = Tally(), Tally()
    for k in range(n):
        rng = np.random.default_rng(60000 + k)
        fig = synth.compound_figure(rng, labelled=k % 8 != 7)
        truth = [{"label": t.label, "bbox": list(t.bbox), "type": t.type} for t in fig.panels]
        if len(truth) == 1 and truth[0]["label"] is None:
            truth[0]["type"] = None  # a whole unlabelled compound has no single type
        res = split_figure(fig.image, fig.caption, scale=False, settings=SETTINGS)
        tally.add([p.to_dict() for p in res.panels], truth)
        res = split_figure(fig.image, None, scale=False, settings=SETTINGS)
        tally_nocap.add([p.to_dict() for p in res.panels], truth)
    out = tally.summary()
    out.update({f"nocaption_{k}": v for k, v in tally_nocap.summary().items() if k in ("f1", "label_precision")})
    return out


def eval_types(per_class: int) -> dict[str, Any]:
    from matsearch.core.settings import Settings
    from matsearch.indexer.figures.panel_type import PANEL_TYPES, classify_panels, image_vectors_of

    rng = np.random.default_rng(30000)
    images, truth = [], []
    for kind in PANEL_TYPES:
        for _ in range(per_class):
            images.append(synth.panel(kind, rng))
            truth.append(kind)
    pred = [k for k, _ in classify_panels(images, image_vectors_of(images, Settings()))]
    per = {
        c: round(float(np.mean([p == t for p, t in zip(pred, truth, strict=True) if t == c])), 4) for c in PANEL_TYPES
    }
    return {
        "n": len(images),
        "accuracy": round(float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])), 4),
        **per,
    }


def eval_sketch(per_shape_gallery: int, per_shape_query: int) -> dict[str, Any]:
    from matsearch.core.settings import Settings
    from matsearch.encoders import get_encoder

    g_rng, q_rng = np.random.default_rng(40000), np.random.default_rng(50000)
    gallery, gy, queries, qy = [], [], [], []
    for k, shape in enumerate(synth.SHAPES):
        for _ in range(per_shape_gallery):
            gallery.append(synth.particle_micrograph(shape, g_rng))
            gy.append(k)
        for _ in range(per_shape_query):
            queries.append(synth.hand_sketch(shape, q_rng))
            qy.append(k)
    enc = get_encoder("sketch", Settings())
    G, Q = enc.encode(gallery), enc.encode(queries)
    top = np.argsort(-(Q @ G.T), axis=1)[:, :5]
    hits = np.asarray(gy)[top] == np.asarray(qy)[:, None]
    p5 = hits.mean(axis=1)
    per = {s: round(float(p5[np.asarray(qy) == k].mean()), 4) for k, s in enumerate(synth.SHAPES)}
    return {"gallery": len(gallery), "queries": len(queries), "precision_at_5": round(float(p5.mean()), 4), **per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    n_syn, n_type, n_gal, n_q = (12, 20, 10, 6) if args.quick else (40, 60, 20, 12)
    t0 = time.time()
    results: dict[str, Any] = {}
    results["dev_figures"] = eval_dev()
    results["synthetic_compound"] = eval_synthetic(n_syn)
    results["panel_type_synthetic"] = eval_types(n_type)
    results["sketch"] = eval_sketch(n_gal, n_q)
    results["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"{'set':<22} {'F1':>6} {'P':>6} {'R':>6} {'label P':>8} {'label acc':>9} {'type acc':>8} {'F1 nocap':>8}")
    for key in ("dev_figures", "synthetic_compound"):
        r = results[key]
        print(
            f"{key:<22} {r['f1']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['label_precision']:>8.3f} "
            f"{r['label_accuracy']:>9.3f} {r['type_accuracy']:>8.3f} {r['nocaption_f1']:>8.3f}"
        )
    t = results["panel_type_synthetic"]
    print(f"panel type (synthetic held-out, n={t['n']}): accuracy {t['accuracy']:.3f}")
    s = results["sketch"]
    print(f"sketch precision@5 ({s['queries']} drawings vs {s['gallery']} micrographs): {s['precision_at_5']:.3f}")
    print(f"wrote {args.out} ({results['seconds']} s)")


if __name__ == "__main__":
    main()
