"""A figure's scales: which panel gets which caption value, on which of its bars (figure-level decisions).

Per panel, :func:`matsearch.indexer.figures.scalebar.find_scale_bars` proposes bars; this module decides:

1. **A caption value belongs to a panel only when that panel draws a bar.** The caption ties values to panels by
   label ("Scale bars, 5 μm (c), 500 nm (d)", scope ``label``), through the group it sits in ("(a–l) ... Scale bar,
   100 nm.", scope ``group``) or caption-wide (scope ``figure``). A panel without an accepted bar keeps the value
   as text (``scale.value``, source ``caption``) but gets no ``nm_per_px``: a frame of a time series does not
   inherit the one bar drawn in the last frame.
2. **Bars must look like bars** more firmly when the value was not written for the panel by name: scope ``group``
   or ``figure`` needs a bar score ≥ :data:`GROUP_MIN_SCORE` (scope ``label``: the finder's own 0.35).
3. **Several bars in one panel** (an overview and its insets, EDS-map insets): panels that share one caption value
   are drawn at one magnification more often than not, so the bar whose length agrees with the bars of the other
   panels sharing that value (within :data:`CONSISTENT`) is chosen; without such evidence the longest good bar is
   the panel's own (insets are smaller), and an inset value from the caption ("inset scale bar, 2 nm", "(right of
   panel, scale bar, 20 nm)") goes to the best remaining bar, reported under ``scale_bars`` only.
4. Panels without any caption value are read by OCR (the label printed by the bar, several passes, see
   :mod:`~matsearch.indexer.figures.scalelabel`). A panel of a type not searched as a micrograph that is not mostly
   white (``ScaleTask.strict``: a map in a software window, a micrograph typed as a pattern) is read only with strict
   rules: a bar on the picture whose own label reads well (:data:`PANEL_LIMITS`). A mostly blank plot panel is not
   searched as a whole, but the pictures drawn inside it (maps beside spectra) are (:func:`_read_picture_blocks`).
5. The type does not decide alone: a group or figure value reaching a panel whose type draws no bars is used on a
   clear bar on its picture when that bar is as long as its group's bars or its printed label reads the value
   (:func:`_clear_bars`).

Every reading carries ``source`` ("ocr", "caption"; "manual" is set through the API) and a ``confidence``.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from matsearch.indexer.figures.scalebar import (
    STRICT_MIN_SCORE,
    ScaleBar,
    ScaleReading,
    _text_near,
    find_scale_bars,
    on_picture,
    picture_blocks,
    read_scales,
)
from matsearch.indexer.figures.units import canonical_unit, normalize_text, ocr_fixups, parse_length, to_nm

__all__ = ["ScaleTask", "assign_scales", "context_box", "GROUP_MIN_SCORE", "CONSISTENT"]

GROUP_MIN_SCORE = 0.6  # bar score needed when the caption value came through a group or the whole figure
# picture blocks inside a plot panel: floors of the strict read on the bar score (the finder's own) and on the label's
# OCR score (as for a clear bar's label, scalebar.STRICT_MIN_CONFIDENCE); the margin around a block
BLOCK_LIMITS = (0.35, 0.6)
# a whole panel of a type not searched as a micrograph that is a picture or holds one (a micrograph typed as a
# pattern, a map in a software window): a bar scoring >= 0.5 on the picture whose own label reads well (OCR score
# >= 0.6). The label is the evidence, not the type: such bars often score below the clear-bar floor (1-2 px thin,
# antialiased, a data-bar strip)
PANEL_LIMITS = (0.5, 0.6)
BLOCK_MARGIN = 6
BLOCK_MAX_SHARE = 0.5  # pictures covering more of the panel than this make it a picture panel (not searched here)
CONSISTENT = 0.12  # relative length difference under which two bars of one value count as the same magnification


@dataclass
class ScaleTask:
    """One panel of a figure: its crop, whether to look for bars, and what the caption says about its scale."""

    crop: Image.Image
    wants: bool = True
    value: tuple[float, str] | None = None
    scope: str | None = None  # "label" | "group" | "figure" (how the caption tied the value to the panel)
    inset: tuple[float, str] | None = None
    bars: list[ScaleBar] = field(default_factory=list)
    # not searched as a micrograph, but holds a picture (a map in a software window, a micrograph beside a colour
    # bar): read by OCR with the strict rules of ``read_scales(strict=True)`` when the caption gives no value
    strict: bool = False
    # the figure around the panel's box (the box grown by a margin, :func:`context_box`) and the box's offset in it:
    # a bar that the box cuts at its side (a panel boundary drawn a few px inside the panel) is measured there
    context: Image.Image | None = None
    offset: tuple[int, int] = (0, 0)


def _key(value: tuple[float, str]) -> float | None:
    unit = canonical_unit(value[1])
    nm = to_nm(value[0], unit) if unit else None
    return round(nm, 9) if nm is not None else None


def _reading(bar: ScaleBar, value: tuple[float, str], crop: Image.Image, conf: float, note: str) -> ScaleReading:
    unit = canonical_unit(value[1]) or value[1]
    r = ScaleReading(bbox=list(bar.bbox), length_px=bar.length_px, bar_score=bar.score)
    r.value, r.unit, r.source = float(value[0]), unit, "caption"
    nm = to_nm(r.value, unit)
    r.reciprocal = nm is None
    if nm is not None and bar.length_px > 0:
        r.nm_per_px = nm / bar.length_px
        r.field_of_view_nm = [round(crop.width * r.nm_per_px, 4), round(crop.height * r.nm_per_px, 4)]
    elif r.reciprocal:
        r.notes.append("reciprocal-space bar: no real-space scale")
    r.confidence = round(conf, 3)
    r.notes.append(note)
    return r


def _read_picture_blocks(crop: Image.Image) -> list[ScaleReading]:
    """A mostly blank plot or drawing panel with pictures drawn inside it (maps beside spectra, an image inside plot
    axes): each picture block (:func:`~matsearch.indexer.figures.scalebar.picture_blocks`, with a margin so a bar at
    the picture's edge is not an edge line) is read with the strict rules, except that a thin bar is enough when its
    own label reads well as a length (:data:`BLOCK_LIMITS`: such pictures are small, their bars 1 px thin); bar and text
    boxes are returned in the panel's pixels."""
    readings: list[ScaleReading] = []
    blocks = picture_blocks(crop)
    if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in blocks) > BLOCK_MAX_SHARE * crop.width * crop.height:
        # the panel IS a picture of a kind that is not searched as a micrograph (a diffraction or EBSD pattern, a
        # picture typed "other"): read with the strict rules, as a plot-typed panel holding a picture is
        return read_scales(crop, None, use_ocr=True, strict=True, strict_limits=PANEL_LIMITS)
    for x0, y0, x1, y1 in blocks:
        x0, y0 = max(0, x0 - BLOCK_MARGIN), max(0, y0 - BLOCK_MARGIN)
        x1, y1 = min(crop.width, x1 + BLOCK_MARGIN), min(crop.height, y1 + BLOCK_MARGIN)
        block = crop.crop((x0, y0, x1, y1))
        for r in read_scales(block, None, use_ocr=True, strict=True, strict_limits=BLOCK_LIMITS):
            if r.bbox is not None:
                r.bbox = [r.bbox[0] + x0, r.bbox[1] + y0, r.bbox[2] + x0, r.bbox[3] + y0]
            if r.text_bbox is not None:
                r.text_bbox = [r.text_bbox[0] + x0, r.text_bbox[1] + y0, r.text_bbox[2] + x0, r.text_bbox[3] + y0]
            if r.field_of_view_nm is not None and r.nm_per_px is not None:
                r.field_of_view_nm = [round(crop.width * r.nm_per_px, 4), round(crop.height * r.nm_per_px, 4)]
            r.notes.append(f"read on a picture inside the panel at {[x0, y0, x1, y1]}")
            readings.append(r)
    readings.sort(key=lambda r: -r.confidence)
    return readings


