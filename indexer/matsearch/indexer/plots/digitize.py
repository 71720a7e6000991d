"""Digitise a plot image: axes + tick calibration + lines → series in data units (the ``plot digitize`` answer).

``digitize(image, caption)`` returns the JSON contract of ``matsearch plot digitize --json`` /
``POST /v1/plots/digitize``: ``width``, ``height``, ``plot_box`` [x0, y0, x1, y1] (pixels, origin top-left),
``x_axis`` / ``y_axis`` (``label``, ``quantity``, ``unit``, ``scale``, ``ticks`` [{value, px}], and ``relative``:
true when the axis had no readable numeric ticks, so its values are fractions of the box, 0 at the bottom/left),
``kind`` (from the axis titles and the caption) and ``series`` [{label, color, x, y, confidence}] — one y per pixel
column of the box, ``null`` where the line is hidden. ``digitize_full`` also returns the pixel rows per series
(for evaluation and for the ``spectra`` collection).

Images whose longer side exceeds ``WORK_SIDE`` pixels (300-dpi document renders, 2400–2800 px) are read at a working
size (area-averaged down to ``WORK_SIDE``) and every pixel position in the answer is mapped back to the original
image: ``plot_box``, tick ``px``, ``px_x0``/``px_y``, and one value per ORIGINAL pixel column (interpolated between
working columns). The cost of a panel is then bounded by the working size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.core.errors import MatsearchError
from matsearch.indexer.plots.axes import (
    Axes,
    TextBox,
    background_color,
    find_axes,
    group_words,
    ink_mask,
    read_words,
    split_title,
)
from matsearch.indexer.plots.lines import Track, extract_lines

__all__ = ["digitize", "digitize_full", "detect_kind", "NoPlotFound", "WORK_SIDE"]

# Longer image side the digitiser works at; larger images are downsampled (the synthetic sets tuned on are 300–1200 px).
WORK_SIDE = 1400


class NoPlotFound(MatsearchError):
    """The image has no axes rectangle we can calibrate (not a plot, or a bar chart without a numeric x axis)."""

    status = 422


_KIND_RULES: list[tuple[str, str, str | None]] = [
    # (kind, x-title pattern, caption pattern that must also match, or None)
    ("xrd", r"2\s*[θΘϑ0OeQ]|2\s*theta|two.?theta|diffraction angle", None),
    ("raman", r"raman", None),
    ("xps", r"binding\s*energy", None),
    ("eds", r"energy\s*\(?\s*kev", r"\b(eds|edx|edxs|energy.dispersive)\b"),
    ("xas", r"(photon\s*)?energy\s*\(?\s*e\s*v", r"\b(xas|xanes|exafs|nexafs|x-ray absorption|absorption edge)\b"),
    ("ftir", r"wave\s*number|cm\s*[-−]?\s*1", r"\b(ftir|ft-ir|infrared|ir spectr)"),
    ("raman", r"cm\s*[-−]?\s*1|wave\s*number", r"raman"),
    ("uv-vis", r"wavelength\s*\(?\s*nm", r"\b(uv|vis|absorb|absorption|absorbance)"),
]


def detect_kind(x_title: str, y_title: str = "", caption: str = "") -> str | None:
    """Spectrum kind from the axis titles and the caption; None when there is nothing to go on."""
    xt, yt, cap = x_title.lower(), y_title.lower(), caption.lower()
    if not (xt or yt or cap):
        return None
    for kind, xpat, cpat in _KIND_RULES:
        if re.search(xpat, xt) and (cpat is None or re.search(cpat, cap) or re.search(cpat, yt)):
            return kind
    if re.search(r"\b(xrd|x-ray diffraction)\b", cap) and re.search(r"intensity|counts", yt) and not xt:
        return "xrd"
    return "other" if (xt or yt) else None


def _inside_text(rgb: np.ndarray, ink: np.ndarray, text_h: float) -> list[TextBox]:
    """Text-sized ink components inside the box, grouped into words and read; only confident words are kept."""
    n, _lab, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    chars = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if 0.55 * text_h <= h <= 1.6 * text_h and w <= 1.6 * text_h and area >= 4:
            chars.append((x, y, x + w - 1, y + h - 1))
    words = group_words(chars, gap_factor=0.5)
    # a one-letter word ("A".."E" labelling stacked patterns) is read only beside a legend sample: a short horizontal
    # stroke just left of it at its middle row (wider words are read wherever they are)
    words = [b for b in words if (b[2] - b[0] + 1) >= 0.8 * text_h or _has_sample(ink, b, text_h)]
    if not words or len(words) > 24:
        return []
    read = read_words(rgb, words)
    return [t for t in read if t.score >= 0.75 and re.search(r"[A-Za-z0-9]", t.text)]


def _sample_left(ink: np.ndarray, box: tuple[int, int, int, int], text_h: float) -> tuple[int, int, int, int] | None:
    """The longest horizontal ink run (>= 1.2 text heights) ending within 1.5 text heights left of a word, at the
    word's middle row ± 2: (length, row, first column, last column), or None."""
    h = ink.shape[0]
    x0, y0, _x1, y1 = box
    cy = int(round((y0 + y1) / 2))
    lo = max(0, int(x0 - 5 * text_h))
    best = None
    for r in range(max(0, cy - 2), min(h, cy + 3)):
        row = ink[r, lo : max(lo, x0 - 1)]
        idx = np.flatnonzero(row)
        if idx.size == 0:
            continue
        groups = np.split(idx, np.flatnonzero(np.diff(idx) > 2) + 1)
        g = groups[-1]
        length = int(g[-1] - g[0] + 1)
        if length >= 1.2 * text_h and (x0 - (lo + g[-1])) <= 1.5 * text_h:
            if best is None or length > best[0]:
                best = (length, r, lo + int(g[0]), lo + int(g[-1]))
    return best


