"""Fit the label prior of the panel split (which blobs to read first) and print its weights.

    .venv/bin/python -m training.train_label_prior --synthetic 60

Data (dev only, never the held-out parts): the dev figures of ``bench/real_figures`` (split "dev" in its
manifest, boxes from its panels.json) and synthetic compound figures of seeds 20000+ (``training.figures_synth``).
Every free label candidate of a figure (:func:`matsearch.indexer.figures.layout.find_candidates`) is read by OCR;
it is a positive when its text is the label of a true panel and it sits in that panel's top-left 35 %. Features:
:func:`~matsearch.indexer.figures.layout.prior_features`; model: logistic regression (scikit-learn, C = 1).
Prints ``PRIOR_WEIGHTS``/``PRIOR_BIAS`` for ``layout.py`` and a leave-one-figure-out check (the rank of the last
true label per figure when candidates are read in prior order).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from matsearch.indexer.figures import layout
from training import figures_synth as synth

ROOT = Path(__file__).resolve().parents[1]


def figures(n_synthetic: int) -> list[tuple[str, Image.Image, list[tuple[str | None, list[int]]]]]:
    from bench.real_figures.fetch import DEFAULT_CACHE, MANIFEST, ensure

    ensure(DEFAULT_CACHE)
    manifest = json.loads(MANIFEST.read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels.json").read_text())["figures"]
    out = []
    for fig in manifest:
        if fig["split"] == "dev":
            img = Image.open(DEFAULT_CACHE / fig["file"]).convert("RGB")
            out.append((fig["file"], img, [(p["label"], p["bbox"]) for p in panels[fig["file"]]]))
    for seed in range(20000, 20000 + n_synthetic):
        c = synth.compound_figure(np.random.default_rng(seed))
        out.append((f"synthetic-{seed}", c.image, [(t.label, list(t.bbox)) for t in c.panels]))
    return out


def samples(items: list[tuple[str, Image.Image, list[tuple[str | None, list[int]]]]]) -> tuple[np.ndarray, ...]:
    X, y, group = [], [], []
    for name, img, truth in items:
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
                and pb[0] - 2 <= b[0] <= pb[0] + 0.35 * (pb[2] - pb[0])
                and pb[1] - 2 <= b[1] <= pb[1] + 0.35 * (pb[3] - pb[1])
                for lab, pb in truth
            )
            X.append(f)
            y.append(hit)
            group.append(name)
    return np.asarray(X), np.asarray(y, dtype=bool), np.asarray(group)


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=60)
    args = ap.parse_args(argv)
    X, y, group = samples(figures(args.synthetic))
    print(f"{len(y)} candidates, {int(y.sum())} labels, {len(set(group))} figures")
    ranks = {}
    names = sorted(set(group))
    folds = [[n] for n in names if not n.startswith("synthetic")]
    folds += [[n for n in names if n.startswith("synthetic") and int(n.split("-")[1]) % 4 == k] for k in range(4)]
    for fold in folds:
        test = np.isin(group, fold)
        model = LogisticRegression(C=1.0, max_iter=5000).fit(X[~test], y[~test])
        score = model.decision_function(X[test])
        for name in fold:
            sel = group[test] == name
            if y[test][sel].any():
                order = np.argsort(-score[sel], kind="stable")
                ranks[name] = (int(np.flatnonzero(y[test][sel][order]).max()), int(sel.sum()))
    for name, (last, n) in ranks.items():
        if not name.startswith("synthetic"):
            print(f"  {name}: last true label read at rank {last} of {n}")
    syn = [r for n, (r, _) in ranks.items() if n.startswith("synthetic")]
    print(f"  synthetic: last true label rank median {np.median(syn):.0f}, 90th pct {np.percentile(syn, 90):.0f}")
    model = LogisticRegression(C=1.0, max_iter=5000).fit(X, y)
    print("PRIOR_WEIGHTS = (" + ", ".join(f"{w:.2f}" for w in model.coef_[0]) + ")")
    print(f"PRIOR_BIAS = {model.intercept_[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
