"""One shared, lazily loaded OCR engine (rapidocr, PP-OCR ONNX models shipped inside the wheel; fully offline).

rapidocr 3.10 finds its models under its own package directory (``rapidocr/models``): with the default config it
never downloads anything. :func:`get_ocr` builds the engine once per process (thread-safe) with logging quietened;
:func:`ocr_text` runs detection + recognition on a whole image, :func:`recognize` runs recognition only on a crop
that already holds one line of text (~15-30 ms on CPU), which is what scale labels and panel labels need.

:func:`recognize_padded` runs the recogniser split in two (:class:`SplitRecogniser`): the network body, then its
last classifier (a 120 -> 18,710 MatMul + softmax, ~16 % of the recogniser's CPU) first over only the 2,735
non-CJK classes, and over all 18,710 only for the time steps whose reading that cannot settle (a kept class other
than the CTC blank wins, or the blank wins by less than :data:`BLANK_SURE` of the kept softmax). Those steps get
the full model's exact argmax and probability; the others are blanks, as in the full model. The split models are
cut once from the wheel's ONNX file into ``<cache_dir>/onnx/`` (keyed by the file's SHA-256).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "get_ocr",
    "ocr_text",
    "recognize_batch",
    "recognize_padded",
    "SplitRecogniser",
    "OcrLine",
    "RECOGNISER_LOCK",
]

# (bbox [x0, y0, x1, y1] in the input image's pixels, text, score in 0..1)
OcrLine = tuple[tuple[float, float, float, float], str, float]

_lock = threading.Lock()  # guards creating the engine (get_ocr)
_det_lock = threading.Lock()  # guards the temporary detector resize mode of ``ocr_text(max_side=...)``
# The one lock around the process's one recogniser: every recognition (recognize_padded, recognize_batch and the
# recognition half of ocr_text) runs under it, so callers need no lock of their own. Re-entrant, so a caller that
# holds it around several calls (a reader's batches) does not deadlock.
RECOGNISER_LOCK = threading.RLock()
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


# A time step whose best kept class is the CTC blank is final only when the blank has at least this share of the
# kept-class softmax; every other step is re-read by the full classifier. On the 354 recorded real crops of the
# ingest bench the full model's non-blank winners at kept-blank steps had shares 0.23 and 0.83 (7.7 % of the blank
# steps are under 0.9, 19 % under 0.99).
BLANK_SURE = 0.95
_SPLIT_VERSION = "1"  # bump when the cut below changes (cache key)


def _kept_class(char: str) -> bool:
    """Classes the cheap head scores: everything but CJK ideographs, kana, CJK punctuation, Hangul, half-width kana."""
    if len(char) != 1:
        return True  # "blank"
    o = ord(char)
    return not (0x2E80 <= o < 0xFF00 or 0xFF61 <= o <= 0xFF9F or 0xAC00 <= o < 0xD7B0)


def _cut_models(src: Path, characters: list[str], paths: dict[str, Path]) -> None:
    """Cut the recogniser at its last classifier: ``body`` (image -> [B, T, D] features) and two heads
    ``[N, D] -> (argmax [N], max probability [N])``, one over the kept classes, one over all of them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    last = [i for i, n in enumerate(graph.node) if n.op_type == "MatMul"][-1]
    matmul = graph.node[last]
    feats, w_name = matmul.input
    add = next(n for n in graph.node[last + 1 :] if n.op_type == "Add" and matmul.output[0] in n.input)
    b_name = next(x for x in add.input if x != matmul.output[0])
    if not any(n.op_type == "Softmax" for n in graph.node[last + 1 :]):
        raise ValueError(f"{src.name}: no softmax after the last MatMul")
    inits = {t.name: t for t in graph.initializer}
    weight = numpy_helper.to_array(inits[w_name]).astype(np.float32)
    bias = numpy_helper.to_array(inits[b_name]).astype(np.float32)
    if weight.shape[1] != len(characters) or bias.shape != (len(characters),):
        raise ValueError(f"{src.name}: classifier {weight.shape} does not match {len(characters)} characters")
    del graph.node[last:]
    graph.initializer.remove(inits[w_name])
    graph.initializer.remove(inits[b_name])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(feats, TensorProto.FLOAT, None))
    heads = {"head_full": np.arange(len(characters))}
    heads["head_kept"] = np.array([i for i, c in enumerate(characters) if _kept_class(c)])
    made = {"body": model}
    for name, cols in heads.items():
        nodes = [
            helper.make_node("Gemm", ["h", "W", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["p"], axis=1),
            helper.make_node("ArgMax", ["p"], ["index"], axis=1, keepdims=0),
            helper.make_node("ReduceMax", ["p"], ["prob"], axes=[1], keepdims=0),
        ]
        g = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["n", weight.shape[0]])],
            [
                helper.make_tensor_value_info("index", TensorProto.INT64, ["n"]),
                helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["n"]),
            ],
            [
                numpy_helper.from_array(np.ascontiguousarray(weight[:, cols]), "W"),
                numpy_helper.from_array(np.ascontiguousarray(bias[cols]), "B"),
            ],
        )
        head = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
        head.ir_version = model.ir_version
        made[name] = head
    for name, m in made.items():
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=paths[name].parent, suffix=".tmp")
        os.close(fd)
        try:
            onnx.save(m, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, paths[name])
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class SplitRecogniser:
    """The recogniser's body plus its classifier in two heads (see the module docstring); ``__call__`` gives
    ``(index [B, T], probability [B, T])`` of the best class per time step, as the full model's softmax does."""

    def __init__(self, src: Path, characters: list[str], cache_dir: Path) -> None:
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
        stem = f"{src.stem}-split{_SPLIT_VERSION}-{digest}"
        paths = {k: cache_dir / "onnx" / f"{stem}-{k}.onnx" for k in ("body", "head_kept", "head_full")}
        with _split_lock:
            if not all(p.exists() for p in paths.values()):
                try:
                    _cut_models(src, characters, paths)
                except OSError:  # read-only cache: cut into a private temporary folder instead
                    tmp = Path(tempfile.mkdtemp(prefix="matsearch-ocr-"))
                    paths = {k: tmp / v.name for k, v in paths.items()}
                    _cut_models(src, characters, paths)
        from matsearch.encoders.onnx_export import session

        self.body, self.kept, self.full = (session(paths[k], threads=1) for k in ("body", "head_kept", "head_full"))
        self.kept_classes = np.array([i for i, c in enumerate(characters) if _kept_class(c)], dtype=np.int64)
        self.input_name = self.body.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats = self.body.run(None, {self.input_name: batch})[0]
        b, t, d = feats.shape
        h = np.ascontiguousarray(feats.reshape(b * t, d), dtype=np.float32)
        k_index, k_prob = self.kept.run(None, {"h": h})
        index = self.kept_classes[k_index]
        prob = np.zeros(b * t, dtype=np.float32)
        rows = np.nonzero((index != 0) | (k_prob < BLANK_SURE))[0]
        if len(rows):
            f_index, f_prob = self.full.run(None, {"h": h[rows]})
            index[rows] = f_index
            prob[rows] = f_prob
        return index.reshape(b, t), prob.reshape(b, t)


