"""Panel split, session 8 (found on the real dev8 figures, Elemental Microscopy papers):

- Without a caption, the label run must still start at the first letter after the filters: when the reading-order
  filter drops an "a" read inside an axis title, "c", "d" alone are letters of words, not labels.
- A figure that is one picture with one letter printed at its top-left corner (a web paper's sub-figure) is one
  panel with that label; a word at the same corner ("C support film") is no label.
- A label never covers two panels' areas: an unlettered row of pictures above a row of lettered panels becomes
  panels without a label; a title line above a lettered panel stays in it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from matsearch.indexer.figures.layout import LabelCandidate, choose_labels
from matsearch.indexer.figures.panels import find_panels
from training import figures_synth as synth


def _lab(key: str, x: int, y: int, h: int = 14, score: float = 0.9) -> LabelCandidate:
    return LabelCandidate(key, key, (x, y, x + h, y + h), score, "dark", h)


def test_a_run_that_loses_its_first_letter_is_no_label_sequence() -> None:
    # "a" read in the x-axis title at the bottom right, "c" a tick at the left, "d" at a plot's top: after the
    # reading-order filter drops "a", nothing starts the run
    cands = [_lab("a", 704, 641), _lab("c", 81, 552), _lab("d", 511, 204)]
    assert choose_labels(cands, None, []) == []
    # a real run keeps its labels
    good = [_lab("a", 10, 10), _lab("b", 400, 10), _lab("c", 10, 300), _lab("d", 400, 300)]
    assert [c.key for c in choose_labels(good, None, [])] == ["a", "b", "c", "d"]


def _picture(w: int, h: int, seed: int) -> Image.Image:
    arr = np.asarray(synth._sample("moon" if seed % 2 else "coins"))
    arr = arr.mean(axis=2) if arr.ndim == 3 else arr
    return Image.fromarray(arr.astype(np.uint8)).convert("RGB").resize((w, h))


def test_one_picture_with_one_corner_letter_is_one_labelled_panel() -> None:
    pic = _picture(520, 380, 1)
    lettered = pic.copy()
    d = ImageDraw.Draw(lettered)
    d.rectangle((6, 6, 34, 40), fill=(0, 0, 0))
    d.text((10, 8), "B", fill=(255, 255, 255), font=synth._font(28, bold=True))
    panels, _ = find_panels(lettered)
    assert [(lab, box) for lab, box, _ in panels] == [("b", (0, 0, 520, 380))]
    worded = pic.copy()
    d = ImageDraw.Draw(worded)
    d.rectangle((6, 6, 200, 34), fill=(0, 0, 0))
    d.text((10, 8), "C support film", fill=(255, 255, 255), font=synth._font(20, bold=False))
    panels, _ = find_panels(worded)
    assert [lab for lab, _, _ in panels] == [None]


def test_an_unlettered_row_above_lettered_panels_is_not_given_to_their_labels() -> None:
    fig = Image.new("RGB", (860, 700), (255, 255, 255))
    for i in range(2):
        fig.paste(_picture(400, 300, i), (10 + 430 * i, 10))  # top row: no letters (the caption's left / right)
        fig.paste(_picture(400, 300, i + 1), (10 + 430 * i, 380))
    d = ImageDraw.Draw(fig)
    font = synth._font(26, bold=True)
    for i, k in enumerate("AB"):
        d.rectangle((12 + 430 * i, 382, 40 + 430 * i, 414), fill=(255, 255, 255))
        d.text((15 + 430 * i, 384), k, fill=(0, 0, 0), font=font)
    panels, _ = find_panels(fig)
    got = sorted((lab or "-", box[1] < 340) for lab, box, _ in panels)
    assert got == [("-", True), ("-", True), ("a", False), ("b", False)]
    assert all(box[1] >= 340 for lab, box, _ in panels if lab)  # "a" and "b" hold only their own row
    # a title line above each lettered panel is part of it
    titled = Image.new("RGB", (860, 400), (255, 255, 255))
    d = ImageDraw.Draw(titled)
    for i, k in enumerate("AB"):
        d.text((150 + 430 * i, 6), "HAADF image", fill=(0, 0, 0), font=synth._font(18, bold=False))
        titled.paste(_picture(400, 300, i), (10 + 430 * i, 60))
        d.text((15 + 430 * i, 64), k, fill=(0, 0, 0), font=font)
    panels, _ = find_panels(titled)
    assert sorted(lab or "-" for lab, _, _ in panels) == ["a", "b"]
