"""Axes of a plot image: the axes rectangle, tick marks, tick labels (rapidocr) and a robust pixel → value fit.

Method (classical image analysis, no learned detector):

1. *Axis lines*: dark, low-chroma pixels opened with long horizontal / vertical structuring elements leave only
   straight runs ≥ 30 % of the image side. The x axis and the y axis are the pair that meet in an L corner (the
   bottom-left corner of the axes rectangle); the rectangle is their extent (a frame on the top/right, if any, is
   not needed). Without a vertical axis (hidden y axis), the x axis alone defines the box.
2. *Tick marks*: short dark runs perpendicular to each axis line, outward and inward, grouped into ticks; long and
   short ones (major/minor) are told apart by length.
3. *Tick labels*: connected components of ink outside the box, grouped into words, read by rapidocr's recogniser in
   one batch; numbers are parsed (unicode minus, thousands commas, ``10^n`` read as ``10n``), snapped to the nearest
   tick mark. The words farther out are the axis title (the y title is rotated back before reading).
4. *Fit*: RANSAC over (px, value) pairs, once in linear and once in log10 space; the model with more inliers (then
   the smaller residual) wins, so log axes and reversed axes come out of the fit, and misread labels are outliers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = ["AxisFit", "AxisInfo", "TextBox", "find_axes", "fit_axis", "parse_number", "read_words", "split_title"]


@dataclass
class Segment:
    """A straight axis-line candidate: ``a..b`` across the line (thickness), ``s..e`` along it."""

    a: int
    b: int
    s: int
    e: int

    @property
    def c(self) -> float:
        return (self.a + self.b) / 2.0

    @property
    def length(self) -> int:
        return self.e - self.s + 1


@dataclass
class TextBox:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive) in image pixels
    text: str = ""
    score: float = 0.0

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2.0

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2.0

    @property
    def h(self) -> int:
        return self.box[3] - self.box[1] + 1


@dataclass
class AxisFit:
    """value = a * px + b (linear) or log10(value) = a * px + b (log)."""

    a: float
    b: float
    scale: str  # "linear" | "log"
    inliers: list[int] = field(default_factory=list)
    residual_px: float = 0.0

    def value(self, px: np.ndarray | float) -> np.ndarray:
        t = self.a * np.asarray(px, dtype=float) + self.b
        return np.power(10.0, t) if self.scale == "log" else t

    def pixel(self, value: np.ndarray | float) -> np.ndarray:
        v = np.asarray(value, dtype=float)
        t = np.log10(np.maximum(v, 1e-300)) if self.scale == "log" else v
        return (t - self.b) / self.a


@dataclass
class AxisInfo:
    title: str = ""
    ticks: list[tuple[float, float]] = field(default_factory=list)  # (value, px) of the inlier labelled ticks
    fit: AxisFit | None = None
    tick_marks: list[float] = field(default_factory=list)  # px of every tick mark found
    labels: list[TextBox] = field(default_factory=list)
    multiplier: float = 1.0  # "1e6" / "×10^6" offset text


# ----------------------------------------------------------------------------------------------------------------
# pixels


def background_color(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).reshape(-1, 3)
    return np.median(border, axis=0).astype(np.float32)


def channel_stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, max, min) over the 3 colour channels, as ``mean/max/min(axis=2)`` give them but several times faster
    (numpy reduces a 3-long last axis slowly; elementwise maxima of the channel planes are cheap)."""
    a, b, c = f[..., 0], f[..., 1], f[..., 2]
    mean = (a.astype(np.float64) + b + c) / 3.0
    return mean, np.maximum(np.maximum(a, b), c), np.minimum(np.minimum(a, b), c)


def ink_mask(rgb: np.ndarray, bg: np.ndarray, thr: float = 60.0) -> np.ndarray:
    """Pixels differing from the background ``bg`` by more than ``thr`` in some channel."""
    bg2 = 2.0 * np.asarray(bg, dtype=np.float64)
    if rgb.dtype == np.uint8 and np.all(bg2 == np.round(bg2)) and float(2 * thr).is_integer():
        # integer arithmetic at double scale: exact for a background that is a median of 8-bit values (k or k + ½)
        f = rgb.astype(np.int16) * 2
        lim = int(2 * thr)
        return (
            (np.abs(f[..., 0] - int(bg2[0])) > lim)
            | (np.abs(f[..., 1] - int(bg2[1])) > lim)
            | (np.abs(f[..., 2] - int(bg2[2])) > lim)
        )
    d = np.abs(rgb.astype(np.float32) - bg)
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) > thr


def dark_mask(rgb: np.ndarray, thr: float = 130.0) -> np.ndarray:
    f = rgb.astype(np.int16)
    gray, hi, lo = channel_stats(f)
    chroma = hi - lo
    return (gray < thr) & (chroma < 70)


def faint_line_mask(rgb: np.ndarray, bg: np.ndarray, thr: float = 70.0) -> np.ndarray:
    """Low-chroma pixels of lines thinner than a pixel whose ink is split over two rows or two columns.

    A hairline axis in a shrunk figure (a 0.8-pt line at a third of its size) is drawn as two pale neighbouring rows
    (e.g. grey 205 above 185), neither dark on its own. Darkness is summed over each pair of neighbouring rows (for
    horizontal lines) and columns (vertical lines); a pixel is marked when a pair it belongs to reaches ``thr``
    (the darkness the lighter single-pixel threshold asks for) and it carries at least a quarter of that itself.
    """
    return _Pixels(rgb, bg).faint(thr)


