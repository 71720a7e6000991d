"""Panel split, session 10: letters printed in a picture's interior (region markers, feature letters beside arrows,
element symbols on maps) are not panel labels (``layout._interior_out``), on the caption path and without one."""

from __future__ import annotations

import numpy as np

from matsearch.indexer.figures import layout
from matsearch.indexer.figures.layout import LabelCandidate, choose_labels


def _cand(key: str, x: int, y: int, h: int = 14, polarity: str = "light") -> LabelCandidate:
    return LabelCandidate(key, key, (x, y, x + 10, y + h), 0.95, polarity, h)


def _one_picture() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    blank = np.ones((200, 400), dtype=bool)
    blank[20:180, 20:380] = False  # one micrograph: no background inside
    return blank, [(20, 20, 380, 180)]


def test_caption_letter_in_a_picture_interior_is_no_label() -> None:
    blank, leaves = _one_picture()
    edge, marker = _cand("a", 24, 24), _cand("b", 190, 90)
    explain: list[str] = []
    assert [c.key for c in choose_labels([edge, marker], ["a", "b"], explain, leaves, blank)] == ["a"]
    assert any("inside a picture" in e for e in explain)
    was = layout.INTERIOR_OUT
    try:  # the session-9 choice took the marker as panel b
        layout.INTERIOR_OUT = False
        assert sorted(c.key for c in choose_labels([edge, marker], ["a", "b"], [], leaves, blank)) == ["a", "b"]
    finally:
        layout.INTERIOR_OUT = was


def test_markers_without_caption_give_no_sequence() -> None:
    blank, leaves = _one_picture()
    markers = [_cand("a", 150, 80), _cand("b", 240, 110)]
    assert choose_labels(markers, None, [], leaves, blank) == []


def test_interior_read_in_line_with_edge_labels_stays() -> None:
    """A no-gutter strip of 2 x 3 frames whose seams were missed is one block: the second row's labels lie in its
    interior but line up with the first row's, so they stay."""
    blank = np.zeros((400, 600), dtype=bool)
    leaves = [(0, 0, 600, 400)]
    cands = [
        _cand(k, x, y)
        for k, (x, y) in zip("abcdef", [(4, 4), (204, 4), (404, 4), (4, 204), (204, 204), (404, 204)], strict=True)
    ]
    picked = choose_labels(cands, list("abcdef"), [], leaves, blank)
    assert sorted(c.key for c in picked) == list("abcdef")


def test_plots_are_not_pictures() -> None:
    """A letter inside a plot (mostly background) is left to the other rules."""
    blank = np.ones((200, 400), dtype=bool)
    blank[20:180, 20:22] = False  # an axis
    blank[178:180, 20:380] = False
    blank[90:100, 100:300] = False  # a curve
    leaves = [(20, 20, 380, 180)]
    edge, inner = _cand("a", 24, 24, polarity="dark"), _cand("b", 190, 60, polarity="dark")
    assert not layout._interior(inner, leaves, blank)
    assert layout._interior(inner, leaves, np.zeros_like(blank))
    assert edge is not inner


def test_a_lone_caption_label_must_start_the_figure() -> None:
    """Of the caption's "(A) and (B)" one letter was read, at the top of the second picture: its region would be
    the whole figure, where it is off the corner, so it is no label; one at the figure's top-left stays."""
    from matsearch.indexer.figures.layout import Region, _alone_off_corner

    off = _cand("a", 266, 0)
    at = _cand("a", 4, 2)
    whole = (0, 0, 516, 216)
    assert _alone_off_corner([off], [Region(off, whole, whole)], ["a", "b"])
    assert not _alone_off_corner([at], [Region(at, whole, whole)], ["a", "b"])
    assert not _alone_off_corner([off], [Region(off, whole, whole)], ["a"])  # the caption names that label only
    assert not _alone_off_corner([off], [Region(off, whole, whole)], None)
