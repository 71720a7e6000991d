"""Panel type classifier: shipped weights (checksummed), held-out synthetic panels, real dev panels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.encoders.weights import WEIGHTS, locate
from matsearch.indexer.figures.panel_type import PANEL_TYPES, classes, classify_panels, image_stats, image_vectors_of
from training import figures_synth as synth

from .conftest import DEV_FIGURES

REPO = Path(__file__).resolve().parents[1]


def test_weights_registered_and_verified() -> None:
    assert WEIGHTS["panel-type"].sha256 is not None
    assert locate("panel-type").stat().st_size < 200_000
    assert classes() == list(PANEL_TYPES)


def test_image_stats_shape() -> None:
    s = image_stats(Image.new("RGB", (50, 40), "white"))
    assert s.shape == (11,) and s[0] == 1.0


def test_heldout_synthetic_panels() -> None:
    rng = np.random.default_rng(31337)  # not a training seed
    images, truth = [], []
    for kind in PANEL_TYPES:
        for _ in range(4):
            images.append(synth.panel(kind, rng))
            truth.append(kind)
    pred = classify_panels(images, image_vectors_of(images, Settings()))
    acc = np.mean([p == t for (p, _), t in zip(pred, truth, strict=True)])
    assert acc >= 0.8
    assert all(0.0 < conf <= 1.0 for _, conf in pred)


def test_dev_panels() -> None:
    ann = json.loads((REPO / "bench/annotations/dev_panels.json").read_text())["figures"]
    crops, truth = [], []
    for name in ("s41467-018-06211-3_fig1.jpg", "s41467-018-06211-3_fig3.jpg"):
        image = Image.open(DEV_FIGURES / name).convert("RGB")
        for t in ann[name]:
            crops.append(image.crop(tuple(t["bbox"])))
            truth.append(t["type"])
    pred = [k for k, _ in classify_panels(crops, image_vectors_of(crops, Settings()))]
    assert np.mean([p == t for p, t in zip(pred, truth, strict=True)]) >= 0.8