def _has_sample(ink: np.ndarray, box: tuple[int, int, int, int], text_h: float) -> bool:
    return (box[2] - box[0] + 1) >= 0.3 * text_h and _sample_left(ink, box, text_h) is not None


def _legend_swatches(
    rgb: np.ndarray, ink: np.ndarray, texts: list[TextBox], text_h: float
) -> list[tuple[tuple[int, int, int, int], np.ndarray, str]]:
    """Short horizontal line samples just left of a text: (box, colour, label)."""
    out = []
    for t in texts:
        best = _sample_left(ink, t.box, text_h)
        if best is not None:
            _, r, a, b = best
            col = np.median(rgb[r, a : b + 1], axis=0)
            out.append(((a, r - 3, b, r + 3), col, t.text))
    return out


def _series_label(track: Track, swatches: list[tuple[tuple[int, int, int, int], np.ndarray, str]]) -> str | None:
    best = None
    for _box, col, text in swatches:
        d = float(np.abs(np.asarray(track.color, dtype=float) - col).max())
        if d < 60 and (best is None or d < best[0]):
            best = (d, text)
    return best[1] if best else None


def _axis_json(info: Any, title: str, relative: bool, f: float = 1.0) -> dict[str, Any]:
    """``f``: original pixels per working pixel along this axis (tick positions are given in the original image)."""
    quantity, unit = split_title(title)
    return {
        "label": title or None,
        "quantity": quantity,
        "unit": unit,
        "scale": info.fit.scale if info.fit is not None else "linear",
        "ticks": [{"value": float(v), "px": round(float(_to_orig(p, f)), 2)} for v, p in info.ticks],
        "relative": relative,
    }


def _to_orig(p: Any, f: float) -> Any:
    """A working-image pixel position (pixel centres at integers) in original-image pixels (``f`` = orig/working)."""
    return p if f == 1.0 else (np.asarray(p, dtype=float) + 0.5) * f - 0.5


def _to_work(p: Any, f: float) -> Any:
    return p if f == 1.0 else (np.asarray(p, dtype=float) + 0.5) / f - 0.5


def _working_image(rgb: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """The image the digitiser reads (area-averaged down so its longer side is ``max_side``) and the x/y factors."""
    h, w = rgb.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return rgb, 1.0, 1.0
    s = max_side / max(h, w)
    ws, hs = max(1, int(round(w * s))), max(1, int(round(h * s)))
    small = cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), w / ws, h / hs


