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
from matsearch.indexer.figures.units import Length, canonical_unit, parse_length, to_nm
from PIL import Image

__all__ = ["ScaleBar", "ScaleReading", "find_scale_bars", "read_scale", "read_scales", "measure_length"]


@dataclass
class ScaleBar:
    """A bar found in an image: integer ``bbox`` [x0, y0, x1, y1) and the sub-pixel ``length_px``."""

    bbox: tuple[int, int, int, int]
    length_px: float
    thickness_px: float
    polarity: str  # "light" | "dark" | "colour"
    score: float
    colour: tuple[int, int, int] = (0, 0, 0)


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


def _masks(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat, val = hsv[:, :, 1], hsv[:, :, 2]
    out: list[tuple[str, np.ndarray]] = []
    for t in (235, 200):
        out.append(("light", ((gray >= t) & (sat < 90)).astype(np.uint8)))
    for t in (25, 60):
        out.append(("dark", (gray <= t).astype(np.uint8)))
    colourful = (sat >= 110) & (val >= 90)
    if colourful.any():
        # Split saturated pixels by hue so a red bar next to a yellow label stays separate.
        hue = hsv[:, :, 0].astype(np.int32)
        for lo, hi in ((0, 12), (12, 38), (38, 85), (85, 130), (130, 170), (170, 181)):
            m = colourful & (hue >= lo) & (hue < hi)
            if m.sum() >= 8:
                out.append(("colour", m.astype(np.uint8)))
    return out


def measure_length(rgb: np.ndarray, bbox: tuple[int, int, int, int], bg: np.ndarray, fg: np.ndarray) -> float:
    """Sub-pixel length of a horizontal bar: per-column coverage on the background→bar colour axis, summed.

    The bar's rows (without the outermost ones when it is thick enough) are averaged; each column's colour is
    projected on ``fg - bg``; coverage is clipped to 0..1 and summed over the bar plus a 3-pixel margin.
    """
    x0, y0, x1, y1 = bbox
    h, w = rgb.shape[:2]
    ya, yb = (y0 + 1, y1 - 1) if y1 - y0 >= 4 else (y0, y1)
    xa, xb = max(0, x0 - 3), min(w, x1 + 3)
    prof = rgb[ya:yb, xa:xb].astype(np.float64).mean(axis=0)  # (n, 3)
    axis = fg.astype(np.float64) - bg.astype(np.float64)
    denom = float(axis @ axis)
    if denom < 30.0**2:
        return float(x1 - x0)
    cov = np.clip(((prof - bg) @ axis) / denom, 0.0, 1.0)
    # Only the contiguous run around the bar counts (a neighbouring label glyph must not add length).
    inner = cov[(x0 - xa) : (x1 - xa)]
    left = cov[: x0 - xa][::-1]
    right = cov[x1 - xa :]

    def run(edge: np.ndarray) -> float:
        total = 0.0
        for v in edge:
            if v < 0.05:
                break
            total += float(v)
            if v < 0.5:
                break
        return total

    return float(inner.sum() + run(left) + run(right))


def find_scale_bars(image: Image.Image | np.ndarray, *, max_bars: int = 5, min_score: float = 0.35) -> list[ScaleBar]:
    """Scale-bar candidates in a panel image, best first (possibly empty).

    A bar is a filled horizontal rectangle (aspect ≥ 3, at least 8 px and at most 85 % of the width, at most 8 %
    of the height thick) whose colour contrasts with its surroundings and whose top and bottom edges are clean.
    """
    rgb = _rgb(image)
    H, W = rgb.shape[:2]
    if H < 16 or W < 24:
        return []
    min_len = max(8, int(round(0.025 * W)))
    kernel = np.ones((1, max(5, min(min_len, 15))), np.uint8)
    cands: list[ScaleBar] = []
    for polarity, mask in _masks(rgb):
        opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=4)
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if w < min_len or w > 0.85 * W or h < 1 or h > max(3, 0.08 * H) or w < 3 * h:
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
            # Edge cleanliness: rows just above/below are not bar-coloured (in the unopened mask).
            above = mask[ty0 - 1, tx0:tx1].mean() if ty0 >= 1 else 0.0
            below = mask[ty1, tx0:tx1].mean() if ty1 < H else 0.0
            edge_clean = 1.0 - float(max(above, below))
            if edge_clean < 0.6:
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
            aspect = bw / max(1, bh)
            s_aspect = 1.0 if 4 <= aspect <= 80 else 0.6
            s_thick = 0.55 if bh < 2 else (1.0 if bh <= 0.05 * H + 2 else 0.75)
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
    # De-duplicate the same bar found at two thresholds (keep the better score).
    cands.sort(key=lambda b: -b.score)
    kept: list[ScaleBar] = []
    for c in cands:
        if any(_iou(c.bbox, k.bbox) > 0.5 for k in kept):
            continue
        kept.append(c)
    return kept[:max_bars]


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
    """OCR the neighbourhood of a bar; the value+unit text closest to it (if any)."""
    from matsearch.indexer.figures.ocr import ocr_text

    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = bar.bbox
    bw = x1 - x0
    th = int(np.clip(0.45 * bw, 14, max(14, 0.3 * H)))
    cx0, cx1 = max(0, int(x0 - 0.8 * bw - th)), min(W, int(x1 + 0.8 * bw + th))
    cy0, cy1 = max(0, int(y0 - 1.6 * th)), min(H, int(y1 + 1.6 * th))
    crop = rgb[cy0:cy1, cx0:cx1]
    scale = 1.0
    # Upscale small crops so glyphs reach the ~20-30 px the detector likes.
    if th < 40:
        scale = min(3.0, 40.0 / th)
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    lines = ocr_text(crop, min_score=0.3)
    found: list[tuple[list[int], str, float]] = []
    best: tuple[float, Length, str, list[int], float] | None = None
    bx, by = (x0 + x1) / 2, (y0 + y1) / 2
    for (lx0, ly0, lx1, ly1), text, score in lines:
        box = [
            int(round(cx0 + lx0 / scale)),
            int(round(cy0 + ly0 / scale)),
            int(round(cx0 + lx1 / scale)),
            int(round(cy0 + ly1 / scale)),
        ]
        found.append((box, text, score))
        ln = parse_length(text, lenient=True)
        if ln is None:
            continue
        tx, ty = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        dist = float(np.hypot((tx - bx) / max(bw, 1), (ty - by) / max(th, 1)))
        if best is None or dist < best[0]:
            best = (dist, ln, text, box, score)
    if best is None:
        return None, None, None, 0.0, found
    return best[1], best[2], best[3], best[4], found


