"""Panel type: microscopy, diffraction (incl. FFT), graph, illustration, photo or other — with a probability.

A multinomial logistic regression on EfficientNet-Lite0 pooled features (the same vector the ``image`` search uses,
so typing costs nothing extra at ingest) plus a few cheap image statistics (white/black fractions, saturation,
edge density, colour count, long straight lines, central symmetry). Trained on generated panels
(:mod:`training.figures_synth`); weights ship as ``encoders/matsearch/encoders/weight_files/panel_type.pt``
(registered as ``panel-type`` in :data:`matsearch.encoders.weights.WEIGHTS`). Training command, seed and held-out
accuracy: ``training/train_panel_type.py`` (the numbers are stored inside the weight file too).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.core.settings import Settings

PANEL_TYPES = ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
WEIGHTS_NAME = "panel-type"
STATS_DIM = 11

_lock = threading.Lock()
_model: dict[str, Any] | None = None


def image_stats(image: Image.Image) -> np.ndarray:
    """Cheap statistics that separate plots and drawings from images (11 values, roughly 0..1)."""
    im = image.convert("RGB")
    im.thumbnail((256, 256))
    rgb = np.asarray(im, dtype=np.uint8)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255
    white = float(((gray > 235) & (sat < 0.1)).mean())
    black = float((gray < 25).mean())
    edges = cv2.Canny(gray, 60, 160)
    edge_density = float((edges > 0).mean())
    q = (rgb // 32).astype(np.int32)
    colours = len(np.unique(q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]))
    dark = gray < 128
    hline = float(dark.mean(axis=1).max()) if dark.size else 0.0
    vline = float(dark.mean(axis=0).max()) if dark.size else 0.0
    g = gray.astype(np.float32)
    g = (g - g.mean()) / (g.std() + 1e-6)
    sym = float((g * g[::-1, ::-1]).mean())  # centrosymmetry (diffraction patterns, FFTs)
    h, w = gray.shape
    return np.asarray(
        [
            white,
            black,
            float(sat.mean()),
            float(gray.std()) / 128,
            edge_density * 4,
            np.log1p(colours) / np.log(513),
            hline,
            vline,
            sym,
            float(np.clip(w / max(1, h), 0.2, 5) / 5),
            float(np.abs(np.diff(g, axis=1)).mean()) / 2,
        ],
        dtype=np.float32,
    )


def image_vectors_of(images: Sequence[Image.Image], settings: Settings) -> np.ndarray:
    """EfficientNet-Lite0 vectors of ``images`` (what the classifier was trained on)."""
    from matsearch.encoders import get_encoder

    return get_encoder("efficientnet-lite0", settings).encode(list(images))


def features(images: Sequence[Image.Image], image_vectors: np.ndarray) -> np.ndarray:
    """(n, 1280 + STATS_DIM) features: L2-normalised EfficientNet-Lite0 vectors and image statistics."""
    stats = np.stack([image_stats(im) for im in images]) if len(images) else np.zeros((0, STATS_DIM), np.float32)
    return np.concatenate([np.asarray(image_vectors, dtype=np.float32), stats], axis=1)


def _load() -> dict[str, Any]:
    global _model
    with _lock:
        if _model is None:
            import torch

            from matsearch.encoders.weights import locate

            raw = torch.load(locate(WEIGHTS_NAME), map_location="cpu", weights_only=True)
            _model = {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in raw.items()}
        return _model


def predict_proba(feats: np.ndarray) -> np.ndarray:
    m = _load()
    x = (feats - m["mean"]) / m["std"]
    logits = x @ m["coef"].T + m["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def classes() -> list[str]:
    return [str(c) for c in _load()["classes"]]


def classify_panels(images: Sequence[Image.Image], image_vectors: np.ndarray) -> list[tuple[str, float]]:
    """(type, probability) per panel image, from the panels' EfficientNet vectors (``image_vectors_of``)."""
    if not images:
        return []
    p = predict_proba(features(images, image_vectors))
    names = classes()
    idx = p.argmax(axis=1)
    return [(names[int(i)], float(p[k, int(i)])) for k, i in enumerate(idx)]