# a schematic or plot panel drawn on white (not searched as a micrograph, no picture inside): a clear bar (score >=
# 0.85) whose printed label is a length read with OCR score >= 0.8 and nothing else on its line
DRAWING_LIMITS = (0.85, 0.8)


def _drawn_bar_candidates(rgb: np.ndarray) -> list[ScaleBar]:
    """The bars of a drawing worth an OCR pass (none: no OCR at all), best first, at most two: dark (a drawing's bar
    is drawn in black on white; a coloured one is a data bar or a legend's sample, a light one lies on a dark picture,
    which the picture readers handle), clear (score >= ``DRAWING_LIMITS[0]``), clear of the panel's left and right
    edges (tick marks of an axis drawn at the crop's edge, pieces of a frame) and not one of several lines of one
    length stacked at one x (a legend's line samples)."""
    W = rgb.shape[1]
    found = find_scale_bars(rgb, polarities=("dark",), relative=False)
    out = []
    for b in found:
        if b.score < DRAWING_LIMITS[0] or b.bbox[0] <= 1 or b.bbox[2] >= W - 1:
            continue
        stacked = any(
            o is not b
            and abs(o.bbox[0] - b.bbox[0]) <= 3
            and o.bbox[1] != b.bbox[1]
            and abs(o.length_px / max(1.0, b.length_px) - 1) <= 0.25
            for o in found
        )
        if not stacked:
            out.append(b)
    return out[:2]