def _resample_track(py: np.ndarray, fx: float, c0: int) -> tuple[np.ndarray, int]:
    """Working-column rows ``py`` (first working column ``c0``) at every original column those columns cover.

    Linear between two known neighbours; the nearer one where only one is known (gaps stay gaps). Returns the rows
    (working-pixel units) and the first original column.
    """
    n = len(py)
    a = int(np.ceil(_to_orig(c0 - 0.5, fx) - 1e-9))
    b = int(np.floor(_to_orig(c0 + n - 0.5, fx) - 1e-9))
    co = np.arange(a, b + 1, dtype=float)
    p = np.clip(_to_work(co, fx) - c0, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(p).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = p - i0
    v0, v1 = py[i0], py[i1]
    lin = (1 - w) * v0 + w * v1
    near = np.where(w < 0.5, v0, v1)
    out = np.where(np.isnan(v0) | np.isnan(v1), near, lin)
    return out, a


def y_title_needed(caption: str) -> Callable[[str], bool]:
    """For the ingest path: does the kind of a plot with this caption and a given x title depend on the y title?

    Only for the rules whose x title needs a confirming word ("Wavelength (nm)" + "Absorbance" → uv-vis) that the
    caption does not give, and for plots without a readable x title.
    """
    cap = caption.lower()

    def need(x_title: str) -> bool:
        xt = x_title.lower()
        if not xt.strip():
            return True
        kind = detect_kind(x_title, "", caption)
        if kind not in (None, "other"):
            return False
        return any(c is not None and re.search(x, xt) and not re.search(c, cap) for _k, x, c in _KIND_RULES)

    return need


def digitize_full(
    image: Image.Image | np.ndarray, caption: str = "", ingest: bool = False, max_side: int | None = WORK_SIDE
) -> dict[str, Any]:
    """The answer plus, per series, ``px_x0`` (first column) and ``px_y`` (pixel rows) for evaluation.

    ``ingest=True`` reads what the ``spectra`` collection needs and no more: the x axis (ticks and title), the y
    title only where the kind depends on it, no y tick labels (y comes out relative: ``y_axis.relative`` is true;
    the collection's vectors are scaled to the series' own range, so a linear y calibration changes none of them),
    and no lines at all when the x axis could not be calibrated (such series are not indexed). ``max_side``: the
    working size (see the module docstring; None reads the image at full size).
    """
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")  # transparent background (docs PNGs): onto white, not black
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        rgb = np.asarray(image.convert("RGB"))
    else:
        rgb = np.asarray(image)[:, :, :3]
    rgb = np.ascontiguousarray(rgb.astype(np.uint8))
    if min(rgb.shape[:2]) < 40:
        raise NoPlotFound(f"image is {rgb.shape[1]}x{rgb.shape[0]} pixels: too small for a plot")
    work, fx, fy = _working_image(rgb, max_side)
    ax = find_axes(work, y_title_needed(caption) if ingest else None)
    if ax is None:
        raise NoPlotFound("no plot axes found in the image (no pair of long straight axis lines)")
    out = _digitize_with_axes(work, ax, caption, lines=not (ingest and ax.x.fit is None), scale=(fx, fy))
    out["width"], out["height"] = int(rgb.shape[1]), int(rgb.shape[0])
    return out


def digitize(image: Image.Image | np.ndarray, caption: str = "", ingest: bool = False) -> dict[str, Any]:
    """The ``plot digitize`` answer (see the module docstring; ``ingest``: see :func:`digitize_full`)."""
    out = digitize_full(image, caption, ingest)
    for s in out["series"]:
        s.pop("px_y", None)
        s.pop("px_x0", None)
    return out


def _digitize_with_axes(
    rgb: np.ndarray, ax: Axes, caption: str, lines: bool = True, scale: tuple[float, float] = (1.0, 1.0)
) -> dict[str, Any]:
    """The answer for found axes; ``lines=False`` (ingest, x axis not calibrated: nothing to index) skips the lines.

    ``scale``: original pixels per pixel of ``rgb`` (x, y) when ``rgb`` is a downsampled working image; pixel
    positions in the answer are then original-image ones and there is one value per original column.
    """
    fx, fy = scale
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = ax.plot_box
    m = max(1, ax.thickness // 2 + 1)
    top = y0 + (m if ax.y_seg is not None else 0)
    bx0, by0, bx1, by1 = x0 + m, top, x1 - m, y1 - m
    if ax.y_seg is None:
        bx0 = x0
    crop = rgb[by0 : by1 + 1, bx0 : bx1 + 1]
    bg = background_color(rgb)
    ink = ink_mask(crop, bg)
    # inward tick marks near the axes are not data
    tl = ax.tick_len_in
    if tl.get("x"):
        for t in ax.x.tick_marks:
            c = int(round(t)) - bx0
            ink[max(0, ink.shape[0] - tl["x"] - 1) :, max(0, c - 1) : c + 2] = False
    if tl.get("y"):
        for t in ax.y.tick_marks:
            r = int(round(t)) - by0
            ink[max(0, r - 1) : r + 2, : tl["y"] + 1] = False
    exclude = np.zeros_like(ink)
    texts = _inside_text(crop, ink, ax.text_h) if lines else []
    swatches = _legend_swatches(crop, ink, texts, ax.text_h)
    pad = 2
    for tbox in texts:
        a, b, c, d = tbox.box
        exclude[max(0, b - pad) : d + pad + 1, max(0, a - pad) : c + pad + 1] = True
    for (a, b, c, d), _col, _txt in swatches:
        exclude[max(0, b - pad) : d + pad + 1, max(0, a - pad) : c + pad + 1] = True
    if len(swatches) >= 2:  # a legend block: exclude its whole bounding box
        boxes = [s[0] for s in swatches] + [t.box for t in texts if any(t.text == s[2] for s in swatches)]
        a, b = min(q[0] for q in boxes), min(q[1] for q in boxes)
        c, d = max(q[2] for q in boxes), max(q[3] for q in boxes)
        e = int(0.6 * ax.text_h)
        exclude[max(0, b - e) : d + e + 1, max(0, a - e) : c + e + 1] = True
    tracks = extract_lines(crop, ink, exclude) if lines else []
    xfit, yfit = ax.x.fit, ax.y.fit
    cols = np.arange(bx0, bx1 + 1, dtype=float)
    xvals = xfit.value(cols) if xfit is not None else (cols - x0) / max(1, x1 - x0)
    series = []
    for tr in tracks:
        yrow = tr.y + by0
        ok = ~np.isnan(yrow)
        idx = np.flatnonzero(ok)
        lo, hi = int(idx[0]), int(idx[-1])
        yrow, ok, xv = yrow[lo : hi + 1], ok[lo : hi + 1], xvals[lo : hi + 1]
        c0 = bx0 + lo
        if fx != 1.0 or fy != 1.0:  # one value per original column, rows interpolated in working pixels
            yrow, c0 = _resample_track(yrow, fx, c0)
            ok = ~np.isnan(yrow)
            wc = _to_work(np.arange(c0, c0 + len(yrow), dtype=float), fx)
            xv = xfit.value(wc) if xfit is not None else (wc - x0) / max(1, x1 - x0)
        if yfit is not None:
            yv = yfit.value(np.where(ok, yrow, 0.0)) * ax.y.multiplier
        else:
            yv = (y1 - np.where(ok, yrow, 0.0)) / max(1, y1 - y0)
        prow = _to_orig(yrow, fy)
        tr.label = _series_label(tr, swatches)
        series.append(
            {
                "label": tr.label,
                "color": "#{:02x}{:02x}{:02x}".format(*tr.color),
                "x": [float(v) for v in xv],
                "y": [float(v) if o else None for v, o in zip(yv, ok, strict=True)],
                "px_y": [float(v) if o else None for v, o in zip(prow, ok, strict=True)],
                "px_x0": int(c0),
                "confidence": round(tr.confidence * (1.0 if xfit is not None else 0.5), 3),
            }
        )
    kind = detect_kind(ax.x.title, ax.y.title, caption)
    return {
        "width": width,
        "height": height,
        "plot_box": [int(round(float(_to_orig(v, f)))) for v, f in zip(ax.plot_box, (fx, fy, fx, fy), strict=True)],
        "x_axis": _axis_json(ax.x, ax.x.title, xfit is None, fx),
        "y_axis": _axis_json(ax.y, ax.y.title, yfit is None, fy),
        "kind": kind,
        "series": series,
    }
