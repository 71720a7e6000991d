"""Panel split, session 12: equal frames that are only a *part* of the figure (a series under a schematic, a graph
grid beside other panels) get one panel per frame when their letters are not read (``layout._sub_lattice``,
``layout._region_frames``), and the drawn frames of the whole figure may run column-major when the read labels say
so (``layout.STRUCTURE_ANY_ORDER``). Each test fails with its flag off."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from matsearch.indexer.figures import layout
from matsearch.indexer.figures.layout import LabelCandidate, Region
from training import figures_synth as synth


def _textures(n: int, fw: int, fh: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(rng.normal(60 + 45 * (k % 2), 12, (fh, fw)), 0, 230).astype(np.uint8) for k in range(n)]


def _grid(rows: int, cols: int, gutter: int = 0, fw: int = 120, fh: int = 100, top: int = 0) -> np.ndarray:
    """Grey ``rows x cols`` frames (touching when ``gutter`` is 0) under ``top`` white rows."""
    arr = np.full((top + rows * fh + (rows - 1) * gutter, cols * fw + (cols - 1) * gutter), 255, np.uint8)
    for k, t in enumerate(_textures(rows * cols, fw, fh)):
        r, c = divmod(k, cols)
        y0, x0 = top + r * (fh + gutter), c * (fw + gutter)
        arr[y0 : y0 + fh, x0 : x0 + fw] = t
    return arr


def _no_reads(crops: object) -> list[tuple[str, float]]:
    return [("", 0.0)] * len(crops)  # type: ignore[arg-type]


def _lab(key: str, x: int, y: int) -> LabelCandidate:
    return LabelCandidate(key, key, (x, y, x + 9, y + 12), 0.9, "light", 12)


def test_drawn_frames_follow_a_column_major_read_label() -> None:
    img = Image.fromarray(_grid(2, 2, gutter=3)).convert("RGB")
    blank, gray = layout.background_mask(img), layout.gray_array(img)
    whole = (0, 0, img.width, img.height)
    b_low_left = _lab("b", 4, 107)  # "b" under "a": the letters run down the columns
    out = layout._structure_grid([Region(b_low_left, whole, whole)], blank, gray, list("abcd"), [])
    assert out is not None
    names = {r.label.key: r.box for r in out if r.label is not None}
    assert names["b"][1] > 90 and names["b"][0] == 0 and names["c"][0] > 100 and names["c"][1] == 0
    was = layout.STRUCTURE_ANY_ORDER
    try:
        layout.STRUCTURE_ANY_ORDER = False
        assert layout._structure_grid([Region(b_low_left, whole, whole)], blank, gray, list("abcd"), []) is None
    finally:
        layout.STRUCTURE_ANY_ORDER = was


def _head_and_grid() -> tuple[Image.Image, list[LabelCandidate]]:
    """A wide grey head picture ("a") above a gutter and a 2x3 grid of touching frames lettered b-g, "e" unread."""
    grid = _grid(2, 3, gutter=0, top=140)
    grid[10:130, 0:300] = 120
    img = Image.fromarray(grid).convert("RGB")
    labels = [_lab("a", 4, 14)]
    for k, key in enumerate("bcdefg"):
        r, c = divmod(k, 3)
        if key != "e":
            labels.append(_lab(key, 4 + 120 * c, 144 + 100 * r))
    return img, labels


def test_a_grid_below_a_head_panel_gives_the_unread_letter_its_frame() -> None:
    img, labels = _head_and_grid()
    blank, gray = layout.background_mask(img), layout.gray_array(img)
    regions = layout.partition(img, labels, [], blank=blank, gray=gray)
    assert "e" not in {r.label.key for r in regions if r.label is not None}
    out = layout._sub_lattice(regions, labels, blank, gray, list("abcdefg"), [])
    assert out is not None
    boxes = {r.label.key: r.box for r in out if r.label is not None}
    assert sorted(boxes) == list("abcdefg")
    assert boxes["e"][0] == 0 and abs(boxes["e"][1] - 240) <= 3  # the first frame of the second row
    assert boxes["a"][3] <= 140  # the head keeps its own part
    # the whole-figure lattice cannot tile it: the head is not a frame
    assert layout._lattice(regions, labels, blank, gray, list("abcdefg"), []) is None


def test_no_sub_grid_takes_a_letter_read_elsewhere() -> None:
    img, labels = _head_and_grid()
    blank, gray = layout.background_mask(img), layout.gray_array(img)
    labels[0] = _lab("e", 4, 14)  # the head reads "e": "a" missing, "e" is not the grid's to give
    regions = layout.partition(img, labels, [], blank=blank, gray=gray)
    assert layout._sub_lattice(regions, labels, blank, gray, list("abcdefg"), []) is None


def _head_plot_and_strip() -> Image.Image:
    """A plot with a bold "a" at its top-left, beside a strip of four touching frames with no readable label."""
    fig = Image.new("RGB", (260 + 4 * 120, 200), "white")
    d = ImageDraw.Draw(fig)
    d.rectangle([30, 30, 230, 180], outline=(0, 0, 0), width=2)
    d.line([(40, 160), (120, 60), (220, 120)], fill=(200, 30, 30), width=2)
    d.text((4, 2), "a", fill=(0, 0, 0), font=synth._font(20, bold=True))
    strip = _grid(1, 4, gutter=0, fh=190)
    fig.paste(Image.fromarray(strip).convert("RGB"), (260, 5))
    return fig


def test_an_unlettered_strip_beside_a_plot_takes_the_caption_letters() -> None:
    fig = _head_plot_and_strip()
    lay = layout.analyse(fig, list("abcde"))  # the real recogniser: it reads the "a"
    boxes = {r.label.key: r.box for r in lay.regions if r.label is not None}
    assert sorted(boxes) == list("abcde")
    for k, key in enumerate("bcde"):
        assert abs(boxes[key][0] - (260 + 120 * k)) <= 3
    was = layout.REGION_FRAMES
    try:
        layout.REGION_FRAMES = False
        lay = layout.analyse(fig, list("abcde"))
        assert len([r for r in lay.regions if r.label is not None]) < 5
    finally:
        layout.REGION_FRAMES = was


def test_a_plot_is_not_cut_into_frames() -> None:
    fig = Image.new("RGB", (480, 200), "white")
    d = ImageDraw.Draw(fig)
    d.rectangle([10, 10, 470, 190], outline=(0, 0, 0), width=2)
    for x in (125, 240, 356):  # tall spikes where a 1x4 grid's lines would be: steps along the whole height
        d.line([(x, 12), (x, 188)], fill=(0, 0, 0), width=2)
    blank, gray = layout.background_mask(fig), layout.gray_array(fig)
    assert layout._block_frames((10, 10, 471, 191), blank, gray, 12.0) is None
    strip = Image.fromarray(_grid(1, 4, gutter=0)).convert("RGB")
    sb, sg = layout.background_mask(strip), layout.gray_array(strip)
    assert layout._block_frames((0, 0, strip.width, strip.height), sb, sg, 12.0) == (1, 4)