def _read_drawn_bar(crop: Image.Image) -> list[ScaleReading]:
    """A scale bar drawn on a schematic (a specimen mount with a "1 mm" bar): the panel is neither a micrograph nor
    holds a picture, so only the bar's own label is evidence. Kept only when the label line reads as a length and
    nothing else (a plot legend's "— 5 nm film" is not a scale); bars are chosen before any OCR
    (:func:`_drawn_bar_candidates`)."""
    rgb = np.asarray(crop.convert("RGB"))
    bars = _drawn_bar_candidates(rgb)
    if not bars:
        return []  # no clear bar: no OCR
    readings = read_scales(
        crop, None, use_ocr=True, strict=True, strict_limits=DRAWING_LIMITS, picture=False, bars=bars
    )
    out = []
    for r in readings:
        norm = ocr_fixups(normalize_text(r.text or ""))
        length = parse_length(r.text or "", lenient=True)
        if length is None or re.sub(r"[\s.,;:]", "", norm.replace(length.text, "", 1)):
            continue  # more on the label's line than a length
        r.notes.append("a clear bar on a drawing, read by its own label")
        out.append(r)
    return out


def _clear_bars(crop: Image.Image, value: tuple[float, str], ref: float | None, use_ocr: bool) -> list[ScaleBar]:
    """Bars of a panel whose type draws none, for a caption value that reached it through its group or the whole
    caption (a micrograph typed wrongly): only clear bars (score >= :data:`~matsearch.indexer.figures.scalebar.
    STRICT_MIN_SCORE`) drawn on a picture (:func:`~matsearch.indexer.figures.scalebar.on_picture`), and only with
    evidence beyond the type: as long as the bars of the panels that share the value (``ref``, within
    :data:`CONSISTENT`: a sequence drawn at one magnification), or, with no such panel, a printed label beside the
    bar that reads the caption's value. A plot's legend line or a pattern's "5 1/nm" bar has neither."""
    rgb = np.asarray(crop.convert("RGB"))
    bars = [b for b in find_scale_bars(rgb) if b.score >= STRICT_MIN_SCORE and on_picture(rgb, b)]
    if not bars:
        return []
    if ref is not None:
        return [b for b in bars if abs(b.length_px / ref - 1) <= CONSISTENT]
    if not use_ocr:
        return []
    best = max(bars, key=lambda b: b.score)
    printed = _text_near(rgb, best)[0]
    want = _key(value)
    if printed is None or printed.nm is None or want is None or abs(printed.nm - want) > 0.01 * want:
        return []
    return [best]


PRINTED_BARS = 3  # bars of one panel whose printed labels are read when the panel draws several


def _bar_printing(crop: Image.Image, bars: list[ScaleBar], value: tuple[float, str]) -> ScaleBar | None:
    """The one bar among ``bars`` (the first :data:`PRINTED_BARS`) whose printed label reads ``value`` (within 1 %),
    or ``None`` when no bar or more than one does."""
    want = _key(value)
    if want is None:
        return None
    rgb = np.asarray(crop.convert("RGB"))
    hits = []
    for b in bars[:PRINTED_BARS]:
        length = _text_near(rgb, b)[0]
        if length is not None and length.nm is not None and abs(length.nm - want) <= 0.01 * want:
            hits.append(b)
    return hits[0] if len(hits) == 1 else None


CONTEXT_MARGIN = (0.1, 8, 48)  # a panel's context: its box grown by 10 % of its width on each side, 8..48 px
CUT_RUN = 12  # a bar cut by the box's side: a uniform run of this many px at the side edge at least
CUT_CONTRAST = 60.0  # ... that differs by this much (grey levels) from the rows above and below it


