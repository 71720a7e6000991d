"""One shared, lazily loaded OCR engine (rapidocr, PP-OCR ONNX models shipped inside the wheel; fully offline).

rapidocr 3.10 finds its models under its own package directory (``rapidocr/models``): with the default config it
never downloads anything. :func:`get_ocr` builds the engine once per process (thread-safe) with logging quietened;
:func:`ocr_text` runs detection + recognition on a whole image, :func:`recognize` runs recognition only on a crop
that already holds one line of text (~15-30 ms on CPU), which is what scale labels and panel labels need.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["get_ocr", "ocr_text", "recognize_batch", "OcrLine"]

# (bbox [x0, y0, x1, y1] in the input image's pixels, text, score in 0..1)
OcrLine = tuple[tuple[float, float, float, float], str, float]

_lock = threading.Lock()
_det_lock = threading.Lock()  # guards the temporary detector resize mode of ``ocr_text(max_side=...)``
_engine: Any = None
# One intra-op thread and no inter-op pool: OCR inputs are small crops, and ORT's default pool (every core,
# busy-waiting between ops) spent more CPU spinning than reading on a shared 2-core machine. Ingestion runs figures
# in parallel processes instead (matsearch.indexer.ingest_pool).
ENGINE_PARAMS: dict[str, Any] = {
    "Global.log_level": "error",
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}


def get_ocr() -> Any:
    """The process-wide rapidocr engine (created on first use; ~0.1 s, models from the wheel)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                from rapidocr import RapidOCR

                _engine = RapidOCR(params=dict(ENGINE_PARAMS))
                logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return _engine


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """RGB uint8 array; rapidocr treats 3-channel arrays as BGR, so channels are reversed here."""
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB"))
    else:
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        elif arr.shape[2] == 4:
            arr = arr[:, :, :3]
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, ::-1])


def ocr_text(image: Image.Image | np.ndarray, *, min_score: float = 0.3, max_side: int | None = None) -> list[OcrLine]:
    """Detect and read all text lines: ``[(bbox, text, score), ...]`` in reading order (top to bottom).

    By default rapidocr resizes the image so its *shorter* side is 736 px before detection (good for small print
    in whole figures, slow on big inputs). With ``max_side`` the image is instead only shrunk when its longer side
    exceeds ``max_side`` (the caller has already scaled it so glyphs are ~30 px high): much faster on small crops.
    Small inputs are padded so the detector sees enough context; boxes are in the input image's coordinates.
    """
    arr = _as_array(image)
    h, w = arr.shape[:2]
    pad = 0
    if min(h, w) < 64:
        pad = 32
        arr = np.pad(arr, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    engine = get_ocr()
    if max_side is None:
        result = engine(arr, use_det=True, use_cls=False, use_rec=True)
    else:
        with _det_lock:
            det = engine._load_det_model()
            old = (det.limit_type, det.limit_side_len)
            det.limit_type, det.limit_side_len = "max", int(max_side)
            try:
                result = engine(arr, use_det=True, use_cls=False, use_rec=True)
            finally:
                det.limit_type, det.limit_side_len = old
    boxes = getattr(result, "boxes", None)
    txts = getattr(result, "txts", None)
    scores = getattr(result, "scores", None)
    if boxes is None or txts is None or scores is None:
        return []
    out: list[OcrLine] = []
    for box, text, score in zip(boxes, txts, scores, strict=False):
        pts = np.asarray(box, dtype=float).reshape(-1, 2) - pad
        x0, y0 = float(max(0.0, pts[:, 0].min())), float(max(0.0, pts[:, 1].min()))
        x1, y1 = float(min(w, pts[:, 0].max())), float(min(h, pts[:, 1].max()))
        if float(score) >= min_score and str(text).strip():
            out.append(((x0, y0, x1, y1), str(text).strip(), float(score)))
    out.sort(key=lambda t: (t[0][1], t[0][0]))
    return out


def recognize_padded(
    crops: list[np.ndarray], *, min_ratio: float = 1.0, max_batch: int = 16, spread: float | None = 1.5
) -> list[tuple[str, float]]:
    """rapidocr's recogniser on BGR uint8 crops (recognition only), each batch padded only to its own widest crop.

    rapidocr's own batching pads every crop to a 320-px line (ratio 6.7), so a short label or tick number costs as
    much as a whole line. Here crops are sorted by width/height and batched (up to ``max_batch``, widths within
    ``spread`` × the narrowest + 0.5; ``spread=None``: no width limit), each batch padded to
    ``max(min_ratio, its widest)``. Same model, normalisation and CTC decoding (rapidocr's ``resize_norm_img`` and
    post-processing). Degenerate crops (under 2 px on a side) give ``("", 0.0)``; texts are not stripped.
    """
    keep = [i for i, a in enumerate(crops) if a.shape[0] >= 2 and a.shape[1] >= 2]
    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    if not keep:
        return out
    rec = get_ocr()._load_rec_model()
    ratios = {i: crops[i].shape[1] / float(crops[i].shape[0]) for i in keep}
    order = sorted(keep, key=lambda i: ratios[i])
    start = 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < max_batch
            and (spread is None or ratios[order[end]] <= spread * ratios[order[start]] + 0.5)
        ):
            end += 1
        idx = order[start:end]
        ratio = max(min_ratio, *(ratios[k] for k in idx))
        batch = np.stack([rec.resize_norm_img(crops[k], ratio) for k in idx]).astype(np.float32)
        preds = rec.session(batch)
        lines, _words = rec.postprocess_op(preds, False, wh_ratio_list=[ratios[k] for k in idx], max_wh_ratio=ratio)
        for k, (text, score) in zip(idx, lines, strict=True):
            out[k] = (str(text), float(score))
        start = end
    return out


def recognize_batch(crops: list[Image.Image | np.ndarray]) -> list[tuple[str, float]]:
    """Read several one-line crops (recognition only, no detection) in one batched call: ``[(text, score), ...]``.

    Degenerate crops (under 2 px on a side) give ``("", 0.0)``.
    """
    arrs = [_as_array(c) for c in crops]
    keep = [i for i, a in enumerate(arrs) if a.shape[0] >= 2 and a.shape[1] >= 2]
    out: list[tuple[str, float]] = [("", 0.0)] * len(arrs)
    if not keep:
        return out
    from rapidocr.ch_ppocr_rec import TextRecInput

    rec = get_ocr()._load_rec_model()
    with _lock:
        res = rec(TextRecInput(img=[arrs[i] for i in keep]))
    for i, t, s in zip(keep, res.txts, res.scores, strict=True):
        out[i] = (str(t).strip(), float(s))
    return out
