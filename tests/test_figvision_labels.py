"""Panel split, session 6: label acceptance as a consistent set, and gutters that a plot's axis line crosses.

- Labels run in reading order: a letter above-left of an earlier one (a rotated axis title read as "b" above the
  real "a", a tick read as "I" between two rows of labels) is dropped.
- A digit the recogniser confuses with a letter ("6" for "b") stands for it only when it is alone, not one of a
  run of same-height blobs (tick labels).
- A letter past the caption's last label ("i" after "(a-h)") is not added.
- An almost blank column that a plot's axis line crosses is no gutter: the gap between two boxes of a box plot or
  two bars of a wide bar chart under a row of two plots does not cut that plot.

Figures are drawn by matplotlib (real axes, tick labels); labels are read by the real OCR."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from matsearch.indexer.figures.layout import (
    LabelCandidate,
    _crossed,
    _missing_from_caption,
    _reading_order,
    choose_labels,
)
from matsearch.indexer.figures.panels import find_panels


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _lab(key: str, x: int, y: int, h: int = 12, mates: int = 0, text: str | None = None) -> LabelCandidate:
    return LabelCandidate(text or f"({key})", key, (x, y, x + h, y + h), 0.99, "dark", h, mates=mates)


def test_labels_out_of_reading_order_are_dropped() -> None:
    grid = [_lab(k, 20 + 300 * (i % 3), 10 + 250 * (i // 3)) for i, k in enumerate("abcdefgh")]
    stray = _lab("i", 22, 380)  # read between rows 2 and 3, left of "g": it would come after "h"
    kept = _reading_order([*grid, stray], [])
    assert stray not in kept and kept == grid
    # a "b" of a rotated axis title above the real "a" and hardly left of it: one of the two goes
    assert len(_reading_order([_lab("a", 53, 228), _lab("b", 42, 177)], [])) == 1
    # column-major and nested layouts keep every label
    cols = [_lab("a", 10, 10), _lab("b", 10, 300), _lab("c", 400, 10), _lab("d", 400, 300)]
    assert _reading_order(cols, []) == cols
    nested = [_lab("a", 10, 10), _lab("b", 400, 10), _lab("c", 400, 200), _lab("d", 10, 500), _lab("e", 400, 480)]
    assert _reading_order(nested, []) == nested
    # labels of different families (letters and roman sub-labels) are not compared with each other
    mixed = [_lab("a", 300, 10), _lab("b", 300, 300), _lab("ii", 10, 20), _lab("iii", 10, 200)]
    assert _reading_order(mixed, []) == mixed


def test_a_tick_digit_does_not_stand_for_a_caption_letter() -> None:
    a = _lab("a", 10, 10)
    tick = LabelCandidate("6", "6", (420, 300, 428, 312), 0.99, "dark", 12, mates=3)  # an x tick among others
    lone = LabelCandidate("6", "6", (420, 12, 430, 24), 0.99, "dark", 12)  # a lone glyph at b's corner
    assert [c.key for c in choose_labels([a, tick], ["a", "b"], [])] == ["a"]
    assert sorted(c.key for c in choose_labels([a, lone], ["a", "b"], [])) == ["a", "b"]


def test_no_letter_past_the_captions_last_label() -> None:
    picked = [_lab(k, 20 + 200 * i, 10) for i, k in enumerate("abcdefgh")]
    after = _lab("i", 1620, 10)  # a letter read in line with the labels, after the caption's "(a-h)"
    assert _missing_from_caption([after], picked, [], list("abcdefgh")) == []
    # a label inside the caption's range that its parse missed is still taken: "e" between "d" and "f"
    gap = [c for c in picked if c.key != "e"]
    inside = _lab("e", 820, 10)
    assert _missing_from_caption([inside], gap, [], list("abcdfgh")) == [inside]


def test_crossed_gutter() -> None:
    blank = np.ones((50, 60), dtype=bool)
    blank[:, 0:20] = blank[:, 40:60] = False  # two boxes with a 20-px gap
    assert not _crossed(blank, 20, 40, "x")
    blank[45, :] = False  # an axis line under both
    assert _crossed(blank, 20, 40, "x")
    blank[45, :] = True
    blank[10, 25:30] = False  # a speck inside the gap does not cross it
    assert not _crossed(blank, 20, 40, "x")


def _png(fig: object) -> Image.Image:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _boxes(fig: object, axes: Sequence[object]) -> list[tuple[int, int, int, int]]:
    fig.canvas.draw()  # type: ignore[attr-defined]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _, height = fig.canvas.get_width_height()  # type: ignore[attr-defined]
    out = []
    for ax in axes:
        b = ax.get_tightbbox(renderer)  # type: ignore[attr-defined]
        out.append((int(b.x0), int(height - b.y1), int(np.ceil(b.x1)), int(np.ceil(height - b.y0))))
    return out


def test_a_box_plots_axis_line_is_not_a_gutter_between_columns() -> None:
    """Rows of 3, 2 and 3 plots (labels bold at each plot's top-left): the wide gutter between the top row's second
    and third plots runs on, almost blank, through the middle row's box plot, crossed only by its x axis line. Cut
    there, "d" and "e" each took two rows' plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(9, 8), dpi=100)
    gs = fig.add_gridspec(3, 6)
    spans = [(0, 0, 2), (0, 2, 4), (0, 4, 6), (1, 0, 3), (1, 3, 6), (2, 0, 2), (2, 2, 4), (2, 4, 6)]
    axes = [fig.add_subplot(gs[r, a:b]) for r, a, b in spans]
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 50)
    for k, ax in enumerate(axes):
        ax.spines[["top", "right"]].set_visible(False)
        if k == 4:
            ax.boxplot([rng.normal(size=40) for _ in range(3)], positions=[1, 3.5, 4.2], widths=0.3)
            ax.set_xlim(0.5, 4.5)
        else:
            ax.plot(x, np.sin(x + k))
        ax.text(-0.12, 1.06, "ABCDEFGH"[k], transform=ax.transAxes, fontsize=13, fontweight="bold", va="bottom")
    fig.tight_layout(h_pad=0.8, w_pad=4)
    truth = _boxes(fig, axes)
    img = _png(fig)
    found, _ = find_panels(img)
    got = {lab: box for lab, box, _ in found}
    for key, true in zip("de", truth[3:5], strict=True):
        assert key in got and _iou(got[key], true) >= 0.5, (key, got.get(key), true)
    assert all(b[3] - b[1] < 0.45 * img.height for b in got.values())  # no panel over two rows