class _Pixels:
    """One image's grey level, chroma and the axis-line masks made from them, each computed once, when first asked
    (the axes search tries several masks in turn; most images need only the first)."""

    def __init__(self, rgb: np.ndarray, bg: np.ndarray) -> None:
        self.rgb, self.bg = rgb, bg
        self.h, self.w = rgb.shape[:2]
        self._stats: tuple[np.ndarray, np.ndarray] | None = None
        self._dark: dict[float, np.ndarray] = {}
        self._faint: np.ndarray | None = None
        self._darkness: np.ndarray | None = None
        self._segs: dict[int, tuple[list[Segment], list[Segment]]] = {}

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(grey level, chroma = max − min channel)."""
        if self._stats is None:
            gray, hi, lo = channel_stats(self.rgb.astype(np.int16))
            self._stats = gray, hi - lo
        return self._stats

    def dark(self, thr: float = 130.0) -> np.ndarray:
        if thr not in self._dark:
            gray, chroma = self.stats()
            self._dark[thr] = (gray < thr) & (chroma < 70)
        return self._dark[thr]

    def darkness(self) -> np.ndarray:
        """Grey-level darkness below the background's, 0 for chromatic pixels (data lines in colour)."""
        if self._darkness is None:
            gray, chroma = self.stats()
            d = np.clip(float(np.mean(self.bg)) - gray, 0.0, None)
            d[chroma >= 70] = 0.0
            self._darkness = d
        return self._darkness

    def faint(self, thr: float = 70.0) -> np.ndarray:
        if self._faint is None or thr != 70.0:
            d = self.darkness()
            out = np.zeros(d.shape, dtype=bool)
            rows = (d[:-1] + d[1:]) >= thr  # pair k: rows k and k + 1
            out[:-1] |= rows
            out[1:] |= rows
            cols = (d[:, :-1] + d[:, 1:]) >= thr
            out[:, :-1] |= cols
            out[:, 1:] |= cols
            out &= d >= 0.25 * thr
            if thr != 70.0:
                return out
            self._faint = out
        return self._faint

    def mask(self, k: int) -> np.ndarray:
        """0: dark single pixels; 1: lighter single pixels (hairlines drawn grey); 2: hairlines split over two."""
        return self.dark(130.0) if k == 0 else self.dark(185.0) if k == 1 else self.faint()

    def segments(self, k: int) -> tuple[list[Segment], list[Segment]]:
        """Long horizontal and vertical straight runs of mask ``k`` (≥ 30 % of the side)."""
        if k not in self._segs:
            self._segs[k] = _line_segments(self.mask(k))
        return self._segs[k]


