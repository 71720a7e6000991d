"""Panel split, session 5: graph grids whose labels are not at the plots' top-left corners — the first word of a
title above each plot ("(a) mode=plain", as pyprocar prints them), or a sub-caption line under each plot (LaTeX
subfigures) — get one panel per label, with the plot's axes and tick labels; a misread letter off the label grid
does not take a panel.

Figures are drawn by matplotlib (real axes, tick labels, axis labels); labels are read by the real OCR."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from matsearch.indexer.figures.layout import LabelCandidate, _first_word, _same_place, _unaligned_out
from matsearch.indexer.figures.panels import find_panels


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _grid(rows: int, cols: int, where: str) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """rows x cols line plots; the label "(a)", "(b)", ... opens the title above each plot (``where`` "title") or a
    sub-caption line under its x label (``where`` "under"). Returns the figure and each panel's true box (the axes'
    tight box with title, tick and axis labels), in label order (row-major)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(5)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.5 * rows), dpi=100, squeeze=False)
    x = np.linspace(0, 1, 200)
    modes = ("plain", "parametric", "overlay", "spin", "atomic", "stack")
    for k, ax in enumerate(axes.flat):
        for j in range(3):
            ax.plot(x, np.cos(2 * np.pi * x * (j + 1) + rng.uniform(0, 6)) + j, lw=1)
        ax.set_ylabel("E - E$_F$ (eV)")
        label = f"({chr(97 + k)})"
        if where == "title":
            ax.set_xlabel("k-path")
            ax.set_title(f"{label} mode={modes[k % len(modes)]}")
        else:
            ax.set_xlabel(f"Wavelength (nm)\n\n{label} {modes[k % len(modes)]} case")
    fig.tight_layout(h_pad=1.5, w_pad=1.5)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _, height = fig.canvas.get_width_height()
    boxes = []
    for ax in axes.flat:
        b = ax.get_tightbbox(renderer)
        boxes.append((int(b.x0), int(height - b.y1), int(np.ceil(b.x1)), int(np.ceil(height - b.y0))))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB"), boxes


def _check(found: list[tuple[str | None, tuple[int, int, int, int], float]], boxes: list, notes: list[str]) -> None:
    assert [f[0] for f in found] == [chr(97 + k) for k in range(len(boxes))], notes
    for (_, box, _), true in zip(found, boxes, strict=True):
        assert _iou(box, true) > 0.7, (found, boxes, notes)


def test_labels_opening_the_titles_above_the_plots_give_one_panel_per_plot() -> None:
    """2 x 3 plots titled "(a) mode=plain" ...: the label is the first word of a centred title, not at the top-left;
    each panel is its plot with its y axis label and tick labels (the cut runs in the gutter between the plots)."""
    fig, boxes = _grid(2, 3, "title")
    found, notes = find_panels(fig, list("abcdef"))
    _check(found, boxes, notes)


def test_labels_under_the_plots_end_their_panels() -> None:
    """2 x 2 plots with the sub-caption line "(a) plain case" under each x label: the labels are at the bottom of
    their panels, so the cut between the rows runs under the first row's labels, not above them."""
    fig, boxes = _grid(2, 2, "under")
    found, notes = find_panels(fig, list("abcd"))
    _check(found, boxes, notes)


def test_first_word_of_a_text_line() -> None:
    line = np.zeros((12, 120), dtype=bool)
    line[1:11, 0:3] = line[3:10, 5:10] = line[1:11, 12:14] = True  # "(a)": glyphs 2 px apart
    line[2:10, 22:120] = True  # the rest of the title, after a 8-px word space
    assert _first_word(line) == (0, 1, 14, 11)
    assert _first_word(np.ones((12, 120), dtype=bool)) is None  # no word space: not a label and words
    wide = np.zeros((12, 120), dtype=bool)
    wide[2:10, 0:70] = wide[2:10, 80:120] = True  # a long first word ("Wavelength") is no label
    assert _first_word(wide) is None


def _lab(key: str, x: int, y: int, h: int = 12) -> LabelCandidate:
    return LabelCandidate(f"({key})", key, (x, y, x + h, y + h), 0.99, "dark", h)


def test_labels_at_the_same_place_in_their_panels_on_both_sides_of_a_cut() -> None:
    # titles centred above two plots of 300 px: each label ~100 px from its side's left edge
    assert _same_place([_lab("a", 110, 5)], [_lab("b", 420, 5)], "x", (10, 0, 300, 250), (320, 0, 610, 250))
    # a cut through panel a's plot (its right half beside b) puts the labels at different places
    assert not _same_place([_lab("a", 110, 5)], [_lab("b", 420, 5)], "x", (10, 0, 200, 250), (200, 0, 610, 250))


def test_a_misread_off_the_label_grid_is_dropped_but_a_wide_panel_label_is_kept() -> None:
    grid = [_lab(k, 20 + 300 * (i % 3), 200 + 250 * (i // 3)) for i, k in enumerate("abcdfghi")]
    stray = _lab("e", 181, 64)  # an "e" read inside plot a, where the real (e) under its plot was missed
    kept = _unaligned_out([*grid, stray], [])
    assert stray not in kept and len(kept) == 8
    # one wide panel a above a row b, c, d: "a" lines up with no other label and stays
    row = [_lab("a", 46, 0), _lab("b", 1, 257), _lab("c", 241, 260), _lab("d", 471, 257)]
    assert _unaligned_out(row, []) == row
