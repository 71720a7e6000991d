"""Fit the label prior of the panel split (which blobs to read first) and print its weights.

    .venv/bin/python -m training.train_label_prior --synthetic 60

Data (dev only, never the held-out parts): every real dev part of ``bench/real_figures`` (dev, dev4, dev5, dev7,
dev8, dev9; boxes from their panels*.json; since session 9 — before, the 7 session-3 dev figures only) and synthetic
compound figures of seeds 20000+ (``training.figures_synth``). A figure larger than the split's print size
(``panels.SMALL_ANALYSIS_SIDE``) is read at that size, as the split reads it first. Every free label candidate
(:func:`matsearch.indexer.figures.layout.find_candidates`) is read by OCR; it is a positive when its text is the label
of a true panel and it sits in that panel's top-left 35 %. Features:
:func:`~matsearch.indexer.figures.layout.prior_features`;
model: logistic regression (scikit-learn, C = 1). Prints ``PRIOR_WEIGHTS``/``PRIOR_BIAS`` for ``layout.py`` and a
**leave-one-paper-out** check on the real dev figures (each paper's figures scored by a model fitted without that
paper): the rank of the last true free label per figure when candidates are read in prior order, for the weights
in ``layout.py`` and for the held-out-paper fits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from matsearch.indexer.figures import layout
from training import figures_synth as synth

ROOT = Path(__file__).resolve().parents[1]
DEV_PARTS = ("dev", "dev4", "dev5", "dev7", "dev8", "dev9")

Item = tuple[str, str, Image.Image, list[tuple[str | None, list[int]]]]  # name, unit (paper), image, truth


def figures(n_synthetic: int) -> list[Item]:
    from bench.eval_real_figures import load, panel_annotations7, panel_annotations8, panel_annotations9
    from bench.real_figures.fetch import (
        MANIFEST7,
        MANIFEST8,
        MANIFEST8H,
        MANIFEST9,
        MANIFEST9H,
        ensure,
        figures7,
        figures8,
        figures9,
    )
    from matsearch.core.images import to_rgb
    from matsearch.indexer.figures.panels import SMALL_ANALYSIS_SIDE

    manifest, panels, cache = load()
    ensure(cache, (MANIFEST7, MANIFEST8, MANIFEST8H, MANIFEST9, MANIFEST9H))
    manifest = manifest | figures7() | figures8() | figures9()
    panels = panels | panel_annotations7() | panel_annotations8() | panel_annotations9()
    out: list[Item] = []
    for name, truth in panels.items():
        fig = manifest[name]
        if fig["split"] not in DEV_PARTS:
            continue
        img = to_rgb(Image.open(cache / name))
        boxes = [(p["label"], list(p["bbox"])) for p in truth]
        f = max(img.size) / SMALL_ANALYSIS_SIDE
        if f > 1.2:  # read at print size first, as the split does
            img = img.resize((round(img.width / f), round(img.height / f)), Image.Resampling.LANCZOS)
            boxes = [(lab, [round(v / f) for v in b]) for lab, b in boxes]
        out.append((name, str(fig.get("unit") or fig.get("doi") or name), img, boxes))
    for seed in range(20000, 20000 + n_synthetic):
        c = synth.compound_figure(np.random.default_rng(seed))
        out.append((f"synthetic-{seed}", "synthetic", c.image, [(t.label, list(t.bbox)) for t in c.panels]))
    return out


def samples(items: list[Item]) -> tuple[np.ndarray, ...]:
    X, y, group, unit = [], [], [], []
    for name, paper, img, truth in items:
        gray = layout.gray_array(img)
        boxes = layout.find_candidates(gray)
        if not boxes:
            continue
        reads = layout._rapidocr_batch([layout._crop_for_ocr(gray, b, p) for p, b in boxes])
        feats = layout.prior_features(gray, boxes)
        for (_, b), (text, _), f in zip(boxes, reads, feats, strict=True):
            key = layout.label_key(layout.ascii_text(text))
            hit = any(
                lab is not None
                and key == lab.lower()
                and pb[0] - 4 <= b[0] <= pb[0] + 0.35 * (pb[2] - pb[0])
                and pb[1] - 4 <= b[1] <= pb[1] + 0.35 * (pb[3] - pb[1])
                for lab, pb in truth
            )
            X.append(f)
            y.append(hit)
            group.append(name)
            unit.append(paper)
    return np.asarray(X), np.asarray(y, dtype=bool), np.asarray(group), np.asarray(unit)


def _last_rank(score: np.ndarray, y: np.ndarray) -> int:
    order = np.argsort(-score, kind="stable")
    return int(np.flatnonzero(y[order]).max())


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=60)
    args = ap.parse_args(argv)
    X, y, group, unit = samples(figures(args.synthetic))
    print(f"{len(y)} candidates, {int(y.sum())} labels, {len(set(group))} figures, {len(set(unit))} papers/sets")
    shipped = np.asarray(layout.PRIOR_WEIGHTS)
    ranks: dict[str, list[int]] = {"weights in layout.py": [], "leave-one-paper-out fit": []}
    for paper in sorted(set(unit) - {"synthetic"}):
        test = unit == paper
        model = LogisticRegression(C=1.0, max_iter=5000).fit(X[~test], y[~test])
        for name in sorted(set(group[test])):
            sel = group == name
            if not y[sel].any():
                continue
            ranks["weights in layout.py"].append(_last_rank(X[sel] @ shipped + layout.PRIOR_BIAS, y[sel]))
            ranks["leave-one-paper-out fit"].append(_last_rank(model.decision_function(X[sel]), y[sel]))
    for what, r in ranks.items():
        a = np.asarray(r)
        print(
            f"  {what}: {len(a)} real dev figures with free labels, last true label read at rank median "
            f"{np.median(a):.0f}, mean {a.mean():.1f}, 90th pct {np.percentile(a, 90):.0f}; within the first "
            f"12 / 28 / 44 reads {np.mean(a < 12):.3f} / {np.mean(a < 28):.3f} / {np.mean(a < 44):.3f}"
        )
    model = LogisticRegression(C=1.0, max_iter=5000).fit(X, y)
    print("PRIOR_WEIGHTS = (" + ", ".join(f"{w:.2f}" for w in model.coef_[0]) + ")")
    print(f"PRIOR_BIAS = {model.intercept_[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
