"""Panel split, session 9 (found on the real dev9 figures, Nat. Commun. 6, 8788):

- A label printed a few px beside its picture (a bold "b" left of a dark STEM image's top edge) was joined to the
  picture by the candidate finder's glyph-joining dilation and never read; the abutting pass finds it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from matsearch.indexer.figures import layout
from matsearch.indexer.figures.layout import LabelCandidate, choose_labels
from matsearch.indexer.figures.panels import find_panels
from training import figures_synth as synth


def _picture(w: int, h: int, seed: int) -> Image.Image:
    arr = np.asarray(synth._sample("moon" if seed % 2 else "coins"))
    arr = arr.mean(axis=2) if arr.ndim == 3 else arr
    arr = (arr.astype(np.float32) * 0.45).astype(np.uint8)  # a dark micrograph (HAADF-like)
    return Image.fromarray(arr).convert("RGB").resize((w, h))


def _abutting_figure() -> tuple[Image.Image, list[tuple[int, int]]]:
    fig = Image.new("RGB", (900, 420), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    font = synth._font(26, bold=True)
    spots = []
    for i, key in enumerate("ab"):
        x = 30 + 450 * i
        fig.paste(_picture(400, 380, i), (x, 20))
        # the letter ends 2 px left of the picture, its top level with the picture's top edge
        x0, t, r, _ = d.textbbox((0, 0), key, font=font)
        gx, gy = int(x - 2 - (r - x0)), 20
        d.text((gx - x0, gy - t), key, fill=(0, 0, 0), font=font)
        spots.append((gx, gy))
    return fig, spots


def test_a_label_a_few_px_beside_its_picture_is_a_candidate() -> None:
    fig, spots = _abutting_figure()
    gray = layout.gray_array(fig)
    boxes = [b for _, b in layout.find_candidates(gray)]
    for gx, gy in spots:
        assert any(abs(b[0] - gx) <= 3 and abs(b[1] - gy) <= 3 for b in boxes), (gx, gy)
    old = layout.ABUTTING
    try:
        layout.ABUTTING = False  # the session-8 finder: the letter is part of the picture's blob
        boxes = [b for _, b in layout.find_candidates(gray)]
        assert not any(abs(b[0] - spots[1][0]) <= 3 and abs(b[1] - spots[1][1]) <= 3 for b in boxes)
    finally:
        layout.ABUTTING = old


def test_labels_beside_their_pictures_split_the_figure() -> None:
    fig, _ = _abutting_figure()
    panels, _ = find_panels(fig, ["a", "b"])
    assert [lab for lab, _, _ in panels] == ["a", "b"]
    a, b = (box for _, box, _ in panels)
    assert a[2] <= 480 <= b[0] + 40


def _grid_2x2() -> Image.Image:
    fig = Image.new("RGB", (900, 760), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    font = synth._font(26, bold=True)
    for i, key in enumerate("abcd"):
        x, y = 40 + 440 * (i % 2), 10 + 380 * (i // 2)
        fig.paste(_picture(390, 330, i).point(lambda v: min(255, 2 * v)), (x, y + 30))
        d.text((x - 30, y), key, fill=(0, 0, 0), font=font)
    return fig


def test_letters_past_the_captions_last_are_kept_when_a_caption_label_would_cover_two_panels() -> None:
    # the caption's parse found "(a, b)" only (its "spectra of c, d" in prose was missed): without the rule "a" and
    # "b" each take a column of two pictures; read again without the caption, c and d are printed at their corners
    fig = _grid_2x2()
    panels, _ = find_panels(fig, ["a", "b"])
    assert [lab for lab, _, _ in panels] == ["a", "b", "c", "d"]
    boxes = {lab: box for lab, box, _ in panels}
    assert boxes["a"][3] <= 400 and boxes["c"][1] >= 360
    old = layout.CAPTION_EXTEND
    try:
        layout.CAPTION_EXTEND = False
        panels, _ = find_panels(fig, ["a", "b"])
        assert [lab for lab, _, _ in panels] == ["a", "b"]
    finally:
        layout.CAPTION_EXTEND = old
    # a caption that names every letter is not second-guessed, and one naming "a"-"d" keeps four panels
    panels, _ = find_panels(fig, ["a", "b", "c", "d"])
    assert [lab for lab, _, _ in panels] == ["a", "b", "c", "d"]


def _lab(text: str, x: int, y: int, h: int = 20, score: float = 0.95, corner: bool = False) -> LabelCandidate:
    key = layout.label_key(text) or text
    return LabelCandidate(text, key, (x, y, x + max(3, h // 2), y + h), score, "dark", h, corner)


def test_a_lone_stroke_is_the_missing_i_of_an_upper_case_grid() -> None:
    # "A"-"H" of a 3x3 grid read; the "I" came back as "1"; a lower-case "i" read inside plot f lines up with nothing
    grid = [_lab(k, 10 + 300 * (n % 3), 10 + 300 * (n // 3)) for n, k in enumerate("ABCDEFGH")]
    stroke = _lab("1", 617, 610, score=0.51)
    stray = _lab("i", 600, 520, h=10, score=0.8)
    picked = choose_labels([*grid, stroke, stray], None, [])
    assert [c.key for c in picked] == list("abcdefghi")
    assert next(c for c in picked if c.key == "i").box[:2] == (617, 610)
    # a "1" that lines up with nothing (a tick label inside a plot) is no "I"
    assert [c.key for c in choose_labels([*grid, _lab("1", 450, 455)], None, [])] == list("abcdefgh")
    # in a lower-case run the stroke would be an "l", not an "i": nothing to fill after "h"
    lower = [_lab(k, 10 + 300 * (n % 3), 10 + 300 * (n // 3)) for n, k in enumerate("abcdefgh")]
    assert [c.key for c in choose_labels([*lower, stroke], None, [])] == list("abcdefgh")


def test_label_size_is_judged_by_the_labels_that_line_up() -> None:
    # "A" (a corner read) and "B" in a row are the labels; two small "D"s and an "N" read inside a picture are not.
    # The plain median of the other reads (9 px) had made "B" (21 px) a size outlier.
    a = _lab("A", 21, 479, h=18, corner=True)
    b = _lab("B", 535, 482, h=21)
    noise = [_lab("N", 87, 791, h=9), _lab("D", 765, 390, h=9), _lab("D", 728, 392, h=9)]
    keys = {c.key for c in layout._per_key([a, b, *noise])}
    assert {"a", "b"} <= keys and "n" not in keys


def test_the_reading_goes_on_for_a_hole_or_an_empty_grid_cell() -> None:
    # "a c d" leaves "b" to find; "a", "b" over "c" leave the grid's fourth cell: "d" is looked for; a "d" read
    # inside a drawing (lining up with no label) does not fill that cell
    a, b, c = _lab("a", 0, 38), _lab("b", 481, 38), _lab("c", 0, 388)
    assert layout._holes([a, c, _lab("d", 481, 388)]) == {"b"}
    assert layout._holes([a, b, c]) == {"d"}
    assert layout._holes([a, b, c, _lab("d", 208, 184)]) == {"d"}
    assert layout._holes([a, b, c, _lab("d", 481, 388)]) == set()
    # a row of three is complete
    assert layout._holes([a, b, _lab("c", 900, 38)]) == set()


def test_a_row_of_labels_with_room_for_one_more_plot_looks_for_the_next_letter() -> None:
    a, b = _lab("a", 114, 191), _lab("b", 438, 191)
    assert layout._holes([a, b], (900, 222)) == {"c"}  # 438 + 324 < 900: a third plot's place
    assert layout._holes([a, b], (700, 222)) == set()  # the figure ends after "b"'s plot
    assert layout._holes([a, b]) == set()  # size unknown: nothing assumed
