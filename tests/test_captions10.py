"""Session 10 (figtext): label ranges whatever their dash, and ranges whose dash was lost."""

from __future__ import annotations

import pytest

from matsearch.indexer.figures.captions import CaptionSplit, split_caption

BASE = (
    "Growth of the films. a Overview of the device. b{d}d SEM images of the film at low (b), medium (c) and high (d) "
    "magnification. e{d}g TEM images of the grains. h XRD pattern. Scale bars, 1 μm in b{d}d; 10 nm in e{d}g."
)


def _segment(s: CaptionSplit, label: str) -> str:
    seg = s.segment(label)
    assert seg is not None, (label, s.explain)
    return seg


@pytest.mark.parametrize("dash", ["–", "-", "‐", "‑", "‒", "—", "−", " to "])
def test_range_labels_with_every_dash(dash: str) -> None:
    s = split_caption(BASE.format(d=dash))
    assert s.labels == list("abcdefgh"), s.explain
    assert "TEM images of the grains" in _segment(s, "f")
    assert s.scale_for("c") == (1.0, "μm") and s.scale_for("g") == (10.0, "nm")


def test_range_whose_dash_was_lost() -> None:
    """Journal pages' plain text drops the dash of bold ranges ("bd SEM images", "in eg;"): the gap in the caption's
    letters that the pair closes is read as the range."""
    s = split_caption(BASE.format(d=""))
    assert s.labels == list("abcdefgh"), s.explain
    assert "TEM images of the grains" in _segment(s, "f") and "XRD" in _segment(s, "h")
    assert s.scale_for("c") == (1.0, "μm") and s.scale_for("g") == (10.0, "nm")
    # a parenthesised glued range between labels
    p = split_caption("(a) Schematic. (bd) SEM images at 1, 2 and 5 kV. (e) EDS map.")
    assert p.labels == list("abcde"), p.explain


def test_words_are_not_glued_ranges() -> None:
    """Two-letter words in a marker's place are not ranges when the caption's letters leave no gap for them."""
    s = split_caption("(a) TEM image of an annealed film. (b) SEM image; in an inset, the FFT. (c) XRD.")
    assert s.labels == ["a", "b", "c"]
    t = split_caption("a TEM image. b SEM image. (at) room temperature, in ab initio terms.")
    assert t.labels == ["a", "b"]
