"""Synthetic microscopy panels with drawn scale bars and rendered labels, with exact ground truth.

Backgrounds are real-looking: scikit-image's bundled sample images (micrographs, textures, photos) and generated
textures (noise, particles, atomic lattices). Bars are anti-aliased at sub-pixel lengths; labels use varied fonts,
sizes, colours and positions (above, below, beside; optional backing box; optional end ticks); the panel may be
blurred, rescaled and JPEG-compressed. Two disjoint configurations:

* ``split="tune"``: fonts DejaVu Sans / Sans Bold / Serif, backgrounds set A — used while developing.
* ``split="heldout"``: other fonts (DejaVu Sans Mono / Condensed, STIX, Pillow's default), other backgrounds (set B)
  and other seeds — only for the reported numbers.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from matsearch.indexer.figures.units import to_nm

_DEJAVU = "/usr/share/fonts/truetype/dejavu"


def _mpl_fonts() -> str:
    try:
        import matplotlib

        return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    except ImportError:  # pragma: no cover
        return ""


def _font_paths(split: str) -> list[str | None]:
    mpl = _mpl_fonts()
    if split == "tune":
        cands: list[str | None] = [
            f"{_DEJAVU}/DejaVuSans.ttf",
            f"{_DEJAVU}/DejaVuSans-Bold.ttf",
            f"{_DEJAVU}/DejaVuSerif.ttf",
        ]
    else:
        cands = [
            f"{_DEJAVU}/DejaVuSansMono.ttf",
            f"{_DEJAVU}/DejaVuSansCondensed-Bold.ttf",
            f"{mpl}/STIXGeneral.ttf",
            f"{mpl}/STIXGeneralBol.ttf",
            None,  # Pillow's built-in scalable font
        ]
    # Fall back to matplotlib's DejaVu copy when the system one is missing.
    out: list[str | None] = []
    for c in cands:
        if c is None or os.path.exists(c):
            out.append(c)
        elif mpl and os.path.exists(os.path.join(mpl, os.path.basename(c))):
            out.append(os.path.join(mpl, os.path.basename(c)))
    return out or [None]


def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def _sample(name: str) -> np.ndarray:
    import skimage.data as d

    arr = np.asarray(getattr(d, name)())
    if arr.ndim == 3:
        arr = arr[:, :, :3]
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        arr = (255 * (arr - arr.min()) / max(1e-9, float(arr.max() - arr.min()))).astype(np.uint8)
    return arr


SAMPLES = {
    "tune": ("camera", "coins", "moon", "brick", "grass", "gravel", "cell"),
    "heldout": ("hubble_deep_field", "immunohistochemistry", "retina", "rocket", "clock", "page", "astronaut"),
}


def _texture(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    from scipy import ndimage

    if kind == "noise":
        a = ndimage.gaussian_filter(rng.normal(size=(h, w)), rng.uniform(1, 6))
    elif kind == "particles":
        a = np.zeros((h, w))
        for _ in range(int(rng.integers(10, 80))):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 30)
            yy, xx = np.ogrid[:h, :w]
            a += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) * rng.uniform(0.5, 1.5)
        a += rng.normal(scale=0.08, size=(h, w))
    else:  # lattice (HRTEM-like)
        yy, xx = np.mgrid[:h, :w].astype(float)
        p, th = rng.uniform(5, 14), rng.uniform(0, math.pi)
        a = np.cos(2 * math.pi * (xx * math.cos(th) + yy * math.sin(th)) / p) + np.cos(
            2 * math.pi * (-xx * math.sin(th) + yy * math.cos(th)) / (p * rng.uniform(0.8, 1.2))
        )
        a += rng.normal(scale=0.6, size=(h, w))
        a = ndimage.gaussian_filter(a, 1.0)
    a = (a - a.min()) / max(1e-9, float(a.max() - a.min()))
    lo, hi = rng.uniform(0.0, 0.35), rng.uniform(0.6, 1.0)
    return (255 * (lo + (hi - lo) * a)).astype(np.uint8)


def background(rng: np.random.Generator, split: str, h: int, w: int) -> Image.Image:
    """A real-looking panel background of size (w, h)."""
    if rng.random() < 0.6:
        arr = _sample(str(rng.choice(SAMPLES[split])))
        sh, sw = arr.shape[:2]
        f = max(h / sh, w / sw, 1.0) * rng.uniform(1.0, 1.6)
        im = Image.fromarray(arr).resize((max(w, int(sw * f)), max(h, int(sh * f))), Image.Resampling.BILINEAR)
        x0 = int(rng.integers(0, im.width - w + 1))
        y0 = int(rng.integers(0, im.height - h + 1))
        im = im.crop((x0, y0, x0 + w, y0 + h))
        if im.mode != "L" and rng.random() < 0.6:
            im = im.convert("L")
        return im.convert("RGB")
    kinds = ("noise", "particles", "lattice") if split == "tune" else ("particles", "lattice", "noise")
    return Image.fromarray(_texture(rng, str(rng.choice(kinds)), h, w)).convert("RGB")


VALUES = (1, 2, 5, 10, 20, 50, 100, 200, 250, 300, 500, 0.5, 0.2, 1.5)
UNITS = (("nm", 0.55), ("μm", 0.2), ("µm", 0.08), ("um", 0.05), ("Å", 0.05), ("mm", 0.02), ("1/nm", 0.05))
COLOURS = ((255, 255, 255), (0, 0, 0), (255, 255, 0), (255, 0, 0), (0, 255, 255), (0, 255, 0), (255, 128, 0))


@dataclass
class SynthPanel:
    image: Image.Image
    truth: dict[str, Any]


def _hbar_alpha(w: int, h: int, x0: float, length: float, y0: int, thick: int) -> np.ndarray:
    """Alpha mask of a bar with exact fractional horizontal coverage at its ends."""
    xs = np.arange(w, dtype=float)
    cov = np.clip(np.minimum(xs + 1, x0 + length) - np.maximum(xs, x0), 0.0, 1.0)
    a = np.zeros((h, w))
    a[y0 : y0 + thick, :] = cov[None, :]
    return a


def make_panel(seed: int, split: str = "tune") -> SynthPanel:
    """One synthetic panel and its truth: bar bbox/length, value, unit, label text, nm/px (None if reciprocal)."""
    rng = np.random.default_rng(seed + (0 if split == "tune" else 10_000_000))
    w, h = int(rng.integers(220, 900)), int(rng.integers(200, 760))
    img = background(rng, split, h, w)
    value = float(rng.choice(VALUES))
    unit = str(rng.choice([u for u, _ in UNITS], p=np.array([p for _, p in UNITS]) / sum(p for _, p in UNITS)))
    v_txt = f"{value:g}"
    text = f"{v_txt}{'' if rng.random() < 0.15 else ' '}{unit}"
    font_path = _font_paths(split)[int(rng.integers(0, len(_font_paths(split))))]
    size = int(rng.integers(12, 38))
    font = _font(font_path, size)
    colour = COLOURS[int(rng.integers(0, len(COLOURS)))] if rng.random() < 0.45 else COLOURS[int(rng.random() < 0.3)]
    length = float(rng.uniform(0.08, 0.35) * w)
    length = max(length, 18.0)
    thick = int(rng.integers(2, 11)) if rng.random() < 0.9 else int(rng.integers(11, 16))
    draw_probe = ImageDraw.Draw(img)
    tb = draw_probe.textbbox((0, 0), text, font=font)
    tw, th = tb[2] - tb[0], tb[3] - tb[1]
    layout = str(rng.choice(["above", "below", "right", "left"], p=[0.45, 0.4, 0.1, 0.05]))
    gap = int(rng.integers(2, 10))
    if layout in ("above", "below"):
        bw_total, bh_total = max(length, tw), thick + gap + th
    else:
        bw_total, bh_total = length + gap + tw, max(thick, th)
    margin = int(rng.integers(6, 30))
    corner = str(rng.choice(["br", "bl", "tr", "tl"], p=[0.55, 0.25, 0.1, 0.1]))
    ox = w - margin - bw_total if corner[1] == "r" else margin
    oy = h - margin - bh_total if corner[0] == "b" else margin
    ox, oy = max(2.0, ox), max(2.0, oy)
    # Backing box (as many instruments and journals draw).
    box_colour = None
    if rng.random() < 0.3:
        pad = int(rng.integers(3, 10))
        box_colour = (255, 255, 255) if sum(colour) < 200 else (0, 0, 0)
        if sum(colour) >= 200 and colour != (255, 255, 255) and rng.random() < 0.5:
            box_colour = (40, 40, 40)
        ImageDraw.Draw(img).rectangle([ox - pad, oy - pad, ox + bw_total + pad, oy + bh_total + pad], fill=box_colour)
    if layout == "above":
        tx, ty = ox + (bw_total - tw) / 2, oy
        bx, by = ox + (bw_total - length) / 2, oy + th + gap
    elif layout == "below":
        bx, by = ox + (bw_total - length) / 2, oy
        tx, ty = ox + (bw_total - tw) / 2, oy + thick + gap
    elif layout == "right":
        bx, by = ox, oy + (bh_total - thick) / 2
        tx, ty = ox + length + gap, oy + (bh_total - th) / 2
    else:
        tx, ty = ox, oy + (bh_total - th) / 2
        bx, by = ox + tw + gap, oy + (bh_total - thick) / 2
    by_i = int(round(by))
    bx = float(bx + rng.uniform(0, 1))
    arr = np.asarray(img).astype(float)
    alpha = _hbar_alpha(w, h, bx, length, by_i, thick)
    ticks = rng.random() < 0.1
    if ticks:
        tick_h = thick + 6
        for xe in (bx, bx + length - 2):
            xi = int(round(xe))
            alpha[max(0, by_i - 3) : by_i + thick + 3, xi : xi + 2] = 1.0
        _ = tick_h
    arr = arr * (1 - alpha[..., None]) + np.array(colour, float)[None, None, :] * alpha[..., None]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.text((tx - tb[0], ty - tb[1]), text, font=font, fill=colour)
    truth_bbox = [bx, float(by_i), bx + length, float(by_i + thick)]
    # Degradations: blur, rescale, JPEG.
    factor = 1.0
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.9))))
    if rng.random() < 0.35:
        factor = float(rng.uniform(0.6, 0.95))
        img = img.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS)
        fx, fy = img.width / w, img.height / h
        truth_bbox = [truth_bbox[0] * fx, truth_bbox[1] * fy, truth_bbox[2] * fx, truth_bbox[3] * fy]
        length = length * fx
    if rng.random() < 0.6:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(55, 95)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    canon = {"µm": "μm", "um": "μm"}.get(unit, unit)
    nm = to_nm(value, canon)
    truth = {
        "seed": seed,
        "split": split,
        "size": [img.width, img.height],
        "bbox": [round(v, 2) for v in truth_bbox],
        "length_px": round(length, 3),
        "value": value,
        "unit": canon,
        "text": text,
        "nm_per_px": None if nm is None else nm / length,
        "font": os.path.basename(font_path) if font_path else "pillow-default",
        "font_size": size,
        "colour": list(colour),
        "layout": layout,
        "box": box_colour is not None,
        "ticks": ticks,
    }
    return SynthPanel(img, truth)
