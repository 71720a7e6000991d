"""Panel split, session 3: prior-ordered staged label reading (cost), labels read from their glyphs on pictures,
labels at the top-right of plot frames, a missing letter's picture, and the caption's type cue.

Pictures are scikit-image's real sample photographs/micrographs; labels are read by the real OCR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from matsearch.indexer.figures import layout
from matsearch.indexer.figures.panel_type import caption_type, fuse
from matsearch.indexer.figures.panels import find_panels


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(getattr(skdata, name)()).convert("RGB").resize(size)


def _font(px: int, bold: bool = True) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", px)
    except OSError:
        return ImageFont.load_default(size=px)


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


class _Counting:
    def __init__(self) -> None:
        self.crops = 0

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        self.crops += len(crops)
        return layout._rapidocr_batch(crops)


def _grid_with_plots() -> tuple[Image.Image, list[tuple[str, tuple[int, int, int, int]]]]:
    """2x2: labels a-d in the margins, each picture with a row of tick-like numbers under it (decoy blobs)."""
    w, h, lab, ticks = 220, 160, 22, 18
    fig = Image.new("RGB", (2 * w + 16, 2 * (lab + h + ticks) + 8), "white")
    d = ImageDraw.Draw(fig)
    truth = []
    for k, name in enumerate(("coins", "moon", "camera", "brick")):
        r, c = divmod(k, 2)
        x, y = c * (w + 16), r * (lab + h + ticks + 8)
        d.text((x, y), "abcd"[k], fill="black", font=_font(16))
        fig.paste(_photo(name, (w, h)), (x, y + lab))
        for j, t in enumerate(("0", "10", "20", "30", "40")):
            d.text((x + 4 + j * 48, y + lab + h + 3), t, fill="black", font=_font(11, bold=False))
        truth.append(("abcd"[k], (x, y, x + w, y + lab + h + ticks)))
    return fig, truth


def test_staged_reading_stops_early_and_splits_the_same() -> None:
    fig, truth = _grid_with_plots()
    caption = "(a) Coins. (b) Moon. (c) Camera. (d) Brick."
    staged, full = _Counting(), _Counting()
    found, notes = find_panels(fig, list("abcd"), ocr=staged)
    try:
        layout.STAGED_READS = False
        reference, _ = find_panels(fig, list("abcd"), ocr=full)
    finally:
        layout.STAGED_READS = True
    assert [f[0] for f in found] == list("abcd"), (caption, notes)
    assert [(f[0], f[1]) for f in found] == [(f[0], f[1]) for f in reference]
    for (label, box), f in zip(truth, found, strict=True):
        assert f[0] == label and _iou(f[1], box) > 0.8, (label, box, f)
    assert staged.crops < full.crops, (staged.crops, full.crops)
    # the prior puts the four margin labels before the 20 tick numbers
    gray = layout.gray_array(fig)
    boxes = layout.find_candidates(gray)
    prior = layout.label_prior(gray, boxes)
    top = {boxes[int(i)][1] for i in np.argsort(-prior)[:4]}
    assert all(any(_iou(b, (box[0], box[1], box[0] + 14, box[1] + 20)) > 0 for b in top) for _, box in truth), top


def test_thin_white_labels_on_textured_pictures_are_read_from_their_glyphs() -> None:
    """Three touching micrograph-like frames, "(a)" "(b)" "(c)" in a thin white font inside each top-left corner."""
    w, h = 230, 180
    fig = Image.new("RGB", (3 * w + 8, h), "white")
    d = ImageDraw.Draw(fig)
    for k, name in enumerate(("gravel", "grass", "moon")):
        fig.paste(_photo(name, (w, h)), (k * (w + 4), 0))
        d.text((k * (w + 4) + 6, 4), f"({'abc'[k]})", fill="white", font=_font(15, bold=False))
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == ["a", "b", "c"], notes
    for k, f in enumerate(found):
        assert _iou(f[1], (k * (w + 4), 0, k * (w + 4) + w, h)) > 0.8, found


def test_labels_at_the_top_right_of_plot_frames_end_their_panels() -> None:
    """A row of three dark spectrum frames, each labelled at its top-right inside the frame (EDS-style)."""
    w, h, gap = 220, 170, 8
    fig = Image.new("RGB", (3 * w + 2 * gap, h), "white")
    d = ImageDraw.Draw(fig)
    rng = np.random.default_rng(0)
    for k in range(3):
        x = k * (w + gap)
        d.rectangle([x, 0, x + w - 1, h - 1], fill=(10, 40, 100), outline="black")
        peaks = rng.integers(20, w - 20, 4)
        for p in peaks:
            d.line([(x + int(p), h - 10), (x + int(p), 40 + int(rng.integers(0, 60)))], fill=(240, 230, 20), width=3)
        d.text((x + w - 34, 8), f"({'abc'[k]})", fill="white", font=_font(16))
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == ["a", "b", "c"], notes
    for k, f in enumerate(found):
        assert _iou(f[1], (k * (w + gap), 0, k * (w + gap) + w, h)) > 0.8, (found, notes)


def test_a_letter_that_is_not_read_gets_the_unlabelled_picture() -> None:
    """Three pictures in a row; "b" is not printed (as when it is unreadable) but the caption names it."""
    w, h, gap, lab = 200, 160, 12, 22
    fig = Image.new("RGB", (3 * w + 2 * gap, lab + h), "white")
    d = ImageDraw.Draw(fig)
    for k, name in enumerate(("coins", "moon", "camera")):
        x = k * (w + gap)
        fig.paste(_photo(name, (w, h)), (x, lab))
        if k != 1:
            d.text((x, 0), "abc"[k], fill="black", font=_font(16))
    found, notes = find_panels(fig, list("abc"))
    assert [f[0] for f in found] == ["a", "b", "c"], notes
    assert _iou(found[1][1], (w + gap, lab, 2 * w + gap, lab + h)) > 0.8, (found, notes)
    assert any("not read" in n for n in notes), notes


def test_the_caption_segment_names_the_kind_of_picture() -> None:
    assert caption_type("Schematic of the synthesis process") == "illustration"
    assert caption_type("HRTEM image of a Ag–Pd nanoframe") == "microscopy"
    assert caption_type("SAED pattern of the region in b") == "diffraction"
    assert caption_type("XRD patterns of the three samples") == "graph"
    assert caption_type("Photograph of the device") == "photo"
    # the head names the picture (SAED: an inset)
    assert caption_type("TEM image and the corresponding SAED pattern") == "microscopy"
    assert caption_type(None) is None
    assert fuse("microscopy", 0.9, "Schematic of the cell") == ("illustration", 0.6)
    assert fuse("microscopy", 0.99, "Schematic of the cell") == ("microscopy", 0.99)  # the classifier is sure
    assert fuse("graph", 0.5, "") == ("graph", 0.5)
