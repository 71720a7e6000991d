"""Panel split, session 11: labels that were never *found or read* (the recall loss of the real held-out parts) —
coloured letters (``layout.label_tones``), faint grey letters (``layout._faint``), grey crops stretched for the
recogniser (``layout._crop_for_ocr``), letters inside circles and boxes (``layout.enclosed_glyphs``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from matsearch.indexer.figures import layout
from training import figures_synth as synth


def _letter(
    text: str, ink: tuple[int, int, int], ground: tuple[int, int, int] = (255, 255, 255), size: int = 18
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    img = Image.new("RGB", (120, 60), ground)
    d = ImageDraw.Draw(img)
    font = synth._font(size, bold=True)
    d.text((40, 15), text, fill=ink, font=font)
    x0, y0, x1, y1 = d.textbbox((40, 15), text, font=font)
    return img, (int(x0), int(y0), int(x1), int(y1))


def _hits(boxes: list[tuple[str, tuple[int, int, int, int]]], where: tuple[int, int, int, int]) -> bool:
    return any(layout._overlap(b, where) for _, b in boxes)


def _rescued(img: Image.Image) -> list[tuple[str, tuple[int, int, int, int]]]:
    gray = layout.gray_array(img)
    seen = [b for _, b in layout.find_candidates(gray)]  # what the luminance pass found
    return [(p, b) for _, p, b in layout.rescue_candidates(gray, layout.label_tones(img), seen)]


@pytest.mark.parametrize("colour", [(250, 150, 20), (40, 220, 230), (245, 230, 40)])  # orange, cyan, yellow
def test_coloured_letter_on_white_is_a_rescue_candidate(colour: tuple[int, int, int]) -> None:
    img, where = _letter("a", colour)
    assert not _hits(layout.find_candidates(layout.gray_array(img)), where)  # luminance 165-215: never dark ink
    was = layout.FAINT
    try:
        layout.FAINT = False  # the channel images alone, not the faint pass
        assert _hits(_rescued(img), where)
        layout.COLOUR_TONES = False
        assert not _hits(_rescued(img), where)
    finally:
        layout.FAINT, layout.COLOUR_TONES = was, True


def test_blue_letter_on_black_is_a_light_rescue_candidate() -> None:
    img, where = _letter("b", (40, 60, 235), ground=(0, 0, 0))
    assert not _hits(layout.find_candidates(layout.gray_array(img)), where)  # luminance 74 on black
    was = layout.FAINT
    try:
        layout.FAINT = False
        assert any(p == "light" and layout._overlap(b, where) for p, b in _rescued(img))
    finally:
        layout.FAINT = was


def test_grey_figures_have_no_channel_images() -> None:
    img, _ = _letter("c", (90, 90, 90))
    assert layout.label_tones(img) is None


def test_faint_grey_letter_is_a_rescue_candidate() -> None:
    img, where = _letter("d", (165, 165, 165))
    assert not _hits(layout.find_candidates(layout.gray_array(img)), where)
    assert _hits(_rescued(img), where)
    was = layout.FAINT
    try:
        layout.FAINT = False
        assert not _hits(_rescued(img), where)
    finally:
        layout.FAINT = was


def test_faint_pass_skips_textured_ground() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(60, 200, size=(60, 120), dtype=np.uint8)
    assert layout._faint(noise, "dark", 6, 48, []) == []


def test_grey_crop_is_stretched_for_the_recogniser() -> None:
    img, where = _letter("e", (165, 165, 165))
    gray = layout.gray_array(img)
    assert layout._crop_for_ocr(gray, where, "dark", stretch=True).min() == 0
    assert layout._crop_for_ocr(gray, where, "dark").min() >= 150  # only the rescue reads are stretched
    was = layout.STRETCH
    try:
        layout.STRETCH = False
        assert layout._crop_for_ocr(gray, where, "dark", stretch=True).min() >= 150
    finally:
        layout.STRETCH = was


def _framed(kind: str, text: str = "a") -> np.ndarray:
    img = Image.new("L", (40, 40), 255)
    d = ImageDraw.Draw(img)
    font = synth._font(18, bold=True)
    lft, top, rgt, bot = d.textbbox((13, 8), text, font=font)
    if kind == "circle":
        cx, cy, r = (lft + rgt) / 2, (top + bot) / 2, max(rgt - lft, bot - top) / 2 + 3
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=0, width=1)
        d.text((13, 8), text, fill=0, font=font)
    elif kind == "box":
        d.rectangle([lft - 3, top - 3, rgt + 3, bot + 3], fill=0)
        d.text((13, 8), text, fill=255, font=font)
    else:
        d.text((8, 4), text, fill=0, font=synth._font(30, bold=True))
    ink = np.asarray(img) < 128
    ys, xs = np.nonzero(ink)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def test_letter_in_a_circle_is_read_without_it() -> None:
    found = layout.enclosed_glyphs(_framed("circle"))
    assert found is not None
    flip, (x0, y0, x1, y1), glyph = found
    assert not flip and x0 > 3 and y0 > 3 and glyph.any()


def test_letter_in_a_black_box_is_its_hole() -> None:
    found = layout.enclosed_glyphs(_framed("box"))
    assert found is not None and found[0]  # the other polarity: the blank letter


@pytest.mark.parametrize("text", ["O", "D", "a", "B"])
def test_plain_letters_have_no_frame(text: str) -> None:
    assert layout.enclosed_glyphs(_framed("plain", text)) is None


def test_circled_crop_is_unframed() -> None:
    ink = _framed("circle")
    gray = np.where(ink, 0, 255).astype(np.uint8)
    box = (0, 0, gray.shape[1], gray.shape[0])
    plain = layout._crop_for_ocr(gray, box, "dark")
    unframed = layout._crop_for_ocr(gray, box, "dark", unframe=True)
    assert unframed.shape[0] < plain.shape[0]  # the glyph alone, not the circle
    was = layout.ENCLOSED
    try:
        layout.ENCLOSED = False
        assert layout._crop_for_ocr(gray, box, "dark", unframe=True).shape == plain.shape
    finally:
        layout.ENCLOSED = was


def test_circled_corner_label_gives_a_read_of_its_glyph() -> None:
    """A white disc with a black letter at a picture's top-left: besides the disc (read as "o"), the corner offers
    the letter alone."""
    img = Image.new("L", (200, 160), 70)
    d = ImageDraw.Draw(img)
    font = synth._font(14, bold=True)
    lft, top, rgt, bot = d.textbbox((8, 6), "b", font=font)
    cx, cy, r = (lft + rgt) / 2, (top + bot) / 2, max(rgt - lft, bot - top) / 2 + 3
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    d.text((8, 6), "b", fill=0, font=font)
    gray = np.asarray(img)
    words = layout._corner_words(gray, (0, 0, 60, 40), "top")
    inside = [w for w in words if w[0] == "dark" and w[1][0] >= cx - r and w[1][2] <= cx + r]
    assert inside
    was = layout.ENCLOSED
    try:
        layout.ENCLOSED = False
        assert len(layout._corner_words(gray, (0, 0, 60, 40), "top")) < len(words)
    finally:
        layout.ENCLOSED = was


def _strip(n: int = 4, gutter: int = 0) -> Image.Image:
    """``n`` equal frames of different grey textures side by side (touching when ``gutter`` is 0)."""
    rng = np.random.default_rng(1)
    fw, fh = 120, 100
    arr = np.full((fh, n * fw + (n - 1) * gutter), 255, np.uint8)
    for k in range(n):
        x0 = k * (fw + gutter)
        arr[:, x0 : x0 + fw] = np.clip(rng.normal(60 + 40 * (k % 2), 12, (fh, fw)), 0, 230).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def _no_reads(crops: object) -> list[tuple[str, float]]:
    return [("", 0.0)] * len(crops)  # type: ignore[arg-type]


def test_unread_caption_labels_take_the_drawn_frames() -> None:
    img = _strip(4, gutter=3)
    lay = layout.analyse(img, ["a", "b", "c", "d"], ocr=_no_reads)
    assert [r.label.key if r.label else None for r in lay.regions] == ["a", "b", "c", "d"]
    assert abs(lay.regions[1].box[0] - 123) <= 3
    was = layout.STRUCTURE_GRID
    try:
        layout.STRUCTURE_GRID = False
        assert len(layout.analyse(img, ["a", "b", "c", "d"], ocr=_no_reads).regions) == 1
    finally:
        layout.STRUCTURE_GRID = was


def test_frames_need_the_caption_count_and_a_drawn_grid() -> None:
    img = _strip(4, gutter=3)
    assert len(layout.analyse(img, None, ocr=_no_reads).regions) == 1  # no caption: no names to give
    assert len(layout.analyse(img, ["a", "b", "c"], ocr=_no_reads).regions) == 1  # 3 labels: no 3-frame grid drawn
    flat = Image.new("RGB", (480, 100), (90, 90, 90))
    assert len(layout.analyse(flat, ["a", "b", "c", "d"], ocr=_no_reads).regions) == 1  # no lines drawn


def test_a_read_label_must_fit_the_reading_order() -> None:
    from matsearch.indexer.figures.layout import LabelCandidate, Region

    img = _strip(4, gutter=3)
    blank, gray = layout.background_mask(img), layout.gray_array(img)
    whole = (0, 0, img.width, img.height)
    wrong = LabelCandidate("c", "c", (4, 4, 12, 16), 0.9, "light", 12)
    right = LabelCandidate("b", "b", (127, 4, 135, 16), 0.9, "light", 12)
    assert layout._structure_grid([Region(wrong, whole, whole)], blank, gray, list("abcd"), []) is None
    out = layout._structure_grid([Region(right, whole, whole)], blank, gray, list("abcd"), [])
    assert out is not None and out[1].label is right


def _two_plots(second: tuple[int, int, int], first: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Two framed plots side by side, a ``first``-coloured "a" over the first, a ``second``-coloured "b" over the
    second."""
    fig = Image.new("RGB", (460, 200), "white")
    d = ImageDraw.Draw(fig)
    font = synth._font(16, bold=True)
    for k, colour in enumerate([first, second]):
        x = 10 + k * 230
        d.rectangle([x + 10, 30, x + 210, 190], outline=(0, 0, 0), width=2)
        d.line([(x + 20, 170), (x + 100, 60), (x + 200, 120)], fill=(200, 30, 30), width=2)
        d.text((x, 2), "ab"[k], fill=colour, font=font)
    return fig