def _segments(mask: np.ndarray, min_len: int, horizontal: bool, max_thick: int) -> list[Segment]:
    m: Any = mask.astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (min_len, 1) if horizontal else (1, min_len))
    # close 1-px gaps (JPEG) along the line before opening
    kc = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 1) if horizontal else (1, 3))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kc)
    op = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    n, _lab, stats, _ = cv2.connectedComponentsWithStats(op, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _area = (int(v) for v in stats[i])
        if horizontal and h <= max_thick:
            out.append(Segment(y, y + h - 1, x, x + w - 1))
        elif not horizontal and w <= max_thick:
            out.append(Segment(x, x + w - 1, y, y + h - 1))
    return out


def _tick_runs(dark: np.ndarray, seg: Segment, horizontal: bool, side: int, depth: int) -> np.ndarray:
    """Run length of dark pixels leaving the axis line, per position along it (side +1: down/right, -1: up/left)."""
    h, w = dark.shape
    n = w if horizontal else h
    runs = np.zeros(n, dtype=np.int32)
    alive = np.ones(n, dtype=bool)
    start = seg.b + 1 if side > 0 else seg.a - 1
    for d in range(depth):
        p = start + side * d
        if p < 0 or p >= (h if horizontal else w):
            break
        line = dark[p, :] if horizontal else dark[:, p]
        alive &= line
        runs += alive
    return runs


def _group_ticks(runs: np.ndarray, lo: int, hi: int, min_len: int, max_width: int) -> list[tuple[float, int, int, int]]:
    """Tick candidates: (centre, longest run, first and last position) of each narrow group of runs ≥ ``min_len``."""
    sel = np.zeros_like(runs, dtype=bool)
    sel[lo : hi + 1] = runs[lo : hi + 1] >= min_len
    out: list[tuple[float, int, int, int]] = []
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return out
    groups = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for g in groups:
        if len(g) <= max_width:
            out.append((float(g.mean()), int(runs[g].max()), int(g[0]), int(g[-1])))
    return out


def _isolated(dark: np.ndarray, seg: Segment, horizontal: bool, side: int, tick: tuple[float, int, int, int]) -> bool:
    """A tick mark is a thin stroke with background beside it along its length (≤ a third of its rows may show ink
    within 3 px on either side); a stroke of a tick label set right against the axis has the glyph's other strokes
    there (an outward "tick" that is really a label would push the label region past the label)."""
    _c, ln, g0, g1 = tick
    n_along = dark.shape[1] if horizontal else dark.shape[0]
    n_across = dark.shape[0] if horizontal else dark.shape[1]
    start = seg.b + 1 if side > 0 else seg.a - 1
    across = [start + side * k for k in range(ln) if 0 <= start + side * k < n_across]
    along = [q for q in (g0 - 3, g0 - 2, g0 - 1, g1 + 1, g1 + 2, g1 + 3) if 0 <= q < n_along]
    if not across or not along:
        return True
    sub = dark[np.ix_(across, along)] if horizontal else dark[np.ix_(along, across)].T
    return int(sub.any(axis=1).sum()) <= max(1, ln // 3)


def find_ticks(dark: np.ndarray, seg: Segment, horizontal: bool, lo: int, hi: int) -> tuple[list[float], int, int]:
    """Tick positions along an axis line, and the outward / inward tick lengths found (0 if none).

    Outward candidates (the tick-label side) must be isolated strokes (:func:`_isolated`)."""
    h, w = dark.shape
    depth = max(4, int(0.05 * (h if horizontal else w)))
    thick = seg.b - seg.a + 1
    max_width = max(3, thick + 2)
    ticks: dict[int, tuple[float, int]] = {}
    lens = {}
    # outward = down for the x axis, left for the y axis
    out_side = +1 if horizontal else -1
    for side in (+1, -1):
        runs = _tick_runs(dark, seg, horizontal, side, depth)
        cands = [t for t in _group_ticks(runs, lo, hi, 2, max_width) if t[1] < depth]
        if side == out_side:
            cands = [t for t in cands if _isolated(dark, seg, horizontal, side, t)]
        found = [(t[0], t[1]) for t in cands]
        lens[side] = int(np.median([t[1] for t in found])) if len(found) >= 2 else 0
        for pos, ln in found:
            key = int(round(pos))
            if key not in ticks or ticks[key][1] < ln:
                ticks[key] = (pos, ln)
    positions = sorted(p for p, _ in ticks.values())
    merged: list[float] = []
    for p in positions:
        if merged and p - merged[-1] <= 2:
            merged[-1] = (merged[-1] + p) / 2
        else:
            merged.append(p)
    return merged, lens[out_side], lens[-out_side]


# ----------------------------------------------------------------------------------------------------------------
# text


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    n, _lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= 2:
            out.append((x, y, x + w - 1, y + h - 1))
    return out


def group_words(boxes: list[tuple[int, int, int, int]], gap_factor: float = 0.6) -> list[tuple[int, int, int, int]]:
    """Merge character boxes into words/lines: overlapping vertically, horizontally closer than ``gap_factor`` × h."""
    if not boxes:
        return []
    boxes = sorted(boxes, key=lambda b: b[0])
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, bi in enumerate(boxes):
        hi = bi[3] - bi[1] + 1
        for j in range(i + 1, len(boxes)):
            bj = boxes[j]
            hj = bj[3] - bj[1] + 1
            gap = bj[0] - bi[2] - 1
            hm = max(hi, hj)
            if gap > gap_factor * max(hm, 6) + 1:
                if bj[0] > bi[2] + 3 * max(hm, 6):
                    break
                continue
            ov = min(bi[3], bj[3]) - max(bi[1], bj[1]) + 1
            if ov >= 0.3 * min(hi, hj) or (min(hi, hj) <= 3 and ov >= -1):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for idx in groups.values():
        bs = [boxes[i] for i in idx]
        out.append((min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs)))
    return out


def read_words(
    rgb: np.ndarray, boxes: list[tuple[int, int, int, int]], rotate: list[bool] | None = None
) -> list[TextBox]:
    """Recognise many word crops in one rapidocr batch (recognition only; detection is ours)."""
    if not boxes:
        return []
    h, w = rgb.shape[:2]
    crops = []
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        pad = 3
        c = rgb[max(0, y0 - pad) : min(h, y1 + pad + 1), max(0, x0 - pad) : min(w, x1 + pad + 1)]
        if rotate is not None and rotate[k]:
            c = np.rot90(c, k=-1)
        ch = c.shape[0]
        s = 40.0 / max(ch, 1)
        c = cv2.resize(np.ascontiguousarray(c), (max(2, int(round(c.shape[1] * s))), 40), interpolation=cv2.INTER_CUBIC)
        bg = np.full((48, c.shape[1] + 8, 3), 255, dtype=np.uint8)
        bg[4:44, 4 : 4 + c.shape[1]] = c
        crops.append(np.ascontiguousarray(bg[:, :, ::-1]))
    from matsearch.indexer.figures.ocr import recognize_padded

    res = recognize_padded(crops)  # under figures.ocr.RECOGNISER_LOCK, the one lock around the recogniser
    return [TextBox(b, t.strip(), s) for b, (t, s) in zip(boxes, res, strict=True)]


_MINUS = str.maketrans({"−": "-", "–": "-", "—": "-", "‒": "-", "O": "0", "o": "0", "l": "1", "I": "1", " ": ""})
_NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+$")
_POW10 = re.compile(r"^10[-+]?\d{1,2}$")


def parse_number(text: str) -> tuple[float | None, float | None]:
    """(plain value, value if the text is a power of ten written as ``10ⁿ`` and read flat as ``10n``)."""
    t = text.strip().translate(_MINUS).rstrip(".")
    if not t:
        return None, None
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    elif t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    plain = float(t) if _NUM.match(t) else None
    pw = None
    if _POW10.match(t) and len(t) > 2:
        try:
            pw = 10.0 ** int(t[2:])
        except ValueError:
            pw = None
    if plain is not None and abs(plain) > 1e12:
        plain = None
    return plain, pw


_MULT = re.compile(r"^(?:[x×X]\s*)?(?:1e|10\^?|x10|×10)([-+−]?\d{1,2})$")


def parse_multiplier(text: str) -> float | None:
    t = text.strip().replace(" ", "").replace("−", "-")
    if t[:1] in ("l", "I", "|"):  # "1e6" read as "le6"
        t = "1" + t[1:]
    m = _MULT.match(t)
    if not m:
        return None
    try:
        e = int(m.group(1).replace("−", "-"))
    except ValueError:
        return None
    return 10.0**e if abs(e) <= 15 else None


def split_title(title: str) -> tuple[str | None, str | None]:
    """``"Potential (V vs. RHE)"`` → ("Potential", "V vs. RHE"); ``"Time / s"`` → ("Time", "s")."""
    t = title.strip()
    if not t:
        return None, None
    m = re.match(r"^(.*?)\s*[\(\[](.+)[\)\]]\s*$", t)
    if m:
        return m.group(1).strip() or None, m.group(2).strip() or None
    m = re.match(r"^(.*?)\s+/\s*(\S.*)$", t)
    if m:
        return m.group(1).strip() or None, m.group(2).strip() or None
    return t, None


# ----------------------------------------------------------------------------------------------------------------
# fit


def _ransac(px: np.ndarray, t: np.ndarray, tol: float) -> tuple[float, float, np.ndarray, float] | None:
    n = len(px)
    best: tuple[int, float, float, float, np.ndarray] | None = None
    for i in range(n):
        for j in range(i + 1, n):
            if abs(px[j] - px[i]) < 3 or t[j] == t[i]:
                continue
            a = (t[j] - t[i]) / (px[j] - px[i])
            b = t[i] - a * px[i]
            err = np.abs((t - b) / a - px)
            inl = err <= tol
            cnt = int(inl.sum())
            res = float(err[inl].mean())
            if best is None or cnt > best[0] or (cnt == best[0] and res < best[3]):
                best = (cnt, a, b, res, inl)
    if best is None:
        return None
    inl = best[4]
    if inl.sum() >= 2:
        A = np.stack([px[inl], np.ones(int(inl.sum()))], axis=1)
        sol, *_ = np.linalg.lstsq(A, t[inl], rcond=None)
        a, b = float(sol[0]), float(sol[1])
        if a == 0:
            a, b = best[1], best[2]
    else:
        a, b = best[1], best[2]
    err = np.abs((t - b) / a - px)
    inl = err <= tol
    return a, b, inl, float(err[inl].mean()) if inl.any() else tol


def fit_axis(pairs: list[tuple[float, float | None, float | None]], span_px: float) -> AxisFit | None:
    """Fit (px, plain value, power-of-ten value) tick readings; returns None with fewer than 2 consistent ticks."""
    if len(pairs) < 2:
        return None
    tol = max(2.5, 0.012 * span_px)
    cands: list[tuple[int, float, AxisFit]] = []
    px_all = np.array([p[0] for p in pairs], dtype=float)
    plain = [(i, p[1]) for i, p in enumerate(pairs) if p[1] is not None]
    pw = [(i, p[2]) for i, p in enumerate(pairs) if p[2] is not None]
    for scale, items in (("linear", plain), ("log", plain), ("log", pw)):
        if len(items) < 2:
            continue
        idx = np.array([i for i, _ in items])
        vals = np.array([v for _, v in items], dtype=float)
        if scale == "log":
            keep = vals > 0
            idx, vals = idx[keep], vals[keep]
            if len(vals) < 3 or vals.max() / vals.min() < 9.5:
                continue
            t = np.log10(vals)
        else:
            t = vals
        r = _ransac(px_all[idx], t, tol)
        if r is None:
            continue
        a, b, inl, res = r
        cnt = int(inl.sum())
        # the fit must explain at least half of the labels read: two consistent labels among many misreads
        # are as likely a coincidence as the axis (then the axis stays relative, which is honest)
        if cnt < 2 or cnt < 0.5 * len(items):
            continue
        cands.append((cnt, res, AxisFit(a, b, scale, [int(i) for i in idx[inl]], res)))
    if not cands:
        return None
    # more inliers first; a log model must beat linear clearly (ties go to linear)
    cands.sort(key=lambda c: (-c[0], c[2].scale != "linear", c[1]))
    return cands[0][2]


# ----------------------------------------------------------------------------------------------------------------
# axes rectangle + labels


@dataclass
class Axes:
    plot_box: tuple[int, int, int, int]  # x0, y0, x1, y1: y axis x, top, right end, x axis y
    x: AxisInfo
    y: AxisInfo
    x_seg: Segment
    y_seg: Segment | None
    text_h: float
    thickness: int
    inward_ticks: list[tuple[str, float]] = field(default_factory=list)
    tick_len_in: dict[str, int] = field(default_factory=dict)
    texts: list[TextBox] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _covered(ink: np.ndarray, seg: Segment, horizontal: bool, lo: int, hi: int) -> bool:
    """Every position ``lo..hi`` along the line of ``seg`` has ink within its thickness band (± 1 px): the axis
    line runs on under other ink there (a data line crossing the axis at the plot's left edge)."""
    if hi < lo:
        return True
    a, b = max(0, seg.a - 1), seg.b + 2
    band = ink[lo : hi + 1, a:b] if not horizontal else ink[a:b, lo : hi + 1].T
    return band.shape[0] == hi - lo + 1 and bool(band.any(axis=1).all())


def _line_segments(mask: np.ndarray) -> tuple[list[Segment], list[Segment]]:
    h, w = mask.shape
    max_thick = max(4, int(0.012 * min(h, w)) + 2)
    return (
        _segments(mask, max(20, int(0.3 * w)), True, max_thick),
        _segments(mask, max(20, int(0.3 * h)), False, max_thick),
    )


def _choose_axes(dark: np.ndarray, ink: np.ndarray | None = None) -> tuple[Segment, Segment | None] | None:
    """The x axis and the y axis (None: hidden) among the long straight lines of ``dark``."""
    hs, vs = _line_segments(dark)
    return _corner(hs, vs, dark.shape[0], dark.shape[1], ink)


def _corner(
    hs: list[Segment], vs: list[Segment], h: int, w: int, ink: np.ndarray | None = None
) -> tuple[Segment, Segment | None] | None:
    """The x axis and the y axis (None: hidden) among long horizontal and vertical lines ``hs`` / ``vs``.

    With ``ink`` (the caller's last resort), a pair whose lines stop short of their corner is also a corner when each
    gap (≤ 25 % of the side) is wholly covered by other ink: a data line crossing the axis near the corner breaks
    its dark low-chroma pixels there.
    """
    if not hs:
        return None
    corners: list[tuple[float, Segment, Segment]] = []
    for hseg in hs:
        for vseg in vs:
            tol = 4 + (hseg.b - hseg.a) + (vseg.b - vseg.a)
            ext_v, ext_h = 0.06 * h, 0.06 * w  # a tick mark may continue an axis line past the corner
            dh, dv = vseg.c - hseg.s, vseg.e - hseg.c
            if ink is not None:
                # the horizontal line starts right of the vertical one / the vertical ends above the horizontal
                if -0.25 * w <= dh < -tol and _covered(ink, hseg, True, vseg.b + 1, hseg.s - 1):
                    dh = 0.0
                if -0.25 * h <= dv < -tol and _covered(ink, vseg, False, vseg.e + 1, hseg.a - 1):
                    dv = 0.0
            if -tol <= dh <= tol + ext_h and -tol <= dv <= tol + ext_v:
                corners.append((float(hseg.length * vseg.length), hseg, vseg))
    if corners:
        top = max(c[0] for c in corners)
        # of (nearly) equally long pairs the lowest horizontal line is the x axis: a flat data baseline just above
        # the axis, as long as the axis, also meets the y axis within the tick-mark allowance
        best = max((c for c in corners if c[0] >= 0.98 * top), key=lambda c: (c[1].c, c[0]))
        return best[1], best[2]
    # no L corner: the lowest long horizontal line (hidden y axis)
    hseg = max(hs, key=lambda s: (s.length >= 0.5 * w, s.c))
    return hseg, None


def _strip_chars(ink: np.ndarray, region: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    x0, y0, x1, y1 = region
    if x1 <= x0 or y1 <= y0:
        return []
    sub = ink[y0:y1, x0:x1]
    comps = [(a + x0, b + y0, c + x0, d + y0) for a, b, c, d in _components(sub)]
    return [c for c in comps if (c[3] - c[1]) < 0.25 * ink.shape[0] and (c[2] - c[0]) < 0.5 * ink.shape[1]]


def _strip_words(ink: np.ndarray, region: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    return group_words(_strip_chars(ink, region))


def _even(darkness: np.ndarray, seg: Segment, horizontal: bool) -> bool:
    """A drawn line's darkness (summed across its thickness) is about the same all along it: ≥ 90 % of its positions
    have at least half the median. The aligned left edge of a text block or a row of small print, which the
    hairline mask can also join into a long straight run, is dark only where letters are (measured on shrunk
    dev panels: axes ≥ 0.97, text margins 0.6–0.7)."""
    band = (
        darkness[seg.a : seg.b + 1, seg.s : seg.e + 1]
        if horizontal
        else darkness[seg.s : seg.e + 1, seg.a : seg.b + 1].T
    )
    prof = band.sum(axis=0)
    med = float(np.median(prof))
    return med > 0 and float(np.mean(prof >= 0.5 * med)) >= 0.9


def _axis_lines(px: _Pixels, ink: np.ndarray) -> tuple[tuple[Segment, Segment | None] | None, np.ndarray]:
    """The x and y axis lines and the mask they were found in (tick marks are read from the same mask).

    Dark lines first. A corner whose x axis spans less than 70 % of the image width or whose y axis spans less than
    60 % of its height (the x labels and title take a quarter to a third of a small panel's height) is not taken at
    once (in a shrunk figure the axes can be pale while a black data baseline and a tall peak meet in a smaller
    "corner"): the masks below are tried in turn — lighter single pixels (hairlines drawn grey), then corners whose
    gap near the corner is covered by other ink (a data line over the axis), then hairlines split over two pixel
    rows/columns — and of the corners found the earliest wins unless a later one is at least 1.5× as large (length ×
    length). Last, a y axis reaching below its x axis may meet a paler, lower line of about the same length: that
    is the x axis (the chosen one was a flat data baseline) — :func:`_lower_x_axis`.
    """
    h, w = px.h, px.w

    def spans(c: tuple[Segment, Segment | None] | None) -> bool:
        return c is not None and c[1] is not None and c[0].length >= 0.7 * w and c[1].length >= 0.6 * h

    first = _corner(*px.segments(0), h, w)
    found: list[tuple[tuple[Segment, Segment | None], np.ndarray]] = []
    if first is not None and first[1] is not None:
        found.append((first, px.mask(0)))

    def even(c: tuple[Segment, Segment | None]) -> bool:
        """Both lines evenly dark (:func:`_even`); asked of the corners the session-8 steps add."""
        return _even(px.darkness(), c[0], True) and (c[1] is None or _even(px.darkness(), c[1], False))

    if not spans(first):
        # (mask: 0 dark, 1 light, 2 faint; bridge gaps covered by other ink)
        for k, bridge in ((1, False), (0, True), (1, True), (2, False), (2, True)):
            c = _corner(*px.segments(k), h, w, ink if bridge else None)
            if c is not None and c[1] is not None and (k, bridge) != (1, False) and not even(c):
                c = None
            if c is not None and c[1] is not None:
                found.append((c, px.mask(k)))
                if spans(c):
                    break
    if not found:
        return first, px.mask(0)  # the x axis alone (hidden y axis)

    def size(c: tuple[Segment, Segment | None]) -> float:
        return float(c[0].length * (c[1].length if c[1] is not None else 0))

    best = found[0]
    for cand in found[1:]:
        if size(cand[0]) >= 1.5 * size(best[0]):
            best = cand
    (xs, ys), mask = best
    assert ys is not None
    lower = _lower_x_axis(xs, ys, px)
    if lower is not None and even((lower[0], None)):
        return (lower[0], ys), lower[1]
    return best


def _lower_x_axis(xs: Segment, ys: Segment, px: _Pixels) -> tuple[Segment, np.ndarray] | None:
    """A distinct horizontal line below ``xs`` that the y axis ``ys`` reaches, meeting it in a corner, at least 90 %
    as long as ``xs``: the x axis, when ``xs`` is a flat data baseline above a paler axis (the lowest such line in
    the first of the lighter masks showing one). Looked for only when the y axis runs on below ``xs`` by more than
    the corner tolerance."""
    tol = 4 + (xs.b - xs.a) + (ys.b - ys.a)
    if ys.e - xs.c <= tol:
        return None
    for k in (1, 2):
        cands = [
            s
            for s in px.segments(k)[0]
            if s.a > xs.b + 1
            and s.length >= 0.9 * xs.length
            and abs(ys.c - s.s) <= tol + 0.06 * px.w
            and -tol <= ys.e - s.c <= tol + 0.06 * px.h
        ]
        if cands:
            return max(cands, key=lambda s: s.c), px.mask(k)
    return None


def _title_below_labels(labels: list[TextBox], title: list[TextBox]) -> tuple[list[TextBox], list[TextBox]]:
    """With no x title found, words among the label-row words that lie wholly below the numeric labels are the
    title (in small print the title sits within the label row's allowance, 1.5 text heights below the axis)."""
    if any(t.text and t.score > 0.4 for t in title):
        return labels, title
    nums = [t for t in labels if parse_number(t.text) != (None, None)]
    if len(nums) < 2:
        return labels, title
    bottom = max(t.box[3] for t in nums)
    below = [t for t in labels if t not in nums and t.box[1] >= bottom and t.score > 0.4 and len(t.text) >= 3]
    if not below:
        return labels, title
    return [t for t in labels if t not in below], below


def find_axes(rgb: np.ndarray, y_title_needed: Callable[[str], bool] | None = None) -> Axes | None:
    """The axes rectangle, tick marks, and both axes read and calibrated.

    With ``y_title_needed`` (the ingest path, which only needs the x calibration: the spectra collection's vectors
    are invariant to a linear y calibration), the y tick labels and the "1e6" multiplier are not read (y stays
    relative) and the y title is read only when ``y_title_needed(x_title)`` says the kind depends on it.
    """
    h, w = rgb.shape[:2]
    bg = background_color(rgb)
    ink = ink_mask(rgb, bg)
    px = _Pixels(rgb, bg)
    chosen, dark = _axis_lines(px, ink)
    if chosen is None:
        return None
    xs, ys = chosen
    thick = xs.b - xs.a + 1
    if ys is not None:
        x0, y0, x1, y1 = int(round(ys.c)), ys.s, xs.e, int(round(xs.c))
    else:
        x0, x1, y1 = xs.s, xs.e, int(round(xs.c))
        rows = np.flatnonzero(ink[: y1 - thick - 1, x0 : x1 + 1].any(axis=1))
        y0 = int(rows.min()) if rows.size else 0
    if x1 - x0 < 20 or y1 - y0 < 20:
        return None
    # tick marks are drawn thinner than the axis lines: in a shrunk figure they come out grey. They are read from the
    # axes' mask, and from it joined with the lighter single-pixel one when it shows fewer than two (here) or when
    # the tick labels fit those better (after reading them, below)
    light_ticks: list[np.ndarray] = []

    def lighter(k: int = 0) -> np.ndarray:
        """k = 0: the axes' mask | lighter single pixels; k = 1: | hairlines split over two pixels too."""
        if not light_ticks:
            light_ticks.append(dark | px.dark(185.0))
        if k == 1 and len(light_ticks) == 1:
            light_ticks.append(light_ticks[0] | px.faint())
        return light_ticks[k]

    def ticks_of(seg: Segment, horizontal: bool, lo: int, hi: int) -> tuple[list[float], int, int]:
        found = find_ticks(dark, seg, horizontal, lo, hi)
        if len(found[0]) < 2:
            again = find_ticks(lighter(), seg, horizontal, lo, hi)
            if len(again[0]) >= 2:
                return again
        return found

    xticks, x_out, x_in = ticks_of(xs, True, x0 - 2, x1 + 2)
    if ys is not None:
        yticks, y_out, y_in = ticks_of(ys, False, y0 - 2, y1 + 2)
    else:
        yticks, y_out, y_in = [], 0, 0

    # ---- x labels: words below the axis (+ outward ticks)
    below_top = xs.b + 1 + x_out + 1
    words = _strip_words(ink, (0, below_top, w, h))
    # label-sized words: estimate text height from the words nearest the x axis
    near = [b for b in words if b[1] - below_top < 0.12 * h]
    text_h = float(np.median([b[3] - b[1] + 1 for b in near])) if near else max(8.0, 0.03 * h)
    ywords: list[tuple[int, int, int, int]] = []
    title_chars: list[tuple[int, int, int, int]] = []
    if ys is not None:
        left_right = ys.a - 1 - y_out - 1
        chars = _strip_chars(ink, (0, max(0, y0 - 12), max(0, left_right), min(h, y1 + 12)))
        # rotated text (the y title) stacks its letters vertically: find tall stacks among the characters first,
        # so that a title letter beside a tick label does not join it into one word
        tb = [(b[1], b[0], b[3], b[2]) for b in chars]
        vgroups = [(b[1], b[0], b[3], b[2]) for b in group_words(tb, gap_factor=0.8)]
        tall = [g for g in vgroups if (g[3] - g[1]) > 2.5 * text_h and (g[3] - g[1]) > 2 * (g[2] - g[0])]

        def in_tall(b: tuple[int, int, int, int]) -> bool:
            return any(g[0] <= b[0] and b[2] <= g[2] and g[1] <= b[1] and b[3] <= g[3] for g in tall)

        title_chars = [c for c in chars if in_tall(c)]
        ywords = group_words([c for c in chars if not in_tall(c)])
        ywords = [b for b in ywords if (b[1] + b[3]) / 2 < y1 + 2]  # below the x axis: x labels
    words = [b for b in words if (b[3] - b[1] + 1) >= 0.4 * text_h]
    xlab = [
        b for b in words if b[1] - below_top <= 1.5 * text_h and b[2] >= x0 - 3 * text_h and b[0] <= x1 + 3 * text_h
    ]
    xtitle_boxes = [b for b in words if b not in xlab and b[1] - below_top <= 6 * text_h]
    # y labels: words right-aligned near the axis; the rest further left is the (rotated) title
    ylab: list[tuple[int, int, int, int]] = []
    ytitle_boxes: list[tuple[int, int, int, int]] = []
    if ys is not None and (ywords or title_chars):
        left_right = ys.a - 1 - y_out - 1
        ylab = [b for b in ywords if left_right - b[2] <= 1.2 * text_h and (b[3] - b[1]) <= 2.2 * text_h]
        rest = [b for b in ywords if b not in ylab] + title_chars
        if title_chars:
            lab_left = min(b[0] for b in ylab) if ylab else left_right
            tc = [c for c in title_chars if c[2] < lab_left + 2]
            if tc:
                ytitle_boxes = [
                    (min(b[0] for b in tc), min(b[1] for b in tc), max(b[2] for b in tc), max(b[3] for b in tc))
                ]
        elif rest:
            xs_max = max(b[2] for b in ylab) if ylab else left_right
            lab_left = min(b[0] for b in ylab) if ylab else left_right
            rest = [b for b in rest if b[2] < lab_left + 2 and b[2] <= xs_max]
            if rest:
                ytitle_boxes = [
                    (min(b[0] for b in rest), min(b[1] for b in rest), max(b[2] for b in rest), max(b[3] for b in rest))
                ]
    # merge x title words into one line
    if xtitle_boxes:
        top_row = min(b[1] for b in xtitle_boxes)
        row = [b for b in xtitle_boxes if b[1] <= top_row + text_h]
        xtitle_boxes = [
            (min(b[0] for b in row), min(b[1] for b in row), max(b[2] for b in row), max(b[3] for b in row))
        ]
    # multiplier text ("1e6") above the top-left of the box
    mult_boxes = _strip_words(
        ink,
        (max(0, x0 - 2 * int(text_h)), max(0, y0 - int(2.5 * text_h)), min(w, x0 + int(6 * text_h)), max(0, y0 - 1)),
    )
    if y_title_needed is None:
        all_boxes = xlab + xtitle_boxes + ylab + ytitle_boxes + mult_boxes
        rot = [False] * (len(xlab) + len(xtitle_boxes) + len(ylab))
        rot += [True] * len(ytitle_boxes) + [False] * len(mult_boxes)
        read = read_words(rgb, all_boxes, rot)
        n1 = len(xlab)
        n2 = n1 + len(xtitle_boxes)
        n3 = n2 + len(ylab)
        n4 = n3 + len(ytitle_boxes)
        xl, xt, yl, yt, mt = read[:n1], read[n1:n2], read[n2:n3], read[n3:n4], read[n4:]
        xl, xt = _title_below_labels(xl, xt)
    else:
        read = read_words(rgb, xlab + xtitle_boxes)
        xl, xt, yl, mt = read[: len(xlab)], read[len(xlab) :], [], []
        xl, xt = _title_below_labels(xl, xt)
        yt = []
        if ytitle_boxes and y_title_needed(" ".join(t.text for t in xt if t.score > 0.4)):
            yt = read_words(rgb, ytitle_boxes, [True] * len(ytitle_boxes))
            read = read + yt

    def calibrate(labels: list[TextBox], ticks: list[float], horizontal: bool, span: float) -> AxisInfo:
        info = AxisInfo(tick_marks=ticks, labels=labels)
        pairs = []
        used: list[TextBox] = []
        for tb in labels:
            if tb.score < 0.6:
                continue
            plain, pw = parse_number(tb.text)
            if plain is None and pw is None:
                continue
            c = tb.cx if horizontal else tb.cy
            if ticks:
                j = int(np.argmin([abs(t - c) for t in ticks]))
                size = (tb.box[2] - tb.box[0]) / 2 + 3 if horizontal else tb.h / 2 + 3
                if abs(ticks[j] - c) <= max(4.0, size):
                    c = ticks[j]
            pairs.append((c, plain, pw))
            used.append(tb)
        fit = fit_axis(pairs, span)
        info.fit = fit
        if fit is not None:
            for i in fit.inliers:
                px, plain, pw = pairs[i]
                v = (
                    pw
                    if (
                        fit.scale == "log"
                        and plain is not None
                        and pw is not None
                        and abs(np.log10(max(plain, 1e-300)) - (fit.a * px + fit.b)) > 0.2
                    )
                    else plain
                )
                if v is None:
                    v = pw
                info.ticks.append((float(v if v is not None else 0.0), float(px)))
            # a decimal point lost in small print ("1.4" read "14"): an outlier whose value with a point put back
            # lands on the fitted line within tolerance is that value (it is then a reading, not a guess)
            if fit.scale == "linear":
                tol = max(2.5, 0.012 * span)
                inl = set(fit.inliers)
                for i, (px, plain, _pw) in enumerate(pairs):
                    if i in inl or plain is None or plain != int(plain) or abs(plain) < 10:
                        continue
                    digits = str(int(abs(plain)))
                    for k in range(1, len(digits)):
                        alt = float(digits[:k] + "." + digits[k:]) * (1 if plain > 0 else -1)
                        if abs(float(fit.pixel(alt)) - px) <= tol:
                            info.ticks.append((alt, float(px)))
                            break
            info.ticks.sort(key=lambda t: t[1])
        return info

    def calibrated(
        labels: list[TextBox], ticks: list[float], seg: Segment | None, horizontal: bool, lo: int, hi: int
    ) -> AxisInfo:
        info = calibrate(labels, ticks, horizontal, float(hi - lo))
        fit = info.fit
        numeric = sum(1 for t in labels if t.score >= 0.6 and parse_number(t.text) != (None, None))
        if seg is None or numeric < 2 or (fit is not None and len(fit.inliers) == numeric and fit.residual_px <= 1.0):
            return info
        for k in (0, 1, 2):
            # lighter tick masks; then the labels' own centres (a label snapped to a minor tick beside its own
            # hairline major tick, which no mask shows, is off by the minor spacing)
            marks = find_ticks(lighter(k), seg, horizontal, lo - 2, hi + 2)[0] if k < 2 else []
            alt = calibrate(labels, marks, horizontal, float(hi - lo))
            if k == 2:
                alt.tick_marks = info.tick_marks  # the marks still are what the lines step erases
            if alt.fit is not None and (
                info.fit is None
                or (len(alt.fit.inliers), -alt.fit.residual_px) > (len(info.fit.inliers), -info.fit.residual_px)
            ):
                info = alt
        return info

    xinfo = calibrated(xl, xticks, xs, True, x0, x1)
    yinfo = calibrated(yl, yticks, ys, False, y0, y1)
    xinfo.title = " ".join(t.text for t in xt if t.score > 0.4)
    yinfo.title = " ".join(t.text for t in yt if t.score > 0.4)
    for mb in mt:
        mult = parse_multiplier(mb.text)
        if mult is not None and mb.score > 0.5:
            yinfo.multiplier = mult
    ax = Axes((x0, y0, x1, y1), xinfo, yinfo, xs, ys, text_h, thick)
    ax.tick_len_in = {"x": x_in, "y": y_in}
    ax.texts = [t for t in read if t.text]
    ax.meta = {"x_tick_out": x_out, "y_tick_out": y_out}
    return ax


def axis_px_tolerance(span: float) -> float:
    return max(2.5, 0.012 * span)


def nice_round(v: float) -> float:
    if v == 0 or not math.isfinite(v):
        return v
    d = 6 - int(math.floor(math.log10(abs(v))))
    return round(v, max(0, d))