def read_scales(
    image: Image.Image | np.ndarray,
    caption_value: tuple[float, str] | None = None,
    *,
    use_ocr: bool = True,
    max_bars: int = 3,
) -> list[ScaleReading]:
    """Readings for every bar found (best first); empty when no bar is found.

    ``caption_value`` is the caption's (value, unit) for this panel (``CaptionSplit.scale_for(label)``); it is used
    for the best bar when OCR reads no value there.
    """
    rgb = _rgb(image)
    H, W = rgb.shape[:2]
    bars = find_scale_bars(rgb, max_bars=max_bars)
    readings: list[ScaleReading] = []
    cap_unit = canonical_unit(caption_value[1]) if caption_value else None
    for k, bar in enumerate(bars):
        r = ScaleReading(bbox=list(bar.bbox), length_px=bar.length_px, bar_score=bar.score)
        ocr_len: Length | None = None
        ocr_score = 0.0
        if use_ocr:
            ocr_len, text, tbox, ocr_score, _ = _text_near(rgb, bar)
            if ocr_len is not None:
                r.text, r.text_bbox = text, tbox
        if ocr_len is not None:
            r.value, r.unit, r.source = ocr_len.value, ocr_len.unit, "ocr"
            r.confidence = round(min(1.0, bar.score) * ocr_score, 3)
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
    return readings


def read_scale(
    image: Image.Image | np.ndarray,
    caption_value: tuple[float, str] | None = None,
    *,
    use_ocr: bool = True,
) -> ScaleReading:
    """The panel's scale: the best bar's reading, or a reading with ``None`` fields when nothing is known.

    With no bar found but a caption value, value and unit are reported (source "caption") without nm/px.
    """
    readings = read_scales(image, caption_value, use_ocr=use_ocr)
    if readings:
        return readings[0]
    r = ScaleReading()
    if caption_value is not None:
        unit = canonical_unit(caption_value[1])
        if unit is not None:
            r.value, r.unit, r.source = float(caption_value[0]), unit, "caption"
            r.reciprocal = to_nm(r.value, unit) is None
            r.notes.append("no scale bar found in the image")
    return r