def test_an_orange_label_is_read_in_the_rescue() -> None:
    fig = _two_plots((250, 150, 20))
    was = layout.STRUCTURE_GRID
    try:
        layout.STRUCTURE_GRID = False  # the frames alone would also name them
        lay = layout.analyse(fig, ["a", "b"])
        assert [r.label.key if r.label else None for r in lay.regions] == ["a", "b"], lay.explain
        layout.RESCUE = False
        assert len(layout.analyse(fig, ["a", "b"]).regions) == 1
    finally:
        layout.STRUCTURE_GRID, layout.RESCUE = was, True


def test_no_rescue_when_the_labels_are_found() -> None:
    fig = _two_plots((0, 0, 0))
    calls: list[int] = []

    def spy(gray: np.ndarray, tones: object, seen: object) -> list[tuple[str, str, tuple[int, int, int, int]]]:
        calls.append(1)
        return []

    was = layout.rescue_candidates
    try:
        layout.rescue_candidates = spy
        lay = layout.analyse(fig, ["a", "b"])
    finally:
        layout.rescue_candidates = was
    assert [r.label.key if r.label else None for r in lay.regions] == ["a", "b"]
    assert calls == []


def test_a_figure_without_luminance_blobs_still_gets_the_rescue() -> None:
    """Both labels orange (no blob in the luminance at all): with the caption the rescue reads "a" and "b" in line;
    without a caption it starts no run (``RESCUE_OPEN``, off: it added false labels on real dev8), unless asked."""
    fig = _two_plots((250, 150, 20), first=(250, 150, 20))
    was = layout.STRUCTURE_GRID
    try:
        layout.STRUCTURE_GRID = False
        lay = layout.analyse(fig, ["a", "b"])
        assert [r.label.key if r.label else None for r in lay.regions] == ["a", "b"], lay.explain
        assert len(layout.analyse(fig, None).regions) == 1
        layout.RESCUE_OPEN = True
        assert [r.label.key if r.label else None for r in layout.analyse(fig, None).regions] == ["a", "b"]
    finally:
        layout.STRUCTURE_GRID, layout.RESCUE_OPEN = was, False
