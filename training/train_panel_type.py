"""Train the panel-type classifier on generated panels and write its weights.

    .venv/bin/python -m training.train_panel_type --per-class 300 --seed 0

Panels come from :mod:`training.figures_synth` (seed ``--seed`` for training, ``--seed + 1000`` for the
held-out check); features are EfficientNet-Lite0 vectors + image statistics
(:func:`matsearch.indexer.figures.panel_type.features`); the model is a multinomial logistic regression. Output:
``encoders/matsearch/encoders/weight_files/panel_type.pt`` and its SHA-256 (put it in ``WEIGHTS["panel-type"]``).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from matsearch.core.settings import Settings
from matsearch.indexer.figures.panel_type import PANEL_TYPES, features, image_vectors_of
from training import figures_synth as synth

OUT = Path(__file__).resolve().parents[1] / "encoders/matsearch/encoders/weight_files/panel_type.pt"


def augment(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What real panel crops look like: a label letter in the corner, a white margin, JPEG artefacts."""
    if rng.random() < 0.5:
        m = int(rng.integers(2, 14))
        canvas = Image.new("RGB", (img.width + m + 2, img.height + m + 2), (255, 255, 255))
        canvas.paste(img, (m, m))
        ImageDraw.Draw(canvas).text(
            (0, 0), chr(97 + int(rng.integers(0, 8))), fill=(0, 0, 0), font=synth._font(12, True)
        )
        img = canvas
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(60, 95)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def make(per_class: int, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k, kind in enumerate(PANEL_TYPES):
        for _ in range(per_class):
            images.append(augment(synth.panel(kind, rng), rng))
            labels.append(k)
    return images, np.asarray(labels)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--test-per-class", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=0.5)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--features-cache", type=Path, help="npz file: reuse/store features (refit without recomputing)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    from sklearn.linear_model import LogisticRegression

    if args.features_cache and args.features_cache.exists():
        z = np.load(args.features_cache)
        xtr, ytr, xte, yte = z["xtr"], z["ytr"], z["xte"], z["yte"]
    else:
        t = time.time()
        tr_img, ytr = make(args.per_class, args.seed)
        te_img, yte = make(args.test_per_class, args.seed + 1000)
        print(f"generated {len(tr_img)}+{len(te_img)} panels in {time.time() - t:.0f}s", flush=True)
        t = time.time()
        settings = Settings()
        xtr = features(tr_img, image_vectors_of(tr_img, settings))
        xte = features(te_img, image_vectors_of(te_img, settings))
        print(f"features in {time.time() - t:.0f}s", flush=True)
        if args.features_cache:
            np.savez_compressed(args.features_cache, xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    mean, std = xtr.mean(axis=0), xtr.std(axis=0) + 1e-3
    clf = LogisticRegression(C=args.C, max_iter=3000)
    clf.fit((xtr - mean) / std, ytr)
    acc = float((clf.predict((xte - mean) / std) == yte).mean())
    conf = np.zeros((len(PANEL_TYPES), len(PANEL_TYPES)), dtype=int)
    for a, b in zip(yte, clf.predict((xte - mean) / std), strict=True):
        conf[a, b] += 1
    print(f"held-out synthetic accuracy {acc:.3f}\n{conf}", flush=True)
    meta = {"seed": args.seed, "per_class": args.per_class, "C": args.C, "heldout_accuracy": round(acc, 4)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "classes": list(PANEL_TYPES),
            "mean": torch.from_numpy(mean.astype(np.float32)),
            "std": torch.from_numpy(std.astype(np.float32)),
            "coef": torch.from_numpy(clf.coef_.astype(np.float32)),
            "intercept": torch.from_numpy(clf.intercept_.astype(np.float32)),
            "meta": json.dumps(meta),
        },
        args.out,
    )
    from matsearch.encoders.weights import sha256_file

    print(f"wrote {args.out} sha256 {sha256_file(args.out)}", flush=True)


if __name__ == "__main__":
    main()