_split_lock = threading.Lock()  # guards cutting the models into the cache
_split_make_lock = threading.Lock()  # guards creating the process-wide instance
_split: SplitRecogniser | None = None


def _cache_dir() -> Path:
    from matsearch.core.settings import Settings

    return Settings().cache_dir


def split_recogniser() -> SplitRecogniser:
    """The process-wide :class:`SplitRecogniser` of the engine's recognition model (cut into the cache once)."""
    global _split
    if _split is None:
        rec = get_ocr()._load_rec_model()
        with _split_make_lock:
            if _split is None:
                import rapidocr

                found = getattr(rec.session.session, "_model_path", None)
                src = Path(found) if found else Path(rapidocr.__file__).parent / "models" / "PP-OCRv6_rec_small.onnx"
                _split = SplitRecogniser(src, list(rec.postprocess_op.character), _cache_dir())
    return _split


def ctc_decode(index: np.ndarray, prob: np.ndarray, characters: list[str]) -> list[tuple[str, float]]:
    """rapidocr's CTC decoding (repeats merged, blanks dropped, score = mean of the kept steps' probabilities
    rounded to 5 places, ``0.0`` when nothing is read) from per-step argmax/probability arrays ``[B, T]``."""
    out: list[tuple[str, float]] = []
    for idx, p in zip(index, prob, strict=True):
        sel = np.ones(len(idx), dtype=bool)
        sel[1:] = idx[1:] != idx[:-1]
        sel &= idx != 0
        conf = [round(c, 5) for c in np.asarray(p[sel]).tolist()] or [0]
        out.append(("".join(characters[i] for i in idx[sel]), float(np.mean(conf).round(5))))
    return out


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