def context_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The panel's box grown left and right by :data:`CONTEXT_MARGIN` (half of it up and down; clipped to the figure
    of ``size``): where a bar that the box cuts at its side goes on."""
    x0, y0, x1, y1 = box
    share, lo, hi = CONTEXT_MARGIN
    m = int(min(hi, max(lo, share * (x1 - x0))))
    my = int(min(hi / 2, max(lo / 2, share / 2 * (y1 - y0))))  # a little up and down: a bar on the box's bottom row
    return max(0, x0 - m), max(0, y0 - my), min(size[0], x1 + m), min(size[1], y1 + my)


def _cut_bar_at_side(crop: Image.Image) -> list[str]:
    """The edges ("left", "right", "bottom", "top") where a bar may be cut: at a side, a stroke 2-20 rows thick,
    uniform over the :data:`CUT_RUN` px next to the edge, darker or lighter by :data:`CUT_CONTRAST` than the rows just
    above and below it; at the bottom or top, a run on the edge rows (below). Cheap (numpy on strips); it only decides
    whether the panel's context is searched."""
    g = np.asarray(crop.convert("L"), dtype=np.float32)
    h, w = g.shape
    if w < 3 * CUT_RUN or h < 8:
        return []
    sides = []
    for side, strip in (("left", g[:, :CUT_RUN]), ("right", g[:, w - CUT_RUN :])):
        flat = (strip.max(axis=1) - strip.min(axis=1)) < 25
        mean = strip.mean(axis=1)
        r = 0
        while r < h:
            if not flat[r]:
                r += 1
                continue
            r1 = r
            while r1 + 1 < h and flat[r1 + 1] and abs(mean[r1 + 1] - mean[r]) < 20:
                r1 += 1
            thick = r1 - r + 1
            if 2 <= thick <= 20 and r >= 2 and r1 + 2 < h:
                above, below = strip[r - 2].mean(), strip[r1 + 2].mean()
                level = mean[r : r1 + 1].mean()
                if abs(level - above) > CUT_CONTRAST and abs(level - below) > CUT_CONTRAST:
                    sides.append(side)
                    break
            r = r1 + 1
    # a bar on the box's bottom or top rows (read as a frame line there): a run of CUT_RUN+ columns within 3 rows of
    # the edge that differs from the rows 6 px further in, shorter than most of the width (a frame or gutter line)
    for side, rows, inward in (("bottom", range(h - 3, h), -6), ("top", range(0, 3), 6)):
        for y in rows:
            if not 0 <= y + inward < h:
                continue
            diff = np.abs(g[y] - g[y + inward]) > CUT_CONTRAST
            run = best = 0
            for v in diff:
                run = run + 1 if v else 0
                best = max(best, run)
            if 2 * CUT_RUN <= best < 0.9 * w:
                sides.append(side)
                break
    return sides


def _read_in_context(t: ScaleTask, use_ocr: bool) -> tuple[list[ScaleReading], bool]:
    """A panel whose box may cut a bar, read on its context (the box grown, :func:`context_box`): (readings in the
    panel's pixels, whether the chosen bar is the panel's). It is when its centre lies inside the box, it runs past
    the box's side or lies on its edge rows (the bar the box cut), and the context holds it whole; a bar centred
    outside the box is a neighbour's."""
    assert t.context is not None
    ox, oy = t.offset
    w, h = t.crop.size
    sub = ScaleTask(crop=t.context, wants=t.wants, value=t.value, scope=t.scope, inset=t.inset, strict=t.strict)
    readings = _assign_scales([sub], use_ocr=use_ocr)[0]
    if not readings or readings[0].nm_per_px is None or readings[0].bbox is None:
        return [], False
    x0, y0, x1, y1 = readings[0].bbox
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    edge = x0 < ox or x1 > ox + w or y0 < oy + 3 or y1 > oy + h - 3  # past the box's side or on its edge rows
    whole = x0 > 1 and x1 < t.context.width - 1  # the context does not cut it too
    own = ox <= cx < ox + w and oy <= cy < oy + h and edge and whole
    for r in readings:
        if r.bbox is not None:
            r.bbox = [r.bbox[0] - ox, r.bbox[1] - oy, r.bbox[2] - ox, r.bbox[3] - oy]
        if r.text_bbox is not None:
            r.text_bbox = [r.text_bbox[0] - ox, r.text_bbox[1] - oy, r.text_bbox[2] - ox, r.text_bbox[3] - oy]
        if r.nm_per_px is not None:
            r.field_of_view_nm = [round(w * r.nm_per_px, 4), round(h * r.nm_per_px, 4)]
        r.confidence = round(0.9 * r.confidence, 3)
    if own:
        readings[0].notes.append("the bar runs past the panel's box: measured on the figure around it")
    return readings, own


