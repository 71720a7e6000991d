"""Axes of small / shrunk graph crops (issue 12: every ingested XRD panel digitised).

A graph panel of a compound figure reaches the digitiser shrunk 2–3.5× (its figure cell): hairline axes split over
two pale pixel rows, grey tick marks, tick labels set against the axis, a data line crossing the axis at the corner,
a black flat baseline above a paler axis. These tests render such panels with the real plot generator, shrink them as
the compound-figure builder does, and read them with the real digitiser and OCR; each case failed before the
method it names was added.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from matsearch.indexer.plots import axes as A
from matsearch.indexer.plots.digitize import NoPlotFound, digitize_full
from training import figures_synth, plots_synth


def _shrunk(seed: int, kind: str | None, n_series: int | None, cell: tuple[int, int]) -> tuple[Image.Image, dict]:
    image, truth = plots_synth.render(seed, kind=kind, n_series=n_series)
    small = image.copy()
    small.thumbnail(cell)  # as bench.eval_spectra_ingest and a compound figure's cell shrink it
    return small, truth


@pytest.mark.parametrize(
    ("seed", "kind", "n_series", "cell", "what"),
    [
        (30013, "xrd", None, (420, 320), "hairline x axis split over two pale rows (205 over 185)"),
        (30103, "xrd", 1, (420, 320), "a data line crossing the y axis near the corner"),
        (30118, None, 1, (420, 320), "pale axes; a black baseline and a tall peak meet in a smaller corner"),
        (30016, "xrd", None, (420, 320), "tick labels set against the axis (label strokes are not outward ticks)"),
        (30140, None, None, (420, 320), "hairline major ticks: labels snapped to minor ticks beside them"),
        (30379, "xrd", None, (339, 325), "a flat black baseline just above a paler, lower x axis"),
        (30019, None, 1, (420, 320), "grey tick marks the dark mask does not show"),
    ],
)
def test_a_shrunk_plot_is_read_on_the_ingest_path(
    seed: int, kind: str | None, n_series: int | None, cell: tuple[int, int], what: str
) -> None:
    image, truth = _shrunk(seed, kind, n_series, cell)
    s = image.width / truth["size"][0]
    answer = digitize_full(image, "XRD pattern of the film", ingest=True)
    assert not answer["x_axis"]["relative"], what
    ticks = answer["x_axis"]["ticks"]
    px = np.array([t["px"] for t in ticks])
    val = np.array([t["value"] for t in ticks])
    a, b = np.polyfit(px, val, 1)
    box_w = answer["plot_box"][2] - answer["plot_box"][0]
    for t in truth["x_ticks"]:  # every labelled truth tick lands where the fit puts its value
        assert abs((t["value"] - b) / a - ((t["px"] + 0.5) * s - 0.5)) <= max(1.5, 0.012 * box_w), (what, t)
    tb = [(v + 0.5) * s - 0.5 for v in truth["plot_box"]]
    assert abs(answer["plot_box"][0] - tb[0]) <= 2 and abs(answer["plot_box"][3] - tb[3]) <= 2, what
    assert any(q["confidence"] >= 0.3 for q in answer["series"]), what


def test_faint_line_mask_marks_a_hairline_split_over_two_rows_and_nothing_chromatic() -> None:
    rgb = np.full((60, 80, 3), 255, dtype=np.uint8)
    rgb[30, 5:75] = 205  # a 0.4-px grey line drawn across two rows
    rgb[31, 5:75] = 185
    rgb[10, 5:75] = 235  # a single pale row: too little ink for a line
    rgb[45, 5:75] = (120, 160, 230)  # a light blue data line beside a pale copy of itself
    rgb[46, 5:75] = (170, 200, 240)
    bg = A.background_color(rgb)
    m = A.faint_line_mask(rgb, bg)
    assert m[30, 5:75].all() and m[31, 5:75].all()
    assert not m[10].any()
    assert not m[45].any() and not m[46].any()
    assert not A.dark_mask(rgb, 185.0)[30].any() and not A.dark_mask(rgb, 185.0)[31].any()  # why it is needed


def test_a_corner_gap_counts_only_when_other_ink_covers_it() -> None:
    dark = np.zeros((200, 300), dtype=bool)
    dark[180, 20:290] = True  # x axis
    dark[10:150, 20] = True  # y axis, broken 150..180 where a data line crosses it
    assert A._choose_axes(dark)[1] is None  # type: ignore[index]
    ink = dark.copy()
    assert A._choose_axes(dark, ink)[1] is None  # type: ignore[index]  # an uncovered gap is no corner
    ink[150:181, 19:23] = True  # the data line's ink over the gap
    chosen = A._choose_axes(dark, ink)
    assert chosen is not None and chosen[1] is not None and chosen[1].c == 20


def test_a_label_stroke_against_the_axis_is_not_an_outward_tick() -> None:
    dark = np.zeros((200, 120), dtype=bool)  # tick runs are looked for up to 5 % of the height: 10 px
    dark[30, 5:115] = True  # x axis
    for c in (20, 60, 100):  # isolated tick marks below the axis
        dark[31:35, c] = True
    # a "10" set against the axis at column 40: the 1 is a thin stroke, the 0 a ring 2-3 px beside it
    dark[31:38, 40] = True
    dark[31:38, 43] = True
    dark[31:38, 46] = True
    dark[31, 43:47] = True
    dark[37, 43:47] = True
    seg = A.Segment(30, 30, 5, 114)
    ticks, out_len, _in_len = A.find_ticks(dark, seg, True, 5, 114)
    assert [round(t) for t in ticks] == [20, 60, 100]
    assert out_len == 4


@pytest.mark.parametrize("shrink", [1.0, 0.4])
def test_a_micrograph_is_still_no_plot(shrink: float) -> None:
    rng = np.random.default_rng(7)
    image = figures_synth.particle_micrograph("sphere", rng, size=320)
    if shrink != 1.0:
        image = image.resize((int(image.width * shrink), int(image.height * shrink)))
    with pytest.raises(NoPlotFound):
        digitize_full(image, "", ingest=True)