def _detect_and_read(engine: Any, arr: np.ndarray) -> Any:
    """``engine(arr, use_det=True, use_cls=False, use_rec=True)`` with the recognition step run by
    :func:`recognize_padded` (the split recogniser, under :data:`RECOGNISER_LOCK`) on rapidocr's own batches: its
    order (by width/height), its batch size and its padding (every crop to at least the 320/48 line), so the network
    sees the very same inputs and gives the same texts and scores. Detection, cropping, the mapping back to the
    image and the engine's score filter are rapidocr's own steps."""
    from rapidocr.ch_ppocr_cls import TextClsOutput
    from rapidocr.ch_ppocr_rec import TextRecOutput
    from rapidocr.main import RapidOCRError
    from rapidocr.utils.output import RapidOCROutput

    ori = engine.load_img(arr)
    img, op_record = engine.preprocess_img(ori)
    try:
        crops, det_res = engine.detect_and_crop(img, op_record)
    except RapidOCRError:  # nothing detected (rapidocr's run_ocr_steps: an empty result)
        return RapidOCROutput()
    rec = engine._load_rec_model()
    _, height, width = rec.rec_image_shape[:3]
    lines = recognize_padded(crops, min_ratio=width / height, max_batch=rec.rec_batch_num, spread=None)
    fields: dict[str, Any] = {  # what rapidocr's recogniser returns without word boxes
        "txts": tuple(t for t, _ in lines),
        "scores": tuple(sc for _, sc in lines),
        "word_results": tuple(None for _ in lines),
    }
    rec_res = TextRecOutput(imgs=crops, elapse=0.0, **fields)
    return engine.build_final_output(ori, det_res, TextClsOutput(), rec_res, crops, op_record)


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
        result = _detect_and_read(engine, arr)
    else:
        with _det_lock:
            det = engine._load_det_model()
            old = (det.limit_type, det.limit_side_len)
            det.limit_type, det.limit_side_len = "max", int(max_side)
            try:
                result = _detect_and_read(engine, arr)
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
    crops: list[np.ndarray],
    *,
    min_ratio: float = 1.0,
    max_batch: int = 16,
    spread: float | None = 1.5,
    full_model: Any = None,
) -> list[tuple[str, float]]:
    """rapidocr's recogniser on BGR uint8 crops (recognition only), each batch padded only to its own widest crop.

    rapidocr's own batching pads every crop to a 320-px line (ratio 6.7), so a short label or tick number costs as
    much as a whole line. Here crops are sorted by width/height and batched (up to ``max_batch``, widths within
    ``spread`` × the narrowest + 0.5; ``spread=None``: no width limit), each batch padded to
    ``max(min_ratio, its widest)``. Same model, normalisation and CTC decoding (rapidocr's ``resize_norm_img`` and
    post-processing). Degenerate crops (under 2 px on a side) give ``("", 0.0)``; texts are not stripped.
    The network runs as :func:`split_recogniser`; ``full_model=True`` runs the engine's own full model instead
    (or a callable ``batch -> [B, T, classes]`` probabilities), for comparisons.
    """
    keep = [i for i, a in enumerate(crops) if a.shape[0] >= 2 and a.shape[1] >= 2]
    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    if not keep:
        return out
    rec = get_ocr()._load_rec_model()
    split = split_recogniser() if full_model is None else None
    characters = rec.postprocess_op.character  # rapidocr's list, read only (18,710 entries: not copied per call)
    ratios = {i: crops[i].shape[1] / float(crops[i].shape[0]) for i in keep}
    order = sorted(keep, key=lambda i: ratios[i])
    with RECOGNISER_LOCK:
        _read_batches(rec, split, full_model, characters, crops, ratios, order, min_ratio, max_batch, spread, out)
    return out


def norm_batch(rec: Any, crops: list[np.ndarray], max_wh_ratio: float) -> np.ndarray:
    """``np.stack([rec.resize_norm_img(c, max_wh_ratio) for c in crops])``, bit for bit, written straight into one
    float32 batch: rapidocr's resize (cv2, bilinear, to its 48-px height and ``ceil(48 * w / h)`` width, at most
    the batch width), scaling ``(x / 255 - 0.5) / 0.5`` and zero padding on the right. Its own method reads the
    input shape from an omegaconf list on every crop (a tenth of the recogniser's Python time) and copies the
    padded crops twice more (stack, astype)."""
    import cv2

    channels, height = (int(v) for v in list(rec.rec_image_shape)[:2])
    width = int(height * max_wh_ratio)
    batch = np.zeros((len(crops), channels, height, width), dtype=np.float32)
    for j, img in enumerate(crops):
        if img.shape[2] != channels:
            raise ValueError(f"recogniser crop has {img.shape[2]} channels, not {channels}")
        h, w = img.shape[:2]
        resized_w = min(width, int(math.ceil(height * (w / float(h)))))
        resized = cv2.resize(img, (resized_w, height)).astype("float32").transpose((2, 0, 1)) / 255
        resized -= 0.5
        resized /= 0.5
        batch[j, :, :, :resized_w] = resized
    return batch


def _read_batches(
    rec: Any,
    split: SplitRecogniser | None,
    full_model: Any,
    characters: list[str],
    crops: list[np.ndarray],
    ratios: dict[int, float],
    order: list[int],
    min_ratio: float,
    max_batch: int,
    spread: float | None,
    out: list[tuple[str, float]],
) -> None:
    """:func:`recognize_padded`'s loop over its batches (``out`` filled in place)."""
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
        batch = norm_batch(rec, [crops[k] for k in idx], ratio)
        if split is not None:
            lines = ctc_decode(*split(batch), characters)
        else:
            preds = rec.session(batch) if full_model is True else full_model(batch)
            lines = ctc_decode(preds.argmax(axis=2), preds.max(axis=2), characters)
        for k, (text, score) in zip(idx, lines, strict=True):
            out[k] = (str(text), float(score))
        start = end


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
    with RECOGNISER_LOCK:
        res = rec(TextRecInput(img=[arrs[i] for i in keep]))
    for i, t, s in zip(keep, res.txts, res.scores, strict=True):
        out[i] = (str(t).strip(), float(s))
    return out