def _neighbours_bar(cut: list[int], other: list[int] | None, width: int) -> bool:
    """Whether the bar ``cut`` (touching the box's side, panel pixels) is a piece of ``other`` (the context's bar)
    centred outside the box: the same rows, ``other`` covering it."""
    if other is None:
        return False
    centre = (other[0] + other[2]) / 2
    rows = min(cut[3], other[3]) - max(cut[1], other[1]) >= 0
    covers = other[0] <= cut[0] + 2 and other[2] >= cut[2] - 2
    return rows and covers and not 0 <= centre < width


def assign_scales(tasks: list[ScaleTask], *, use_ocr: bool = True) -> list[list[ScaleReading]]:
    """Readings per panel (best first; empty when nothing is known) for the panels of ONE figure. A panel whose box
    cuts a bar (no nm/px and a bar-like run at the box's edge, or its reading's bar touching the box's side) is read
    again on its context (``ScaleTask.context``): that reading replaces the first when its bar is the panel's; a
    reading on a piece of a neighbour's bar (centred outside the box) loses its nm/px."""
    out = _assign_scales(tasks, use_ocr=use_ocr)
    for i, t in enumerate(tasks):
        if t.context is None:
            continue
        best = out[i][0] if out[i] else None
        touching = False
        if best is not None and best.nm_per_px is not None:
            # a reading on a bar that touches the box's side: the box cut the bar, its length is not the bar's
            if best.bbox is None or (best.bbox[0] > 1 and best.bbox[2] < t.crop.width - 1):
                continue
            touching = True
        elif not (t.wants or t.value is not None or t.strict or use_ocr) or not _cut_bar_at_side(t.crop):
            continue
        again, own = _read_in_context(t, use_ocr)
        if own:
            out[i] = again
        elif touching and best is not None and best.bbox is not None and again:
            if _neighbours_bar(best.bbox, again[0].bbox, t.crop.width):
                best.notes.append(
                    f"the bar ({best.length_px or 0:.0f} px) is a piece of a bar centred outside the panel's box: "
                    "no nm/px"
                )
                best.nm_per_px, best.field_of_view_nm, best.confidence = None, None, round(0.3 * best.confidence, 3)
    return out


