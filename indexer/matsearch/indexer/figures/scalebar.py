"""Scale bars: find the bar(s) in a panel, read their value (OCR of the printed label, or the caption), get nm/px.

Finding bars (:func:`find_scale_bars`) is classical image analysis, no learning:

1. Candidate masks: light pixels, dark pixels and saturated-colour pixels (two thresholds each, so a bar that
   touches a slightly darker/brighter neighbour still separates at the stricter one).
2. A horizontal morphological opening keeps runs longer than a few pixels (text strokes and end ticks vanish).
3. Connected components that are **filled, thin, horizontal rectangles** with clean edges (the rows just above and
   below are not bar-coloured) and contrast against their surroundings are bars; each gets a score in 0..1 from
   fill, edge cleanliness, contrast, aspect and position.
4. The length is measured **sub-pixel**: the bar's rows are averaged and every pixel's colour is projected on the
   background→bar colour axis, so anti-aliased or blurred ends count fractionally.

Reading (:func:`read_scale` / :func:`read_scales`): OCR (rapidocr, offline) reads the text around each bar and
:func:`matsearch.indexer.figures.units.parse_length` turns it into value + unit; failing that, the caption's value
for the panel (passed by the caller) is used. ``nm_per_px = value_in_nm / length_px``. Reciprocal labels (``5
1/nm`` on diffraction patterns/FFTs) are reported but give no real-space scale. Anything unknown stays ``None``,
with ``confidence`` 0: a guess is never presented as a measurement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.indexer.figures.ocr import OcrLine
from matsearch.indexer.figures.units import Length, canonical_unit, parse_length, to_nm

# longest bar as a share of the crop's width: a panel box drawn tight around its image can hold a bar across 86 % of
# it (a "500 µm" bar of 397 px in a 459-px optical image); longer lines are frames and axes
MAX_BAR_SHARE = 0.9
LABEL_CROP_SIDE = 64  # images at most this high (and wider than high) without a bar are read as a label crop

__all__ = [
    "picture_blocks",
    "ScaleBar",
    "ScaleReading",
    "find_scale_bars",
    "read_scale",
    "read_scales",
    "measure_length",
]


@dataclass
class ScaleBar:
    """A bar found in an image: integer ``bbox`` [x0, y0, x1, y1) and the sub-pixel ``length_px``."""

    bbox: tuple[int, int, int, int]
    length_px: float
    thickness_px: float
    polarity: str  # "light" | "dark" | "colour"
    score: float
    colour: tuple[int, int, int] = (0, 0, 0)
    gap: tuple[int, int] | None = None  # [x0, x1) of the label between the two halves of a split bar


@dataclass
class ScaleReading:
    """What is known about one panel's scale. Unknown fields are ``None``; ``confidence`` is in 0..1.

    ``source`` is "ocr" (label printed in the image), "caption" (the caption's scale sentence for the panel) or
    ``None``; ``field_of_view_nm`` is [width, height] of the image in nm.
    """

    bbox: list[int] | None = None
    length_px: float | None = None
    value: float | None = None
    unit: str | None = None
    nm_per_px: float | None = None
    field_of_view_nm: list[float] | None = None
    text: str | None = None
    text_bbox: list[int] | None = None
    source: str | None = None
    confidence: float = 0.0
    bar_score: float = 0.0
    reciprocal: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------------
# Finding bars


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        return np.stack([arr] * 3, axis=-1).astype(np.uint8)
    return arr[:, :, :3].astype(np.uint8)


def _masks(rgb: np.ndarray, polarities: tuple[str, ...] | None = None) -> list[tuple[str, np.ndarray]]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out: list[tuple[str, np.ndarray]] = []
    if polarities is not None and "light" not in polarities and "colour" not in polarities:
        return [("dark", (gray <= t).astype(np.uint8)) for t in (12, 30, 60)] if "dark" in polarities else []
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat, val = hsv[:, :, 1], hsv[:, :, 2]
    for t in (245, 225, 195):
        out.append(("light", ((gray >= t) & (sat < 90)).astype(np.uint8)))
    for t in (12, 30, 60):
        out.append(("dark", (gray <= t).astype(np.uint8)))
    colourful = (sat >= 110) & (val >= 90)
    if colourful.any():
        # Split saturated pixels by hue so a red bar next to a yellow label stays separate.
        hue = hsv[:, :, 0].astype(np.int32)
        # Overlapping hue bands (OpenCV hue is 0..180): red, orange/yellow, green, cyan/blue, magenta.
        for lo, hi in ((170, 200), (8, 40), (30, 90), (80, 135), (125, 175)):
            m = colourful & (((hue >= lo) & (hue < hi)) | ((hue + 180 >= lo) & (hue + 180 < hi)))
            if m.sum() >= 8:
                out.append(("colour", m.astype(np.uint8)))
    return out


def _relative_masks(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Masks relative to the neighbourhood (fallback): thin bars softened by resampling are no longer black/white."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sat = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[:, :, 1]
    local = cv2.blur(gray, (31, 31)).astype(np.int16)
    g16 = gray.astype(np.int16)
    out: list[tuple[str, np.ndarray]] = []
    out.append(("dark", ((g16 <= local - 70) & (gray < 140)).astype(np.uint8)))
    out.append(("light", ((g16 >= local + 70) & (gray > 140) & (sat < 90)).astype(np.uint8)))
    return out


def measure_length(rgb: np.ndarray, bbox: tuple[int, int, int, int], bg: np.ndarray, fg: np.ndarray) -> float:
    """Sub-pixel length of a horizontal bar from the coverage of its two ends.

    The bar's rows (without the outermost ones when it is thick enough) are averaged. Columns well inside count 1;
    in a 3-pixel window around each end, each column's colour is projected on the axis from the local background
    (just beyond that end; the ring median when that looks like bar) to the bar colour, and the clipped coverage
    is added. Anti-aliased, blurred or JPEG-softened ends thus count fractionally.
    """
    x0, y0, x1, y1 = bbox
    h, w = rgb.shape[:2]
    if x1 - x0 < 10:
        return float(x1 - x0)
    ya, yb = (y0 + 1, y1 - 1) if y1 - y0 >= 4 else (y0, y1)
    rows = rgb[ya:yb].astype(np.float64).mean(axis=0)  # (w, 3)
    fgf, bgf = fg.astype(np.float64), bg.astype(np.float64)
    k = 3
    # A strict threshold can stop short of the true ends (JPEG noise): walk out while the bar colour dominates.
    axis_g = fgf - bgf
    d_g = float(axis_g @ axis_g)
    if d_g > 0:
        cov_g = ((rows - bgf) @ axis_g) / d_g
        for _ in range(6):
            if x0 - 1 >= 0 and cov_g[x0 - 1] >= 0.8:
                x0 -= 1
            if x1 < w and cov_g[x1] >= 0.8:
                x1 += 1

    def end_cov(cols: range, outside: range) -> float:
        local = [c for c in outside if 0 <= c < w]
        ref = bgf
        if local:
            cand = rows[local].mean(axis=0)
            axis0 = fgf - bgf
            d0 = float(axis0 @ axis0)
            if d0 > 0 and float((cand - bgf) @ axis0) / d0 < 0.8:
                ref = cand
        axis = fgf - ref
        denom = float(axis @ axis)
        if denom < 25.0**2:
            return float(sum(1 for c in cols if x0 <= c < x1))
        total = 0.0
        for c in cols:
            if 0 <= c < w:
                total += float(np.clip(((rows[c] - ref) @ axis) / denom, 0.0, 1.0))
        return total

    left = end_cov(range(x0 - k, x0 + k), range(x0 - k - 4, x0 - k))
    right = end_cov(range(x1 - k, x1 + k), range(x1 + k, x1 + k + 4))
    return float((x1 - k) - (x0 + k) + left + right)


def find_scale_bars(
    image: Image.Image | np.ndarray,
    *,
    max_bars: int = 5,
    min_score: float = 0.35,
    polarities: tuple[str, ...] | None = None,
    relative: bool = True,
) -> list[ScaleBar]:
    """Scale-bar candidates in a panel image, best first (possibly empty).

    A bar is a filled horizontal rectangle (aspect ≥ 3, at least 8 px and at most 90 % of the width,
    :data:`MAX_BAR_SHARE`, at most 8 % of the height thick) whose colour contrasts with its surroundings and whose top
    and bottom edges are clean. ``polarities`` ("light", "dark", "colour"): look only for bars of these (fewer masks,
    a fraction of the time on a large panel). ``relative=False``: no second pass with masks relative to the local
    background when no candidate scores 0.6 (that pass finds bars on uneven pictures; a drawing on white needs none).
    """
    rgb = _rgb(image)
    H, W = rgb.shape[:2]
    if H < 16 or W < 24:
        return []
    min_len = max(8, int(round(0.025 * W)))
    k = max(5, min(min_len, 15))
    # an odd width: OpenCV's opening with an even kernel shifts what it keeps by one pixel (the anchor is off centre),
    # so a bar's box started one column late and took one background column in (lower fill, higher inside spread)
    kernel = np.ones((1, k + 1 - k % 2), np.uint8)

    def plausible(found: list[ScaleBar]) -> list[ScaleBar]:
        # A line along the crop's top or bottom edge is a frame or gutter border of the panel, not a bar; pieces
        # repeated along a row are a texture
        return _drop_repeated([c for c in found if c.bbox[1] > 1 and c.bbox[3] < H - 1])

    def masks(found: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        return [m for m in found if polarities is None or m[0] in polarities]

    cands = plausible(_candidates(rgb, masks(_masks(rgb, polarities)), min_len, kernel, min_score))
    # (judged after the texture is gone: a grid's gaps score well). A good piece shorter than twice the shortest bar
    # does not show that the panel's bar was found: a thin grey bar inside a label box over a dark grid is below the
    # global dark thresholds but for a short stretch, and only the background-relative masks see it whole.
    if relative and not any(c.score >= 0.6 and c.length_px >= 2 * min_len for c in cands):
        cands = plausible(cands + _candidates(rgb, masks(_relative_masks(rgb)), min_len, kernel, min_score))
    cands = _join_split_bars(rgb, cands)
    # A strip of a backing box next to a bar (wider than the bar, touching it) is not a bar.
    # (only against a bar that looks at least as good: a dark stripe under a white bar does not remove the bar)
    # A short strip alongside a much longer, thinner line of the other colour is the inside of a label box under its
    # bar (before the backing-box test, which would take the line for the box of that strip).
    cands = [c for c in cands if not any(_beside_longer_line(c, o) for o in cands if o is not c)]
    # The light inside of a label box above or below the box's thin dark bar (the box's interior rows holding the
    # text between them) is the box, not a bar.
    cands = [c for c in cands if not any(_box_inside_over_line(rgb, c, o) for o in cands if o is not c)]
    cands = [c for c in cands if not any(_box_strip(c, o) and o.score >= c.score for o in cands if o is not c)]
    # Part of a longer bar found at a stricter threshold is the same bar.
    cands = [c for c in cands if not any(_part_of(c, o) for o in cands if o is not c)]
    # De-duplicate the same bar found at two thresholds (keep the better score).
    cands.sort(key=lambda b: -b.score)
    kept: list[ScaleBar] = []
    for c in cands:
        if any(_iou(c.bbox, k.bbox) > 0.5 or _overlap_min(c.bbox, k.bbox) > 0.8 for k in kept):
            continue
        kept.append(c)
    return kept[:max_bars]


def _part_of(c: ScaleBar, o: ScaleBar) -> bool:
    """True when ``c`` lies within ``o`` (1-px tolerance) and is clearly shorter."""
    a, b = c.bbox, o.bbox
    inside = a[0] >= b[0] - 1 and a[2] <= b[2] + 1 and a[1] >= b[1] - 1 and a[3] <= b[3] + 1
    return inside and (a[2] - a[0]) < 0.9 * (b[2] - b[0])


def _candidates(
    rgb: np.ndarray, masks: list[tuple[str, np.ndarray]], min_len: int, kernel: np.ndarray, min_score: float
) -> list[ScaleBar]:
    H, W = rgb.shape[:2]
    cands: list[ScaleBar] = []
    for polarity, mask in masks:
        opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        if cv2.countNonZero(opened) == 0:
            continue
        # Label only the box around the runs that survived the opening (most of a mask is gone after it): the same
        # components, in a fraction of the pixels; coordinates are shifted back below.
        ox, oy, ow, oh = cv2.boundingRect(opened)
        n, sub_labels, stats, _ = cv2.connectedComponentsWithStats(opened[oy : oy + oh, ox : ox + ow], connectivity=4)
        stats[:, 0] += ox
        stats[:, 1] += oy
        labels = np.zeros((H, W), dtype=sub_labels.dtype)
        labels[oy : oy + oh, ox : ox + ow] = sub_labels
        raw_labels: np.ndarray | None = None
        raw_stats: np.ndarray | None = None
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if w < min_len or w > MAX_BAR_SHARE * W or h < 1 or h > max(3, 0.08 * H) or w < 3 * h:
                continue
            comp = labels[y : y + h, x : x + w] == i
            # Trim rows that are only partly covered (ticks, glyphs touching the bar).
            rows = comp.sum(axis=1)
            full = np.nonzero(rows >= 0.85 * rows.max())[0]
            if full.size == 0:
                continue
            ty0, ty1 = y + int(full[0]), y + int(full[-1]) + 1
            cols = comp[full[0] : full[-1] + 1].sum(axis=0)
            fullc = np.nonzero(cols >= 0.6 * (ty1 - ty0))[0]
            if fullc.size == 0:
                continue
            tx0, tx1 = x + int(fullc[0]), x + int(fullc[-1]) + 1
            bw, bh = tx1 - tx0, ty1 - ty0
            if bw < min_len or bw < 3 * bh:
                continue
            core = labels[ty0:ty1, tx0:tx1] == i
            fill = float(core.mean())
            if fill < 0.9:
                continue
            # Edge cleanliness: the rows just outside the component are not bar-coloured (in the unopened mask).
            above = mask[y - 1, tx0:tx1].mean() if y >= 1 else 0.0
            below = mask[y + h, tx0:tx1].mean() if y + h < H else 0.0
            edge_clean = 1.0 - float(max(above, below))
            if edge_clean < 0.6:
                continue
            # In the unopened mask a glyph stroke (the foot of a "2", the bar of a "T") belongs to a larger shape;
            # a scale bar is (almost) all of its component (end ticks add a little).
            if raw_labels is None or raw_stats is None:
                _, raw_labels, raw_stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            core_ids = raw_labels[ty0:ty1, tx0:tx1]
            rid = int(np.bincount(core_ids.ravel()).argmax())
            core_area = (tx1 - tx0) * (ty1 - ty0)
            ticks = False
            if rid > 0 and int(raw_stats[rid, cv2.CC_STAT_AREA]) > core_area + 4:
                off_ends, ticks = _off_ends(raw_labels, raw_stats, rid, (tx0, ty0, tx1, ty1))
                # strokes at both ends (ticks, arrowheads) are the bar's; anything else large is a glyph's shape
                extra = off_ends if ticks else int(raw_stats[rid, cv2.CC_STAT_AREA]) - core_area
                if extra > 0.5 * core_area + 8 and not _glyph_resting_on(
                    raw_labels, raw_stats, rid, (tx0, ty0, tx1, ty1)
                ):
                    continue
            fg = np.median(rgb[ty0:ty1, tx0:tx1].reshape(-1, 3), axis=0)
            m = max(2, bh)
            ra0, ra1 = max(0, ty0 - m), min(H, ty1 + m)
            rb0, rb1 = max(0, tx0 - m), min(W, tx1 + m)
            ring = np.ones((ra1 - ra0, rb1 - rb0), bool)
            ring[ty0 - ra0 : ty1 - ra0, tx0 - rb0 : tx1 - rb0] = False
            ring_px = rgb[ra0:ra1, rb0:rb1][ring]
            if ring_px.size == 0:
                continue
            bg = np.median(ring_px, axis=0)
            contrast = float(np.linalg.norm(fg.astype(float) - bg.astype(float))) / 255.0
            if contrast < 0.2:
                continue
            # Bars are uniform inside.
            inside_std = float(rgb[ty0:ty1, tx0:tx1].reshape(-1, 3).astype(float).std(axis=0).mean()) / 255.0
            # (a 1-px line is penalised as thin below, not again for its aspect: a 140-px bar 1 px thin is 140:1)
            aspect = bw / max(2, bh)
            s_aspect = 1.0 if 4 <= aspect <= 80 else 0.6
            # A thin line is a weak bar unless it ends in ticks at both ends ("|—|", a common bar style).
            s_thick = (0.55 if not ticks else 1.0) if bh < 2 else (1.0 if bh <= 0.05 * H + 2 else 0.75)
            s_len = 1.0 if bw <= 0.6 * W else 0.7
            cy = (ty0 + ty1) / 2 / H
            s_pos = 1.0 if (cy > 0.6 or cy < 0.15) else 0.85
            score = (
                fill
                * edge_clean
                * min(1.0, contrast / 0.5)
                * max(0.0, 1.0 - 2 * inside_std)
                * s_aspect
                * s_thick
                * s_len
                * s_pos
            )
            if score < min_score:
                continue
            length = measure_length(rgb, (tx0, ty0, tx1, ty1), bg, fg)
            cands.append(
                ScaleBar(
                    bbox=(tx0, ty0, tx1, ty1),
                    length_px=round(length, 2),
                    thickness_px=float(bh),
                    polarity=polarity,
                    score=round(float(score), 3),
                    colour=(int(fg[0]), int(fg[1]), int(fg[2])),
                )
            )
    return cands


REPEAT_MIN = 3  # collinear pieces of one length and colour that make a texture (a grid's gaps), not a bar


def _drop_repeated(cands: list[ScaleBar]) -> list[ScaleBar]:
    """Pieces repeated along one row are a texture, not a bar: the gaps between a TEM grid's bars, the light strips
    between the squares of a mesh, a dashed line. A candidate with at least :data:`REPEAT_MIN` - 1 others of its
    polarity on the same rows, of its length (within 25 %), apart from it and from each other and each less than
    its length from the next, is dropped. A scale bar is drawn once per row; a bar drawn in two halves around its
    label is two pieces (kept)."""

    def same_row(a: ScaleBar, b: ScaleBar) -> bool:
        return a.polarity == b.polarity and min(a.bbox[3], b.bbox[3]) > max(a.bbox[1], b.bbox[1])

    def similar(a: ScaleBar, b: ScaleBar) -> bool:
        return max(a.length_px, b.length_px) <= 1.25 * min(a.length_px, b.length_px)

    def apart(a: ScaleBar, b: ScaleBar) -> bool:
        return a.bbox[2] + 1 < b.bbox[0] or b.bbox[2] + 1 < a.bbox[0]

    def near(a: ScaleBar, b: ScaleBar) -> bool:  # a texture's period: gaps shorter than the pieces
        gap = max(a.bbox[0], b.bbox[0]) - min(a.bbox[2], b.bbox[2])
        return gap < min(a.length_px, b.length_px)

    drop: set[int] = set()
    for i, c in enumerate(cands):
        row = [o for o in cands if o is not c and same_row(c, o) and similar(c, o) and apart(c, o)]
        # the run of pieces through ``c``, each within a texture's period of the last (bars drawn in the frames of an
        # image strip, one per frame, stand a frame apart: far more than their length)
        run = [c]
        for o in sorted(row, key=lambda b: b.bbox[0]):
            if all(apart(o, d) for d in run) and any(near(o, d) for d in run):
                run.append(o)
        for o in sorted(row, key=lambda b: -b.bbox[0]):
            if all(apart(o, d) for d in run) and any(near(o, d) for d in run):
                run.append(o)
        if len(run) >= REPEAT_MIN:
            drop.add(i)
    return [c for i, c in enumerate(cands) if i not in drop]


def _join_split_bars(rgb: np.ndarray, cands: list[ScaleBar]) -> list[ScaleBar]:
    """A bar drawn in two halves with its label in the gap ("<—— 500 µm ——>", the SEM data-bar style): two
    collinear pieces of the same thickness, colour and (within 20 %) length, whose gap holds ink of their colour, are
    one bar from the left piece's start to the right piece's end. The pieces are kept too (the caller de-duplicates)."""
    out = list(cands)
    for a in cands:
        for b in cands:
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.bbox, b.bbox
            if not (ax1 < bx0 and abs(ay0 - by0) <= 1 and abs(ay1 - by1) <= 1 and a.polarity == b.polarity):
                continue
            la, lb = a.length_px, b.length_px
            gap = bx0 - ax1
            if max(la, lb) > 1.2 * min(la, lb) or gap > 1.2 * max(la, lb) or gap < 3:
                continue
            if float(np.linalg.norm(np.subtract(a.colour, b.colour, dtype=float))) > 40:
                continue
            h = max(ay1 - ay0, 2)
            y0, y1 = max(0, min(ay0, by0) - 3 * h - 4), min(rgb.shape[0], max(ay1, by1) + 3 * h + 4)
            win = rgb[y0:y1, ax1 + 1 : bx0 - 1].reshape(-1, 3).astype(float)
            if win.size == 0:
                continue
            ink = float((np.linalg.norm(win - np.asarray(a.colour, float), axis=1) < 60).mean())
            if not 0.03 <= ink <= 0.6:
                continue
            length = (bx0 + b.length_px) - (ax1 - a.length_px)  # outer ends, sub-pixel where measured
            out.append(
                ScaleBar(
                    bbox=(ax0, min(ay0, by0), bx1, max(ay1, by1)),
                    length_px=round(float(length), 2),
                    thickness_px=max(a.thickness_px, b.thickness_px),
                    polarity=a.polarity,
                    score=round(min(a.score, b.score), 3),
                    colour=a.colour,
                    gap=(ax1, bx0),
                )
            )
    return out


def _off_ends(
    raw_labels: np.ndarray, raw_stats: np.ndarray, rid: int, core: tuple[int, int, int, int]
) -> tuple[int, bool]:
    """Pixels of the bar's raw component outside its core that are not end ticks or arrowheads (strokes in the
    columns at the two ends, "|—|", "<—>", are part of the bar; anything else, a glyph, is not), and whether both
    ends carry a tick."""
    x, y, w, h = (int(v) for v in raw_stats[rid, :4])
    comp = raw_labels[y : y + h, x : x + w] == rid
    tx0, ty0, tx1, ty1 = core
    comp[max(0, ty0 - y) : max(0, ty1 - y), max(0, tx0 - x) : max(0, tx1 - x)] = False
    end = max(3, (ty1 - ty0) * 2)
    cols = np.arange(x, x + w)
    left, right = np.abs(cols - tx0) <= end, np.abs(cols - (tx1 - 1)) <= end
    # An end tick crosses the bar: it spans at least max(2, thickness) rows above AND below it ("|—|"; the strokes
    # of "n", "u", "T" go one way only), and the bar is longer than 1.2 ticks (the crossbar of an "H" is not).
    bh = ty1 - ty0
    need = max(2, bh)
    rows = np.arange(y, y + h)
    above, below = rows < ty0, rows >= ty1

    def crosses(side: np.ndarray) -> bool:
        hit = comp[:, side].any(axis=1)
        return int(hit[above].sum()) >= need and int(hit[below].sum()) >= need

    span = int(comp[:, left | right].any(axis=1).sum()) + bh
    ticks = crosses(left) and crosses(right) and (tx1 - tx0) >= 1.2 * span
    return int(comp[:, ~(left | right)].sum()), ticks


def _glyph_resting_on(raw_labels: np.ndarray, raw_stats: np.ndarray, rid: int, core: tuple[int, int, int, int]) -> bool:
    """True when the ink joined to a long line is a glyph that merely touches it (the descender of "µ" in a label
    written right above a thin bar inside a label box): the joined ink lies within the line's columns, spans at
    most a third of its length, and the line is at least three times as long as that ink is high. A glyph's own
    stroke (the foot of a "2", the top of a "T" or an "E") is about as long as its glyph is high or wide, so it
    fails one of the two."""
    x, y, w, h = (int(v) for v in raw_stats[rid, :4])
    tx0, ty0, tx1, ty1 = core
    if h - (ty1 - ty0) > (tx1 - tx0) / 3:
        return False  # the joined ink spans at least this many rows: too tall for the test below (cheaply)
    comp = raw_labels[y : y + h, x : x + w] == rid
    comp[max(0, ty0 - y) : max(0, ty1 - y), :] = False  # the line's rows: what is left is joined ink
    ys, xs = np.nonzero(comp)
    if xs.size == 0:
        return False
    cx0, cx1 = x + int(xs.min()), x + int(xs.max()) + 1
    span_h = int(ys.max()) - int(ys.min()) + 1
    bw = tx1 - tx0
    return cx0 >= tx0 and cx1 <= tx1 and (cx1 - cx0) <= bw / 3 and bw >= 3 * span_h


def _box_strip(c: ScaleBar, bar: ScaleBar) -> bool:
    """True when ``c`` spans past both ends of ``bar`` of another colour and touches its top or bottom edge."""
    if c.polarity == bar.polarity and c.colour == bar.colour:
        return False
    cx0, cy0, cx1, cy1 = c.bbox
    bx0, by0, bx1, by1 = bar.bbox
    touches = abs(cy1 - by0) <= 2 or abs(by1 - cy0) <= 2
    return touches and cx0 <= bx0 and cx1 >= bx1 and (cx1 - cx0) > (bx1 - bx0) + 2


def _beside_longer_line(c: ScaleBar, line: ScaleBar) -> bool:
    """True when ``c`` runs along ``line`` of the other polarity, touching it (a gap of at most 2 rows), within its
    columns, at most two thirds as long and at least as thick: the white inside of a label box between its thin
    black bar and the box's edge, cut into a short piece by the box's shading."""
    if c.polarity == line.polarity:
        return False
    cx0, cy0, cx1, cy1 = c.bbox
    lx0, ly0, lx1, ly1 = line.bbox
    touches = 0 <= cy0 - ly1 <= 2 or 0 <= ly0 - cy1 <= 2
    return (
        touches
        and lx0 <= cx0
        and lx1 >= cx1
        and c.length_px <= line.length_px / 1.5
        and line.thickness_px <= c.thickness_px
    )


def _box_inside_over_line(rgb: np.ndarray, c: ScaleBar, line: ScaleBar) -> bool:
    """True when light ``c`` is the inside of a label box whose bar is the thin dark ``line``: the line (at most 2 px
    thin) lies within c's columns (2-px slack), is at least 60 % of c's length, stands 3-40 px above or below it, and
    the rows between them are mostly light (the box's interior around its text; under a white bar on a dark
    picture they are the picture)."""
    if c.polarity != "light" or line.polarity != "dark" or line.thickness_px > 2 or c.thickness_px < 2:
        return False
    cx0, cy0, cx1, cy1 = c.bbox
    lx0, ly0, lx1, ly1 = line.bbox
    if lx0 < cx0 - 2 or lx1 > cx1 + 2 or line.length_px < 0.6 * c.length_px:
        return False
    gap0, gap1 = (cy1, ly0) if ly0 >= cy1 else (ly1, cy0)
    if not 3 <= gap1 - gap0 <= 40:
        return False
    between = rgb[gap0:gap1, lx0:lx1].astype(float)
    light = np.linalg.norm(between - np.asarray(c.colour, float), axis=2) < 60
    return bool(light.mean() >= 0.5)


def _overlap_min(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box: the same bar found at two thresholds, one a row thinner."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


# ----------------------------------------------------------------------------------------------------------------
# Reading


def _text_near(
    rgb: np.ndarray, bar: ScaleBar
) -> tuple[Length | None, str | None, list[int] | None, float, list[tuple[list[int], str, float]]]:
    """OCR the neighbourhood of a bar; the value+unit text closest to it (if any), and every line read.

    The bar itself is painted over with the surrounding colour first (the recogniser otherwise reads it as a dash or
    "一" and the detector glues it to the label). If the colour crop gives no value, a second pass reads a binarised
    crop where pixels close to the bar's colour (labels are usually printed in it) become black on white.
    """
    from matsearch.indexer.figures.ocr import ocr_text

    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = bar.bbox
    bw = x1 - x0
    # Labels sit above, below or beside the bar; glyphs are ~8-45 px high whatever the bar's length.
    mx = int(np.clip(1.0 * bw, 100, 260))
    my = int(np.clip(0.5 * bw, 34, 90))
    th = float(my)
    cx0, cx1 = max(0, x0 - mx), min(W, x1 + mx)
    cy0, cy1 = max(0, y0 - my), min(H, y1 + my)
    crop = rgb[cy0:cy1, cx0:cx1].copy()
    # Paint the bar (and a 1-px margin) with the median colour of the ring around it.
    ex0, ey0, ex1, ey1 = max(0, x0 - 2), max(0, y0 - 2), min(W, x1 + 2), min(H, y1 + 2)
    ring = np.concatenate(
        [
            rgb[max(0, ey0 - 2) : ey0, ex0:ex1].reshape(-1, 3),
            rgb[ey1 : min(H, ey1 + 2), ex0:ex1].reshape(-1, 3),
        ]
    )
    fill = np.median(ring, axis=0) if ring.size else np.array([127, 127, 127])
    crop[ey0 - cy0 : ey1 - cy0, ex0 - cx0 : ex1 - cx0] = fill.astype(np.uint8)
    if bar.gap is not None:  # the label between the halves of a split bar stays
        g0, g1 = bar.gap[0], bar.gap[1]
        if g1 > g0:
            crop[ey0 - cy0 : ey1 - cy0, g0 - cx0 : g1 - cx0] = rgb[ey0:ey1, g0:g1]
    # Enlarge small crops (small glyphs) up to 960 px on the long side; never shrink.
    scale = float(np.clip(960.0 / max(crop.shape[:2]), 1.0, 2.5))
    if scale <= 1.05:
        scale = 1.0

    def run(img: np.ndarray) -> list[tuple[list[int], str, float]]:
        if scale != 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        out = []
        for (lx0, ly0, lx1, ly1), text, score in _merge_lines(ocr_text(img, min_score=0.3, max_side=960)):
            box = [
                int(round(cx0 + lx0 / scale)),
                int(round(cy0 + ly0 / scale)),
                int(round(cx0 + lx1 / scale)),
                int(round(cy0 + ly1 / scale)),
            ]
            out.append((box, text, score))
        return out

    bx, by = (x0 + x1) / 2, (y0 + y1) / 2

    def pick(lines: list[tuple[list[int], str, float]]) -> tuple[float, Length, str, list[int], float] | None:
        best: tuple[float, Length, str, list[int], float] | None = None
        for box, text, score in lines:
            ln = parse_length(text, lenient=True)
            if ln is None:
                continue
            tx, ty = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            dist = float(np.hypot((tx - bx) / max(bw, 1), (ty - by) / max(th, 1)))
            if best is None or dist < best[0]:
                best = (dist, ln, text, box, score)
        return best

    found = run(crop)
    best = pick(found)
    if best is None or best[4] < 0.85:
        fg = np.asarray(bar.colour, dtype=np.float64)
        dist_fg = np.linalg.norm(crop.astype(np.float64) - fg, axis=2)
        contrast = float(np.linalg.norm(fg - fill.astype(np.float64)))
        binar = np.where(dist_fg < max(40.0, 0.45 * contrast), 0, 255).astype(np.uint8)
        found2 = run(np.stack([binar] * 3, axis=-1))
        best2 = pick(found2)
        if best2 is not None and (best is None or best2[4] > best[4]):
            best, found = best2, found2
    if best is None:
        # The detector found text but no pass parsed it: read each line near the bar on its own (several OCR
        # passes that must agree, see scalelabel.read_label), nearest first.
        from matsearch.indexer.figures.scalelabel import read_label

        def dist(box: list[int]) -> float:
            tx, ty = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            return float(np.hypot((tx - bx) / max(bw, 1), (ty - by) / max(th, 1)))

        for box, _text, _score in sorted(found, key=lambda t: dist(t[0]))[:3]:
            lx0, ly0 = max(0, box[0] - 2), max(0, box[1] - 2)
            lx1, ly1 = min(W, box[2] + 2), min(H, box[3] + 2)
            if lx1 - lx0 < 4 or ly1 - ly0 < 4:
                continue
            lab = read_label(rgb[ly0:ly1, lx0:lx1])
            if lab.length is not None:
                return lab.length, lab.text, [lx0, ly0, lx1, ly1], lab.confidence, found
        return None, None, None, 0.0, found
    return best[1], best[2], best[3], best[4], found


def _merge_lines(lines: list[OcrLine]) -> list[OcrLine]:
    """Join boxes the detector split on one line ("10" + "μm"): same row, horizontal gap under a glyph height."""
    items = sorted(lines, key=lambda t: t[0][0])
    merged: list[OcrLine] = []
    for box, text, score in items:
        for j, (mbox, mtext, mscore) in enumerate(merged):
            hh = min(box[3] - box[1], mbox[3] - mbox[1])
            overlap = min(box[3], mbox[3]) - max(box[1], mbox[1])
            gap = box[0] - mbox[2]
            if hh > 0 and overlap >= 0.5 * hh and -0.5 * hh <= gap <= 1.2 * hh:
                nb = (min(box[0], mbox[0]), min(box[1], mbox[1]), max(box[2], mbox[2]), max(box[3], mbox[3]))
                merged[j] = (nb, f"{mtext} {text}", min(score, mscore))
                break
        else:
            merged.append((box, text, score))
    return merged


# Bars are read strongest first; once one label reads with this confidence (bar score × OCR score), the weaker
# bars of the panel (frame lines, axis pieces, an inset's bar) keep their geometry but are not OCR'd: each read is
# one or two detector runs on an upscaled crop, the largest part of a scale reading's cost.
READ_ENOUGH = 0.6


# A bar in a panel typed as a plot or drawing (a map or micrograph inside a software window, beside a colour bar) is
# only taken when it is clearly a bar, drawn on a picture rather than on white, and its label reads well.
STRICT_MIN_SCORE = 0.85
STRICT_MIN_CONFIDENCE = 0.6


def on_picture(rgb: np.ndarray, bar: ScaleBar, limit: float = 0.5) -> bool:
    """True when the bar's surroundings (half a bar length around it) are not mostly white: a bar drawn on an
    image, not a legend line or an axis piece on a plot's background."""
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = bar.bbox
    m = max(4, (x1 - x0) // 2)
    region = rgb[max(0, y0 - m) : min(H, y1 + m), max(0, x0 - m) : min(W, x1 + m)]
    if region.size == 0:
        return False
    white = (region.min(axis=2) > 225).mean()
    return bool(white < limit)


BLOCK_MIN_SIDE = 40  # px: smallest picture block inside a plot panel that is searched for a bar
BLOCK_SAMPLE = 160  # px: long side of the sampled copy the blocks are found on
BLOCK_MIN_FILL = 0.9  # share of the block's box that is non-blank (a picture fills its box, plotted lines do not)


def picture_blocks(image: Image.Image | np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1, panel px) of pictures drawn inside a mostly blank panel: a map or micrograph beside
    spectra, an image inside plot axes. A block is a connected non-blank region that fills >= 90 % of its box, is at
    least :data:`BLOCK_MIN_SIDE` px and 12 % of the panel's short side on both sides, at most 3:1, and textured
    (grey-level std >= 8, so a flat bar of a bar chart is not one). Found on a <= 160-px copy (cheap)."""
    if isinstance(image, Image.Image):  # sample the pixels in C, not after converting the whole crop
        W, H = image.size
        step = max(1, -(-max(H, W) // BLOCK_SAMPLE))
        rgb_img = image if image.mode == "RGB" else image.convert("RGB")
        small = np.asarray(rgb_img.resize((-(-W // step), -(-H // step)), Image.Resampling.NEAREST))
    else:
        rgb = _rgb(image)
        H, W = rgb.shape[:2]
        step = max(1, -(-max(H, W) // BLOCK_SAMPLE))
        small = rgb[::step, ::step]
    lo, hi = small.min(axis=2), small.max(axis=2)
    blank = (lo >= 232) & ((hi - lo) <= 24)
    n, lab, stats, _ = cv2.connectedComponentsWithStats((~blank).astype(np.uint8), connectivity=8)
    short = min(small.shape[:2])
    out: list[tuple[int, int, int, int]] = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if min(w, h) * step < BLOCK_MIN_SIDE or min(w, h) < 0.12 * short or max(w, h) > 3 * min(w, h):
            continue
        if area < BLOCK_MIN_FILL * w * h or small[y : y + h, x : x + w].mean(axis=2, dtype=np.float32).std() < 8:
            continue
        out.append((x * step, y * step, min(W, (x + w) * step), min(H, (y + h) * step)))
    return out


def read_scales(
    image: Image.Image | np.ndarray,
    caption_value: tuple[float, str] | None = None,
    *,
    use_ocr: bool = True,
    max_bars: int = 3,
    strict: bool = False,
    strict_limits: tuple[float, float] | None = None,
    picture: bool = True,
    bars: list[ScaleBar] | None = None,
) -> list[ScaleReading]:
    """Readings for every bar found (best first); empty when no bar is found.

    ``caption_value`` is the caption's (value, unit) for this panel (``CaptionSplit.scale_for(label)``); it is used
    for the best bar when OCR reads no value there. ``strict`` (panels typed as plots that hold a picture): only
    bars scoring >= :data:`STRICT_MIN_SCORE` on a picture (:func:`on_picture`) are read, and only readings of
    confidence >= :data:`STRICT_MIN_CONFIDENCE` are kept. ``strict_limits`` = (bar score, label score) replaces
    those floors by a bar-score floor and a floor on how well the label itself read (the reading's confidence over
    its bar score): a picture block inside a plot, where a thin bar's own label is the evidence. ``picture=False``
    drops the on-picture test of the strict read (a bar drawn on a white schematic, see ``scales``). ``bars``: the
    bars to read (found and chosen by the caller) instead of :func:`find_scale_bars`'s best ``max_bars``.
    """
    min_score, min_conf = strict_limits or (STRICT_MIN_SCORE, STRICT_MIN_CONFIDENCE)
    rgb = _rgb(image)
    H, W = rgb.shape[:2]
    if bars is None:
        bars = find_scale_bars(rgb, max_bars=max_bars)
    if strict:
        bars = [b for b in bars if b.score >= min_score and (not picture or on_picture(rgb, b))]
    readings: list[ScaleReading] = []
    cap_unit = canonical_unit(caption_value[1]) if caption_value else None
    k = -1
    settled = False  # a bar's label was read with confidence >= READ_ENOUGH: the weaker bars are not OCR'd
    for bar in bars:
        r = ScaleReading(bbox=list(bar.bbox), length_px=bar.length_px, bar_score=bar.score)
        ocr_len: Length | None = None
        ocr_score = 0.0
        if use_ocr and settled:
            r.notes.append("not read: a stronger bar's label was read")
        elif use_ocr:
            ocr_len, text, tbox, ocr_score, _ = _text_near(rgb, bar)
            if ocr_len is not None:
                r.text, r.text_bbox = text, tbox
        k += 1
        if ocr_len is not None:
            r.value, r.unit, r.source = ocr_len.value, ocr_len.unit, "ocr"
            r.confidence = round(min(1.0, bar.score) * ocr_score, 3)
            settled = r.confidence >= READ_ENOUGH
            if caption_value is not None and cap_unit is not None and k == 0:
                cap_nm = to_nm(caption_value[0], cap_unit)
                if cap_nm is not None and ocr_len.nm is not None:
                    if abs(cap_nm - ocr_len.nm) <= 0.01 * cap_nm:
                        r.confidence = round(min(1.0, r.confidence + 0.2), 3)
                        r.notes.append("caption agrees")
                    else:
                        r.notes.append(f"caption says {caption_value[0]:g} {cap_unit}")
                        r.confidence = round(r.confidence * 0.6, 3)
        elif caption_value is not None and cap_unit is not None and k == 0:
            r.value, r.unit, r.source = float(caption_value[0]), cap_unit, "caption"
            r.confidence = round(0.8 * min(1.0, bar.score), 3)
        if r.unit is not None and r.value is not None:
            nm = to_nm(r.value, r.unit)
            r.reciprocal = nm is None
            if nm is not None and r.length_px and r.length_px > 0:
                r.nm_per_px = nm / r.length_px
                r.field_of_view_nm = [round(W * r.nm_per_px, 4), round(H * r.nm_per_px, 4)]
            elif r.reciprocal:
                r.notes.append("reciprocal-space bar: no real-space scale")
                r.confidence = round(r.confidence, 3)
        else:
            r.confidence = 0.0
        readings.append(r)
    # A bar whose text was read beats a text-less bar with a higher shape score.
    readings.sort(key=lambda r: (r.value is None, -r.confidence, -r.bar_score))
    if strict:

        def good(r: ScaleReading) -> bool:
            if strict_limits is None:
                return r.confidence >= min_conf
            return r.confidence >= min_conf * min(1.0, r.bar_score) - 1e-9  # the label read with >= min_conf

        readings = [r for r in readings if r.value is not None and good(r)]
    return readings


def read_scale(
    image: Image.Image | np.ndarray,
    caption_value: tuple[float, str] | None = None,
    *,
    use_ocr: bool = True,
) -> ScaleReading:
    """The panel's scale: the best bar's reading, or a reading with ``None`` fields when nothing is known.

    With no bar found, a small, wide image (at most :data:`LABEL_CROP_SIDE` px high: a crop that holds only the
    label, "0.5 µm") is read as a label on its own (:func:`matsearch.indexer.figures.scalelabel.read_label`: several
    OCR passes that must agree, an abstention under confidence 0.3); otherwise, or when that abstains, a caption
    value is reported (source "caption"). Without a bar there is no nm/px.
    """
    readings = read_scales(image, caption_value, use_ocr=use_ocr)
    if readings:
        return readings[0]
    r = ScaleReading()
    rgb = _rgb(image)
    if use_ocr and rgb.shape[0] <= LABEL_CROP_SIDE and rgb.shape[1] >= rgb.shape[0]:
        from matsearch.indexer.figures.scalelabel import read_label

        lab = read_label(rgb)
        r.notes.append("no bar: the image was read as a scale label")
        r.notes.extend(lab.notes)
        r.confidence = lab.confidence
        if lab.value is not None and lab.unit is not None:
            r.value, r.unit, r.text, r.source = lab.value, lab.unit, lab.text, "ocr"
            r.reciprocal = to_nm(r.value, r.unit) is None
            return r
    if caption_value is not None:
        unit = canonical_unit(caption_value[1])
        if unit is not None:
            r.value, r.unit, r.source = float(caption_value[0]), unit, "caption"
            r.reciprocal = to_nm(r.value, unit) is None
            r.notes.append("no scale bar found in the image")
    return r
