"""Panel split, session 4: equal frames (film strips, time series, graph grids) split into one panel per frame
when labels are unread or frames touch, and light labels read on mid-grey pictures.

Frames are crops of scikit-image's real sample micrographs/photographs; labels are read by the real OCR."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from matsearch.indexer.figures.panels import find_panels


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", px)
    except OSError:
        return ImageFont.load_default(size=px)


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _series(
    rows: int, cols: int, gutter: int, unprinted: set[int], grey: bool = True
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """rows x cols frames drifting over one real micrograph-like picture, labels a, b, ... white at each frame's
    top-left (letters in ``unprinted`` left out, as when they are unreadable)."""
    src = Image.fromarray(skdata.moon() if grey else skdata.camera()).convert("RGB")
    fw, fh = 150, 120
    fig = Image.new("RGB", (cols * fw + (cols - 1) * gutter, rows * fh + (rows - 1) * gutter), "white")
    d = ImageDraw.Draw(fig)
    boxes = []
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        x, y = c * (fw + gutter), r * (fh + gutter)
        fig.paste(src.crop((40 + 25 * k, 60 + 12 * k, 40 + 25 * k + fw, 60 + 12 * k + fh)), (x, y))
        if k not in unprinted:
            d.text((x + 6, y + 5), chr(97 + k), fill="white", font=_font(16))
        boxes.append((x, y, x + fw, y + fh))
    return fig, boxes


def test_a_strip_of_touching_frames_gives_one_panel_per_frame() -> None:
    """Six frames with no gutter, labels white on a mid-grey picture, "d" unreadable; the caption names a-f."""
    fig, boxes = _series(1, 6, 0, {3})
    found, notes = find_panels(fig, list("abcdef"))
    assert [f[0] for f in found] == list("abcdef"), notes
    for (_, box, _), true in zip(found, boxes, strict=True):
        assert _iou(box, true) > 0.8, (found, notes)
    assert any("equal frames" in n for n in notes), notes


def test_a_frame_series_without_caption_gets_its_unread_letter_from_the_grid() -> None:
    """2 x 4 frames with 2-px gutters, no caption, "g" not printed: the grid gives g its own frame."""
    fig, boxes = _series(2, 4, 2, {6})
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == list("abcdefgh"), notes
    assert _iou(found[6][1], boxes[6]) > 0.8, (found, notes)


def test_an_unlabelled_row_is_not_given_invented_letters() -> None:
    """Without a caption, a second row with no label at all stays with the labelled row above (a picture and its
    map under it): the grid does not invent letters e-h."""
    fig, _ = _series(2, 4, 2, {4, 5, 6, 7})
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == list("abcd"), (found, notes)
    for _, (_, y0, _, y1), _ in found:  # each label keeps both of its pictures
        assert y1 - y0 >= 0.9 * fig.height, (found, notes)


def test_dark_labels_on_light_grey_frames_are_read() -> None:
    """Black labels on light-grey frames (neither a white margin nor a dark picture), no gutters, caption a-f."""
    src = Image.fromarray(skdata.moon()).convert("L").point(lambda v: 125 + v // 3).convert("RGB")  # 150..235
    fw, fh, g = 150, 120, 0
    fig = Image.new("RGB", (3 * fw + 2 * g, 2 * fh + g), "white")
    d = ImageDraw.Draw(fig)
    boxes = []
    for k in range(6):
        r, c = divmod(k, 3)
        x, y = c * (fw + g), r * (fh + g)
        fig.paste(src.crop((30 * k, 20 * k, 30 * k + fw, 20 * k + fh)), (x, y))
        d.text((x + 6, y + 5), chr(97 + k) + ")", fill="black", font=_font(15))
        boxes.append((x, y, x + fw, y + fh))
    found, notes = find_panels(fig, list("abcdef"))
    assert [f[0] for f in found] == list("abcdef"), notes
    for (_, box, _), true in zip(found, boxes, strict=True):
        assert _iou(box, true) > 0.8, (found, notes)


def test_bottom_left_labels_of_equal_frames_end_their_frames() -> None:
    """2 x 3 touching frames, each label at its frame's bottom-left: the grid, not a cut under each label."""
    src = Image.fromarray(skdata.moon()).convert("RGB")
    fw, fh, g = 150, 120, 0
    fig = Image.new("RGB", (3 * fw + 2 * g, 2 * fh + g), "white")
    d = ImageDraw.Draw(fig)
    boxes = []
    for k in range(6):
        r, c = divmod(k, 3)
        x, y = c * (fw + g), r * (fh + g)
        fig.paste(src.crop((40 + 25 * k, 60 + 12 * k, 40 + 25 * k + fw, 60 + 12 * k + fh)), (x, y))
        d.text((x + 6, y + fh - 24), chr(97 + k), fill="white", font=_font(16))
        boxes.append((x, y, x + fw, y + fh))
    found, notes = find_panels(fig, list("abcdef"))
    assert [f[0] for f in found] == list("abcdef"), notes
    for (_, box, _), true in zip(found, boxes, strict=True):
        assert _iou(box, true) > 0.8, (found, notes)