def _assign_scales(tasks: list[ScaleTask], *, use_ocr: bool = True) -> list[list[ScaleReading]]:
    out: list[list[ScaleReading]] = [[] for _ in tasks]
    for t in tasks:
        if t.wants and t.value is not None:
            floor = 0.35 if t.scope == "label" else GROUP_MIN_SCORE
            t.bars = [b for b in find_scale_bars(t.crop) if b.score >= floor]
    # Consensus lengths per caption value: the bars of panels that have exactly one candidate; where some of them are
    # clear bars (score >= STRICT_MIN_SCORE), only those: a sketch's 9-px line or a plot's axis tick that is its
    # panel's only candidate must not outvote a micrograph's clear bar (a median of 9, 14 and 88 px is 14).
    anchors: dict[float, list[float]] = {}
    strong: dict[float, list[float]] = {}
    for t in tasks:
        k = _key(t.value) if t.value is not None else None
        clear = [b for b in t.bars if b.score >= 0.75 * max(x.score for x in t.bars)] if t.bars else []
        if k is not None and len(clear) == 1:
            anchors.setdefault(k, []).append(clear[0].length_px)
            if clear[0].score >= STRICT_MIN_SCORE:
                strong.setdefault(k, []).append(clear[0].length_px)
    anchors.update(strong)
    for t in tasks:
        if not t.wants and t.value is not None:
            # the caption gives the panel a value through its group or the whole figure, but its type is one that
            # draws no bars (a plot, a drawing, a pattern): a micrograph typed wrongly still draws a clear bar on its
            # picture, at the length of its group's bars or with the value printed beside it
            k = _key(t.value)
            ref = statistics.median(anchors[k]) if k is not None and anchors.get(k) else None
            t.bars = _clear_bars(t.crop, t.value, ref, use_ocr)
    for i, t in enumerate(tasks):
        if not t.wants and not (t.value is not None and t.bars):
            if t.strict and t.value is None and use_ocr:
                out[i] = read_scales(t.crop, None, use_ocr=True, strict=True, strict_limits=PANEL_LIMITS)
            elif t.value is None and use_ocr:
                out[i] = _read_picture_blocks(t.crop) or _read_drawn_bar(t.crop)
            continue
        if t.value is None:
            if use_ocr:
                out[i] = read_scales(t.crop, None, use_ocr=True)
            continue
        unit = canonical_unit(t.value[1])
        if not t.bars:
            r = ScaleReading(value=float(t.value[0]), unit=unit or t.value[1], source="caption")
            r.reciprocal = unit is not None and to_nm(t.value[0], unit) is None
            r.notes.append(f"the caption gives {t.value[0]:g} {t.value[1]} ({t.scope}) but the panel draws no bar")
            out[i] = [r]
            continue
        k = _key(t.value)
        ref = statistics.median(anchors[k]) if k is not None and anchors.get(k) else None
        # "good" bars: within 75 % of the best score (a faint 1-px line does not beat a clear bar by length)
        top = max(b.score for b in t.bars)
        bars = sorted((b for b in t.bars if b.score >= 0.75 * top), key=lambda b: -b.length_px)
        bars += sorted((b for b in t.bars if b.score < 0.75 * top), key=lambda b: -b.score)
        chosen, how = bars[0], "the longest good bar"
        # "(a) TEM image (scale bar, 50 nm; inset scale bar, 2 nm)": where the caption says the panel draws an inset's
        # bar too, that bar may be the longer one; the printed label beside a bar says which bar is the caption's
        # value (read only then: an OCR pass per bar costs ~0.1 CPU-s, and most panels with two bars have no inset)
        printed = _bar_printing(t.crop, bars, t.value) if len(bars) > 1 and use_ocr and t.inset is not None else None
        if printed is not None:
            chosen, how = printed, f"the bar labelled {t.value[0]:g} {t.value[1]}"
        elif len(bars) > 1 and ref is not None:
            near = min(bars, key=lambda b: abs(b.length_px / ref - 1))
            if abs(near.length_px / ref - 1) <= CONSISTENT:
                chosen, how = near, f"the bar as long as the other panels' {t.value[0]:g} {t.value[1]} bars"
        elif len(bars) == 1:
            how = "the panel's bar"
        consistent = ref is None or abs(chosen.length_px / ref - 1) <= CONSISTENT
        if (
            not consistent
            and t.scope != "label"
            and chosen.score < STRICT_MIN_SCORE
            and ref is not None
            and k is not None
            and k in strong
            and not (use_ocr and _bar_printing(t.crop, [chosen], t.value) is chosen)
        ):
            # a value the caption gives the whole figure or a group ("(a, b) sketch and STEM image ... Scale bar, 10
            # nm."), a clear bar of the same value elsewhere, and here only a weaker line of another length: the line is
            # a sketch's or a plot's (a dimension arrow, an axis tick), not this value's bar, unless its own printed
            # label reads the value
            r = ScaleReading(value=float(t.value[0]), unit=unit or t.value[1], source="caption")
            r.notes.append(
                f"the caption gives {t.value[0]:g} {t.value[1]} ({t.scope}); the panel's best line "
                f"({chosen.length_px:.0f} px, score {chosen.score:.2f}) is not as long as the value's clear bars "
                f"({ref:.0f} px) and reads no such label"
            )
            out[i] = [r]
            continue
        conf = 0.8 * min(1.0, chosen.score) * (1.0 if t.scope == "label" else 0.9) * (1.0 if consistent else 0.85)
        readings = [_reading(chosen, t.value, t.crop, conf, f"caption value ({t.scope}) on {how}")]
        rest = [b for b in bars if b is not chosen]
        if t.inset is not None and rest:
            ib = (_bar_printing(t.crop, rest, t.inset) if use_ocr and len(rest) > 1 else None) or max(
                rest, key=lambda b: b.score
            )
            readings.append(_reading(ib, t.inset, t.crop, 0.7 * min(1.0, ib.score), "caption value of an inset"))
            rest = [b for b in rest if b is not ib]
        for b in rest:
            readings.append(ScaleReading(bbox=list(b.bbox), length_px=b.length_px, bar_score=b.score))
        out[i] = readings
    return out
