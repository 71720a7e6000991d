"""The split recogniser (body + cheap kept-class head + full head where needed) reads exactly what the full PP-OCR
recogniser reads: on text lines cut from real published figures and on rendered tick numbers, units and labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from matsearch.indexer.figures import ocr
from tests.conftest import DEV_FIGURES


def _same(crops: list[np.ndarray], **kw: object) -> list[tuple[str, float]]:
    split = ocr.recognize_padded(crops, **kw)  # type: ignore[arg-type]
    full = ocr.recognize_padded(crops, full_model=True, **kw)  # type: ignore[arg-type]
    assert [t for t, _ in split] == [t for t, _ in full]
    assert np.allclose([s for _, s in split], [s for _, s in full], atol=2e-5)
    return split


def _real_lines() -> list[np.ndarray]:
    crops: list[np.ndarray] = []
    for name in ("s41467-018-06211-3_fig1.jpg", "s41467-018-06211-3_fig3.jpg"):
        img = Image.open(DEV_FIGURES / name).convert("RGB")
        arr = np.asarray(img)[:, :, ::-1]
        for (x0, y0, x1, y1), _text, _score in ocr.ocr_text(img, min_score=0.0, max_side=960):
            c = arr[int(y0) : int(np.ceil(y1)) + 1, int(x0) : int(np.ceil(x1)) + 1]
            if c.shape[0] >= 4 and c.shape[1] >= 4:
                crops.append(np.ascontiguousarray(c))
    return crops


def test_split_reads_real_figure_lines_like_the_full_model() -> None:
    crops = _real_lines()
    assert len(crops) >= 20
    out = _same(crops)
    assert sum(bool(t.strip()) for t, _ in out) >= 0.8 * len(crops)
    # one crop at a time (its own width, no batch padding) as well
    _same(crops[:12], max_batch=1)


def test_split_reads_rendered_ticks_units_labels_like_the_full_model() -> None:
    texts = ["0", "10", "200", "-0.5", "1.0x10⁴", "2θ (deg)", "10 µm", "500 nm", "5 Å", "(a)", "b", "E (eV)"]
    texts += ["T (°C)", "±3", "λ = 1.54 Å", "Intensity (a.u.)", "μm", "中", "Counts"]
    font = ImageFont.load_default(size=30)
    crops = []
    for k, t in enumerate(texts):
        im = Image.new("RGB", (16 + 20 * len(t), 44), (255, 255, 255))
        ImageDraw.Draw(im).text((6, 4), t, fill=(0, 0, 0), font=font)
        arr = np.asarray(im)[:, :, ::-1]
        if k % 3 == 1:  # some low-contrast, blurred-looking variants
            arr = (255 - (255 - arr.astype(np.int16)) // 3).astype(np.uint8)
        crops.append(np.ascontiguousarray(arr))
    out = _same(crops, min_ratio=4.0, max_batch=len(crops), spread=None)
    read = {t: r.replace(" ", "") for t, (r, _) in zip(texts, out, strict=True)}
    assert read["200"] == "200" and read["500 nm"] == "500nm"


def test_split_models_cut_into_the_cache_once(tmp_path: pytest.TempPathFactory) -> None:
    rec = ocr.get_ocr()._load_rec_model()
    from pathlib import Path

    src = Path(rec.session.session._model_path)
    chars = list(rec.postprocess_op.character)
    made = ocr.SplitRecogniser(src, chars, Path(str(tmp_path)))
    files = sorted(p.name for p in (Path(str(tmp_path)) / "onnx").iterdir())
    assert len(files) == 3 and all(f.endswith(".onnx") for f in files)
    assert 1000 < len(made.kept_classes) < 0.25 * len(chars)
    x = np.zeros((1, 3, 48, 96), dtype=np.float32)
    index, prob = made(x)
    assert index.shape == prob.shape == (1, 12)


def test_ocr_text_reads_like_rapidocrs_own_pipeline() -> None:
    """ocr_text's recognition (recognize_padded on rapidocr's own batches and padding, under the one recogniser lock)
    gives the engine's own detect + recognise output: same boxes, texts and scores, on two real figures."""
    engine = ocr.get_ocr()
    for name in ("s41467-018-06211-3_fig1.jpg", "s41467-018-06211-3_fig3.jpg"):
        arr = ocr._as_array(Image.open(DEV_FIGURES / name))
        ours = ocr._detect_and_read(engine, arr)
        theirs = engine(arr, use_det=True, use_cls=False, use_rec=True)
        assert len(theirs.txts) >= 10
        assert ours.txts == theirs.txts and np.array_equal(ours.boxes, theirs.boxes)
        assert np.allclose(ours.scores, theirs.scores, atol=2e-5)