def test_a_wide_bar_charts_axis_line_is_not_a_gutter() -> None:
    """Two plots (A, B) over one wide bar chart (C, its label in line with A's): the column between the bars under
    the A|B gutter is blank but for the chart's x axis; cut there, "b" took half of the bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 6), dpi=100)
    gs = fig.add_gridspec(2, 2)
    axes = [fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[1, :])]
    x = np.linspace(0, 10, 50)
    for k, ax in enumerate(axes):
        ax.spines[["top", "right"]].set_visible(False)
        if k == 2:
            ax.bar([0, 1, 2, 3], [3, 5, 4, 4.8], width=0.6)
            ax.set_xticks([0, 1, 2, 3], ["WT", "KO", "R1", "R2"])
        else:
            ax.plot(x, np.sin(x + k))
    fig.tight_layout(h_pad=2.5, w_pad=2, rect=(0, 0, 1, 0.95))
    xa = axes[0].get_position().x0 - 0.06
    for k, ax in enumerate(axes):
        pos = ax.get_position()
        fig.text(xa if k != 1 else pos.x0 - 0.06, pos.y1 + 0.015, "ABC"[k], fontsize=13, fontweight="bold")
    truth = _boxes(fig, axes)
    img = _png(fig)
    found, _ = find_panels(img)
    got = {lab: box for lab, box, _ in found}
    assert sorted(str(k) for k in got) == ["a", "b", "c"]
    assert _iou(got["b"], truth[1]) >= 0.5 and _iou(got["c"], truth[2]) >= 0.5


def test_the_label_of_a_wide_panel_over_the_others_is_kept() -> None:
    from matsearch.indexer.figures.layout import _unaligned_out

    # a wide plot "a" over the rows b, c and d, e: "a" lines up with no other label but heads the sequence
    labels = [_lab("a", 6, 18), _lab("b", 46, 278), _lab("c", 644, 282), _lab("d", 65, 542), _lab("e", 490, 546)]
    assert _unaligned_out(labels, []) == labels
    # a stray "c" read inside plot a (the real "c" missed) is no first or last letter: it goes
    grid = [_lab("a", 6, 18), _lab("b", 320, 18), _lab("d", 6, 300), _lab("e", 320, 300), _lab("f", 620, 300)]
    stray = _lab("c", 181, 120)
    assert stray not in _unaligned_out([*grid, stray], [])
