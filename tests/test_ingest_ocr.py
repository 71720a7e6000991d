"""The recogniser's input batch (``figures.ocr.norm_batch``) is rapidocr's own ``resize_norm_img`` stacked, bit for
bit: the same crops padded to the same widths give the same floats, so the readings cannot move."""

from __future__ import annotations

import numpy as np

from matsearch.indexer.figures import ocr


def test_norm_batch_is_rapidocrs_resize_norm_img_bit_for_bit() -> None:
    rec = ocr.get_ocr()._load_rec_model()
    rng = np.random.default_rng(0)
    shapes = [(2, 2), (3, 500), (48, 48), (90, 12), (20, 321), (47, 700), (60, 61), (5, 3)]
    crops = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    widest = max(c.shape[1] / c.shape[0] for c in crops)
    for ratio in (1.0, 64 / 48, 320 / 48, 3.3, widest):  # narrower than some crops, wider than all, exactly the widest
        want = np.stack([rec.resize_norm_img(c, ratio) for c in crops]).astype(np.float32)
        got = ocr.norm_batch(rec, crops, ratio)
        assert got.dtype == np.float32 and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
