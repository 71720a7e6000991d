"""Synthetic figure material with known truth: panels of each type, compound figures, particle micrographs and
hand-drawn-style sketches. Used to train the panel-type classifier and to evaluate splitting, typing and sketch
search (``bench/eval_figures.py``); every generator takes a ``numpy.random.Generator`` so splits are reproducible.

Panel types: ``microscopy`` (particles, lattices, textures from scikit-image's bundled samples, element maps),
``diffraction`` (spot patterns, rings, FFTs of lattices), ``graph`` (line plots, spectra, bars, scatter),
``illustration`` (schematics from shapes, arrows, text), ``photo`` (crops of scikit-image's colour photos) and
``other`` (tables, text blocks, colour bars).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PANEL_TYPES = ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
SHAPES = ("sphere", "cube", "rod", "star", "plate")

Rng = np.random.Generator


# ----------------------------------------------------------------------------------------------------------------
# helpers


@cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = f"{matplotlib.get_data_path()}/fonts/ttf/{name}"
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default()


def _size(rng: Rng, lo: int = 140, hi: int = 360) -> tuple[int, int]:
    w = int(rng.integers(lo, hi))
    aspect = float(rng.uniform(0.6, 1.4))
    return w, max(lo // 2, int(w * aspect))


def _to_image(arr: np.ndarray) -> Image.Image:
    a = np.clip(arr, 0, 1)
    return Image.fromarray((a * 255).astype(np.uint8)).convert("RGB")


def _blur(arr: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.asarray(gaussian_filter(arr, sigma))


def _add_scale_bar(img: Image.Image, rng: Rng) -> Image.Image:
    d = ImageDraw.Draw(img)
    w, h = img.size
    light = bool(rng.random() < 0.7)
    col = (255, 255, 255) if light else (0, 0, 0)
    bw = int(w * rng.uniform(0.12, 0.3))
    th = max(2, h // 60)
    x1, y1 = w - int(w * 0.06), h - int(h * 0.07)
    d.rectangle([x1 - bw, y1 - th, x1, y1], fill=col)
    if rng.random() < 0.5:
        txt = f"{int(rng.choice([1, 2, 5, 10, 20, 50, 100, 200, 500]))} {rng.choice(['nm', 'µm'])}"
        d.text((x1 - bw, y1 - th - 4 - max(9, h // 18)), txt, fill=col, font=_font(max(9, h // 18)))
    return img


@cache
def _sample(name: str) -> np.ndarray:
    import skimage.data as sd

    arr = np.asarray(getattr(sd, name)())
    return arr


# Bundled with scikit-image (no download): micrograph-like textures, and photos.
_GRAY_SAMPLES = ("coins", "moon", "cell", "gravel", "grass", "brick", "microaneurysms", "immunohistochemistry")
_COLOR_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "clock")


def _crop(arr: np.ndarray, rng: Rng, size: tuple[int, int]) -> np.ndarray:
    h, w = arr.shape[:2]
    tw, th = size
    s = float(rng.uniform(0.35, 1.0))
    cw, ch = max(16, int(w * s)), max(16, int(h * s * th / tw * w / h))
    cw, ch = min(cw, w), min(ch, h)
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return arr[y : y + ch, x : x + cw]


# ----------------------------------------------------------------------------------------------------------------
# particles (micrographs) and sketches


def _shape_mask(shape: str, size: int, rng: Rng, angle: float) -> Image.Image:
    """A filled silhouette of one particle (white on black), ``size`` px across."""
    s = max(8, size)
    im = Image.new("L", (s * 2, s * 2), 0)
    d = ImageDraw.Draw(im)
    c = s
    if shape == "sphere":
        d.ellipse([c - s // 2, c - s // 2, c + s // 2, c + s // 2], fill=255)
    elif shape == "cube":
        h = s // 2
        if rng.random() < 0.5:  # seen face-on: a square; else a 3-D corner view (hexagon outline)
            d.rectangle([c - h, c - h, c + h, c + h], fill=255)
        else:
            pts = [(c + h * math.cos(k * math.pi / 3 + 0.5), c + h * math.sin(k * math.pi / 3 + 0.5)) for k in range(6)]
            d.polygon(pts, fill=255)
    elif shape == "rod":
        L, r = s, max(3, s // 6)
        d.rounded_rectangle([c - L // 2 - r, c - r, c + L // 2 + r, c + r], radius=r, fill=255)
    elif shape == "star":
        n = int(rng.integers(6, 11))
        pts = []
        for k in range(2 * n):
            rad = s // 2 if k % 2 == 0 else s // 6
            a = k * math.pi / n
            pts.append((c + rad * math.cos(a), c + rad * math.sin(a)))
        d.polygon(pts, fill=255)
    elif shape == "plate":
        n = 6 if rng.random() < 0.6 else 3
        rad = s // 2
        pts = [
            (c + rad * math.cos(2 * math.pi * k / n), c + rad * 0.55 * math.sin(2 * math.pi * k / n)) for k in range(n)
        ]
        d.polygon(pts, fill=255)
    return im.rotate(angle, resample=Image.Resampling.BILINEAR)


def particle_micrograph(shape: str, rng: Rng, size: int = 256) -> Image.Image:
    """A synthetic SEM/TEM-like image of particles of one shape: shading, overlap, noise, blur, varied counts."""
    from scipy.ndimage import distance_transform_edt

    bg = float(rng.uniform(0.05, 0.45))
    arr = np.full((size, size), bg, dtype=np.float32)
    arr += _blur(rng.normal(0, 0.15, (size, size)).astype(np.float32), 8) * 0.5
    n = int(rng.integers(1, 14))
    base = int(rng.integers(size // 8, size // 3))
    for _ in range(n):
        ps = int(base * rng.uniform(0.7, 1.3))
        mask = np.asarray(_shape_mask(shape, ps, rng, float(rng.uniform(0, 180))), dtype=np.float32) / 255
        dist = distance_transform_edt(mask > 0.5).astype(np.float32)
        shade = np.clip(dist / max(1.0, dist.max()), 0, 1) ** 0.5
        bright = float(rng.uniform(0.55, 1.0))
        grad = np.linspace(1.1, 0.8, mask.shape[0])[:, None]  # light from the top
        tile = mask * (0.35 + 0.65 * shade) * bright * grad
        x = int(rng.integers(-ps // 2, size - ps))
        y = int(rng.integers(-ps // 2, size - ps))
        h, w = tile.shape
        xs, ys = max(0, x), max(0, y)
        xe, ye = min(size, x + w), min(size, y + h)
        if xe <= xs or ye <= ys:
            continue
        sub_t = tile[ys - y : ye - y, xs - x : xe - x]
        sub_m = mask[ys - y : ye - y, xs - x : xe - x]
        arr[ys:ye, xs:xe] = arr[ys:ye, xs:xe] * (1 - sub_m) + sub_t
    arr = _blur(arr, float(rng.uniform(0.5, 1.8)))
    arr += rng.normal(0, float(rng.uniform(0.02, 0.08)), arr.shape).astype(np.float32)
    img = _to_image(arr)
    if rng.random() < 0.5:
        img = _add_scale_bar(img, rng)
    return img


def hand_sketch(shape: str, rng: Rng, size: int = 256) -> Image.Image:
    """A hand-drawn-style outline drawing of a few particles: wobbly, sometimes unclosed strokes, black on white."""
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    n = int(rng.integers(1, 6))
    width = int(rng.integers(2, 5))
    for _ in range(n):
        ps = float(rng.uniform(size / 5, size / 2.5))
        cx, cy = rng.uniform(ps / 2, size - ps / 2, 2)
        ang = float(rng.uniform(0, math.pi))
        for stroke in _outline(shape, cx, cy, ps, ang, rng):
            wob = _wobble(stroke, rng, ps * 0.025)
            d.line(wob, fill=0, width=width, joint="curve")
    return img.convert("RGB")


def _outline(shape: str, cx: float, cy: float, s: float, ang: float, rng: Rng) -> list[list[tuple[float, float]]]:
    def rot(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        ca, sa = math.cos(ang), math.sin(ang)
        return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]

    r = s / 2
    if shape == "sphere":
        return [rot([(r * math.cos(t), r * math.sin(t)) for t in np.linspace(0, 2 * math.pi * 1.05, 40)])]
    if shape == "cube":
        h = r * 0.8
        front = [(-h, -h), (h, -h), (h, h), (-h, h), (-h, -h)]
        strokes = [rot(front)]
        if rng.random() < 0.6:  # perspective: back edges
            o = h * 0.5
            strokes.append(rot([(-h, -h), (-h + o, -h - o), (h + o, -h - o), (h, -h)]))
            strokes.append(rot([(h + o, -h - o), (h + o, h - o), (h, h)]))
        return strokes
    if shape == "rod":
        L, w = r, max(3.0, s / 7)
        t = np.linspace(-math.pi / 2, math.pi / 2, 10)
        right = [(L + w * math.cos(a), w * math.sin(a)) for a in t]
        left = [(-L - w * math.cos(a), -w * math.sin(a)) for a in t]
        return [rot([(-L, -w), (L, -w)] + right + [(L, w), (-L, w)] + left + [(-L, -w)])]
    if shape == "star":
        n = int(rng.integers(6, 11))
        pts = []
        for k in range(2 * n + 1):
            rad = r if k % 2 == 0 else r / 3
            a = k * math.pi / n
            pts.append((rad * math.cos(a), rad * math.sin(a)))
        return [rot(pts)]
    n = 6
    return [rot([(r * math.cos(2 * math.pi * k / n), r * 0.55 * math.sin(2 * math.pi * k / n)) for k in range(n + 1)])]


def _wobble(pts: list[tuple[float, float]], rng: Rng, amp: float) -> list[tuple[float, float]]:
    """Resample a polyline densely and add smooth low-frequency jitter (a human hand)."""
    arr = np.asarray(pts, dtype=np.float64)
    seg = np.linalg.norm(np.diff(arr, axis=0), axis=1)
    t = np.concatenate([[0], np.cumsum(seg)])
    if t[-1] <= 0:
        return pts
    n = max(8, int(t[-1] / 3))
    tt = np.linspace(0, t[-1], n)
    x = np.interp(tt, t, arr[:, 0])
    y = np.interp(tt, t, arr[:, 1])
    k = max(3, n // 6)
    noise = rng.normal(0, amp, (k, 2))
    idx = np.linspace(0, k - 1, n)
    nx = np.interp(idx, np.arange(k), noise[:, 0])
    ny = np.interp(idx, np.arange(k), noise[:, 1])
    return list(zip((x + nx).tolist(), (y + ny).tolist(), strict=True))


# ----------------------------------------------------------------------------------------------------------------
# panel types


def microscopy(rng: Rng) -> Image.Image:
    w, h = _size(rng)
    kind = rng.choice(["particles", "lattice", "stem", "texture", "texture", "map"])
    if kind == "stem":  # atomic columns: a lattice of Gaussian blobs (HAADF bright, ABF dark)
        img = _to_image(_stem_columns(rng, w, h))
    elif kind == "particles":
        img = particle_micrograph(str(rng.choice(SHAPES)), rng, size=max(w, h)).resize((w, h))
    elif kind == "lattice":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        arr = np.zeros((h, w), np.float32)
        period = float(rng.uniform(5, 14))
        for a in rng.uniform(0, math.pi, int(rng.integers(1, 4))):
            arr += np.cos(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / period)
        arr = (arr - arr.min()) / (np.ptp(arr) + 1e-6)
        arr += rng.normal(0, 0.15, arr.shape).astype(np.float32)
        arr = _blur(arr, 1.0)
        img = _to_image(arr)
    elif kind == "texture":
        src = _sample(str(rng.choice(_GRAY_SAMPLES)))
        if src.ndim == 3:
            src = src.mean(axis=2)
        crop = _crop(np.asarray(src, dtype=np.float32), rng, (w, h))
        crop = (crop - crop.min()) / (np.ptp(crop) + 1e-6)
        crop = crop + rng.normal(0, 0.04, crop.shape)
        img = _to_image(crop).resize((w, h))
    else:  # element map: coloured speckle on black
        arr = _blur(rng.random((h, w)).astype(np.float32), float(rng.uniform(0.5, 2.5)))
        arr = (arr - arr.min()) / (np.ptp(arr) + 1e-6)
        col = np.asarray(rng.choice([(0.2, 0.5, 1.0), (1.0, 0.2, 0.2), (0.2, 1.0, 0.3), (1.0, 0.8, 0.1)]))
        rgb = (arr[..., None] ** 1.5) * col[None, None, :]
        img = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    if rng.random() < 0.15:  # false-colour rendering
        import matplotlib

        cmap = matplotlib.colormaps[str(rng.choice(["jet", "viridis", "inferno", "hot"]))]
        g = np.asarray(img.convert("L"), dtype=np.float32) / 255
        img = Image.fromarray((cmap(g)[..., :3] * 255).astype(np.uint8))
    if rng.random() < 0.4:
        img = _annotate(img, rng)
    if rng.random() < 0.4:
        img = _add_scale_bar(img, rng)
    return img


def _stem_columns(rng: Rng, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = float(rng.uniform(8, 22))
    b = a * float(rng.uniform(0.7, 1.5))
    gamma = float(rng.uniform(math.pi / 3, math.pi / 2))
    rot = float(rng.uniform(0, math.pi))
    sig = a * float(rng.uniform(0.2, 0.35))
    arr = np.zeros((h, w), np.float32)
    n = int(max(w, h) / min(a, b)) + 3
    basis = [(0.0, 0.0)] + ([(0.5, 0.5)] if rng.random() < 0.5 else [])
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            for bx, by in basis:
                u, v = i + bx, j + by
                px = w / 2 + u * a * math.cos(rot) + v * b * math.cos(rot + gamma)
                py = h / 2 + u * a * math.sin(rot) + v * b * math.sin(rot + gamma)
                if -3 * sig < px < w + 3 * sig and -3 * sig < py < h + 3 * sig:
                    amp = float(rng.uniform(0.6, 1.0)) * (1.0 if (bx, by) == (0.0, 0.0) else 0.6)
                    x0, x1 = int(max(0, px - 4 * sig)), int(min(w, px + 4 * sig + 1))
                    y0, y1 = int(max(0, py - 4 * sig)), int(min(h, py + 4 * sig + 1))
                    if x1 > x0 and y1 > y0:
                        sub = (xx[y0:y1, x0:x1] - px) ** 2 + (yy[y0:y1, x0:x1] - py) ** 2
                        arr[y0:y1, x0:x1] += amp * np.exp(-sub / (2 * sig * sig))
    arr = arr / (arr.max() + 1e-6)
    if rng.random() < 0.4:
        arr = 1 - arr  # ABF: dark columns
    arr += _blur(rng.normal(0, 0.25, arr.shape).astype(np.float32), 6) + rng.normal(0, 0.08, arr.shape)
    return arr


def _annotate(img: Image.Image, rng: Rng) -> Image.Image:
    """What authors draw on micrographs: coloured dots and circles, dashed boxes, arrows, short text labels."""
    img = img.convert("RGB")
    d = ImageDraw.Draw(img)
    w, h = img.size
    cols = [(255, 255, 255), (230, 40, 40), (40, 120, 230), (160, 80, 200), (250, 200, 0)]
    for _ in range(int(rng.integers(1, 8))):
        kind = rng.choice(["dots", "circle", "box", "arrow", "text"])
        col = cols[int(rng.integers(0, len(cols)))]
        x, y = int(rng.integers(0, max(1, w - 30))), int(rng.integers(0, max(1, h - 20)))
        if kind == "dots":
            r = int(rng.integers(3, 7))
            for _ in range(int(rng.integers(3, 12))):
                cx, cy = x + int(rng.integers(-40, 40)), y + int(rng.integers(-40, 40))
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col, outline=(255, 255, 255))
        elif kind == "circle":
            r = int(rng.integers(8, 30))
            d.ellipse([x, y, x + 2 * r, y + 2 * r], outline=col, width=2)
        elif kind == "box":
            bw, bh = int(rng.integers(20, max(21, w // 2))), int(rng.integers(10, max(11, h // 3)))
            for k in range(0, bw, 8):  # dashed
                d.line([x + k, y, x + min(bw, k + 4), y], fill=col, width=2)
                d.line([x + k, y + bh, x + min(bw, k + 4), y + bh], fill=col, width=2)
            for k in range(0, bh, 8):
                d.line([x, y + k, x, y + min(bh, k + 4)], fill=col, width=2)
                d.line([x + bw, y + k, x + bw, y + min(bh, k + 4)], fill=col, width=2)
        elif kind == "arrow":
            x2, y2 = x + int(rng.integers(-40, 40)), y + int(rng.integers(-40, 40))
            d.line([x, y, x2, y2], fill=col, width=2)
            d.ellipse([x2 - 3, y2 - 3, x2 + 3, y2 + 3], fill=col)
        else:
            word = str(rng.choice(["Site A", "Ag", "Mn", "SMNp", "Dislocation", "b", "c", "[010]", "Stripe"]))
            d.text((x, y), word, fill=col, font=_font(int(rng.integers(9, 14))))
    return img


def diffraction(rng: Rng) -> Image.Image:
    s = int(rng.integers(120, 320))
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) - s / 2
    kind = rng.choice(["spots", "spots", "rings", "fft"])
    arr = np.zeros((s, s), np.float32)
    if kind == "spots":
        a = float(rng.uniform(s / 16, s / 6))
        b = a * float(rng.uniform(0.6, 1.4))
        gamma = float(rng.uniform(math.pi / 3, math.pi / 2))
        rot = float(rng.uniform(0, math.pi))
        sig = float(rng.uniform(1.0, 3.0))
        n = int(s / min(a, b)) + 2
        for i in range(-n, n + 1):
            for j in range(-n, n + 1):
                px = i * a * math.cos(rot) + j * b * math.cos(rot + gamma)
                py = i * a * math.sin(rot) + j * b * math.sin(rot + gamma)
                if abs(px) > s / 2 or abs(py) > s / 2:
                    continue
                inten = math.exp(-(px * px + py * py) / (2 * (s / 3) ** 2)) * float(rng.uniform(0.4, 1.0))
                arr += inten * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sig * sig))
        arr += 2.0 * np.exp(-(xx**2 + yy**2) / (2 * (sig * 2) ** 2))
    elif kind == "rings":
        r = np.sqrt(xx**2 + yy**2)
        for rad in np.cumsum(rng.uniform(s / 14, s / 6, 5)):
            arr += float(rng.uniform(0.3, 1.0)) * np.exp(-((r - rad) ** 2) / (2 * rng.uniform(0.8, 2.5) ** 2))
        arr *= 1 + 0.4 * rng.random((s, s)).astype(np.float32)
        arr += 1.5 * np.exp(-(r**2) / (2 * (s / 30) ** 2))
    else:
        period = float(rng.uniform(4, 12))
        lat = np.zeros((s, s), np.float32)
        for a in rng.uniform(0, math.pi, int(rng.integers(2, 4))):
            lat += np.cos(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / period)
        lat += rng.normal(0, 1.0, lat.shape).astype(np.float32)
        arr = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(lat))))
    arr = arr / (np.percentile(arr, 99.7) + 1e-6)
    arr = np.clip(arr, 0, 1) ** float(rng.uniform(0.5, 1.0))
    arr += rng.normal(0, 0.03, arr.shape).astype(np.float32)
    if kind != "fft":
        arr += float(rng.uniform(0, 0.15))
    img = _to_image(arr)
    if rng.random() < 0.3:
        img = _add_scale_bar(img, rng)
    return img


def graph(rng: Rng) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = _size(rng, 180, 380)
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0.2, 0.2, 0.75, 0.72))
    kind = rng.choice(["lines", "spectrum", "bars", "scatter", "xrd"])
    x = np.linspace(0, float(rng.uniform(1, 100)), 200)
    colors = ["k", "r", "b", "g", "tab:orange", "tab:purple"]
    if kind == "lines":
        for k in range(int(rng.integers(1, 5))):
            y = np.tanh((x - x.mean()) / (np.ptp(x) / rng.uniform(3, 10))) * rng.uniform(0.5, 2) + k * 0.3
            mk = str(rng.choice(["", "o", "s"]))
            ax.plot(x, y, color=colors[k], marker=mk or None, markevery=10, fillstyle="none", label=f"S{k}")
        if rng.random() < 0.5:
            ax.legend(frameon=False, fontsize=6)
    elif kind == "spectrum":
        y = np.zeros_like(x)
        for c in rng.uniform(x.min(), x.max(), int(rng.integers(2, 8))):
            y += rng.uniform(0.2, 1) * np.exp(-((x - c) ** 2) / (2 * (np.ptp(x) / rng.uniform(40, 200)) ** 2))
        for k in range(int(rng.integers(1, 4))):
            ax.plot(x, y + k * 0.5 + rng.normal(0, 0.02, len(x)), color=colors[k], lw=1)
    elif kind == "bars":
        n = int(rng.integers(2, 8))
        ax.bar(range(n), rng.uniform(1, 10, n), color=[colors[k % len(colors)] for k in range(n)], alpha=0.7)
    elif kind == "scatter":
        ax.scatter(rng.normal(0, 1, 60), rng.normal(0, 1, 60), s=8, c=str(rng.choice(colors)))
    else:
        y = rng.normal(0, 0.01, len(x))
        for c in rng.uniform(x.min(), x.max(), int(rng.integers(3, 12))):
            y[int((c - x.min()) / np.ptp(x) * 199)] += rng.uniform(0.2, 1)
        ax.vlines(x, 0, y, color="k", lw=0.8)
    ax.set_xlabel(
        str(rng.choice(["Potential (V)", "Time (h)", "2θ (deg)", "Energy (eV)", "Distance (nm)"])), fontsize=7
    )
    ax.set_ylabel(str(rng.choice(["Intensity (a.u.)", "Current (mA)", "Voltage (V)", "Counts"])), fontsize=7)
    ax.tick_params(labelsize=6)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def illustration(rng: Rng) -> Image.Image:
    w, h = _size(rng, 180, 420)
    bg = (255, 255, 255) if rng.random() < 0.8 else tuple(int(v) for v in rng.integers(200, 255, 3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    palette = [tuple(int(v) for v in rng.integers(0, 255, 3)) for _ in range(4)]
    for _ in range(int(rng.integers(3, 12))):
        kind = rng.choice(["box", "ball", "ballgrid", "arrow", "text", "poly", "equation", "tank", "glow", "slab"])
        x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        col = palette[int(rng.integers(0, 4))]
        if kind == "box":
            d.rectangle(
                [x, y, x + int(rng.integers(20, 90)), y + int(rng.integers(15, 60))], outline=(0, 0, 0), fill=col
            )
        elif kind == "ball":
            r = int(rng.integers(5, 25))
            for k in range(r, 0, -1):  # shaded sphere
                c = tuple(min(255, int(v + (255 - v) * (1 - k / r) * 0.8)) for v in col)
                off = (r - k) // 3  # highlight towards the top-left
                d.ellipse([x - k - off, y - k - off, x + k - off, y + k - off], fill=c)
        elif kind == "ballgrid":
            r = int(rng.integers(4, 9))
            for i in range(int(rng.integers(2, 6))):
                for j in range(int(rng.integers(2, 6))):
                    cx, cy = x + i * 2 * r + (j % 2) * r, y + j * int(1.7 * r)
                    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col, outline=(40, 40, 40))
        elif kind == "arrow":
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            d.line([x, y, x2, y2], fill=(0, 0, 0), width=2)
            a = math.atan2(y2 - y, x2 - x)
            d.polygon(
                [
                    (x2, y2),
                    (x2 - 10 * math.cos(a - 0.4), y2 - 10 * math.sin(a - 0.4)),
                    (x2 - 10 * math.cos(a + 0.4), y2 - 10 * math.sin(a + 0.4)),
                ],
                fill=(0, 0, 0),
            )
        elif kind == "slab":  # 3-D rendered nanostructure: rows of glossy spheres in perspective
            r = int(rng.integers(5, 12))
            rows, cols_n = int(rng.integers(2, 6)), int(rng.integers(3, 9))
            shear = float(rng.uniform(0.3, 0.9))
            for i in range(rows):
                for j in range(cols_n):
                    cx = x + j * 2 * r + int(i * r * shear)
                    cy = y + i * int(1.2 * r) - int(j * r * 0.2)
                    base = col if (i + j) % 3 else (160, 160, 170)
                    for k in range(r, 0, -1):
                        c = tuple(min(255, int(v + (255 - v) * (1 - k / r) ** 1.5)) for v in base)
                        off = (r - k) // 3
                        d.ellipse([cx - k - off, cy - k - off, cx + k - off, cy + k - off], fill=c)
        elif kind == "equation":
            eqs = ["Al + 4OH⁻ → Al(OH)₄⁻ + 3e⁻", "O₂ + 2H₂O + 4e⁻ → 4OH⁻", "Li⁺ + e⁻ → Li", "2H⁺ + 2e⁻ → H₂"]
            f = _font(int(rng.integers(9, 14)))
            for k in range(int(rng.integers(1, 3))):
                d.text((x, y + k * 16), str(rng.choice(eqs)), fill=(0, 0, 0), font=f)
        elif kind == "tank":
            tw, th = int(rng.integers(30, 90)), int(rng.integers(40, 110))
            for k in range(tw):  # cylinder shading
                t = abs(k / max(1, tw - 1) - 0.35)
                c2 = tuple(int(v * (1.1 - t)) if v * (1.1 - t) < 255 else 255 for v in col)
                d.line([x + k, y + 8, x + k, y + th], fill=c2)
            d.ellipse([x, y, x + tw, y + 16], fill=tuple(min(255, v + 40) for v in col), outline=(60, 60, 60))
        elif kind == "glow":
            gw = int(rng.integers(40, 120))
            for k in range(gw, 0, -4):
                g = int(255 - 60 * (1 - k / gw))
                d.ellipse([x - k, y - k // 2, x + k, y + k // 2], fill=(g, g, g))
        elif kind == "text":
            words = ["Precursor", "Growth", "Seed", "Electrode", "Pump", "Tank", "Ag", "O2", "Li+", "Anode"]
            d.text((x, y), str(rng.choice(words)), fill=(0, 0, 0), font=_font(int(rng.integers(9, 16))))
        else:
            pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(int(rng.integers(3, 6)))]
            d.polygon(pts, fill=col, outline=(0, 0, 0))
    return img


def photo(rng: Rng) -> Image.Image:
    w, h = _size(rng)
    src = _sample(str(rng.choice(_COLOR_SAMPLES)))
    if src.ndim == 2:
        src = np.stack([src] * 3, axis=-1)
    crop = _crop(src, rng, (w, h))
    img = Image.fromarray(np.ascontiguousarray(crop[..., :3])).resize((w, h))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    arr = np.asarray(img, dtype=np.float32) * rng.uniform(0.7, 1.2, 3)[None, None, :]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def other(rng: Rng) -> Image.Image:
    w, h = _size(rng, 160, 360)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    kind = rng.choice(["table", "text", "colorbar"])
    f = _font(int(rng.integers(8, 13)))
    if kind == "table":
        rows, cols = int(rng.integers(3, 9)), int(rng.integers(2, 5))
        for i in range(rows + 1):
            d.line([0, i * h // rows, w, i * h // rows], fill=(0, 0, 0))
        for i in range(rows):
            for j in range(cols):
                d.text((j * w // cols + 4, i * h // rows + 3), f"{rng.uniform(0, 100):.1f}", fill=(0, 0, 0), font=f)
    elif kind == "text":
        y = 4
        while y < h - 12:
            n = int(rng.integers(8, 30))
            d.text((4, y), "".join(rng.choice(list("abcdefghij klmnop"), n)), fill=(0, 0, 0), font=f)
            y += 14
    else:
        import matplotlib

        cmap = matplotlib.colormaps[str(rng.choice(["jet", "viridis", "coolwarm"]))]
        for i in range(h - 20):
            c = tuple(int(v * 255) for v in cmap(1 - i / (h - 20))[:3])
            d.line([w // 2 - 10, 10 + i, w // 2 + 10, 10 + i], fill=c)
        for k in range(5):
            d.text((w // 2 + 14, 10 + k * (h - 30) // 4), f"{k * 25}", fill=(0, 0, 0), font=f)
    return img


GENERATORS: dict[str, Callable[[Rng], Image.Image]] = {
    "microscopy": microscopy,
    "diffraction": diffraction,
    "graph": graph,
    "illustration": illustration,
    "photo": photo,
    "other": other,
}


def panel(kind: str, rng: Rng) -> Image.Image:
    return GENERATORS[kind](rng)


# ----------------------------------------------------------------------------------------------------------------
# compound figures


@dataclass
class TruthPanel:
    label: str | None
    bbox: tuple[int, int, int, int]
    type: str


@dataclass
class Compound:
    image: Image.Image
    panels: list[TruthPanel]
    caption: str


_TYPE_WEIGHTS = {
    "microscopy": 0.35,
    "graph": 0.3,
    "diffraction": 0.1,
    "illustration": 0.15,
    "photo": 0.05,
    "other": 0.05,
}


def compound_figure(rng: Rng, *, n_panels: int | None = None, labelled: bool = True) -> Compound:
    """A grid-like compound figure with known panel boxes, labels and types, and a matching caption."""
    n = n_panels or int(rng.integers(2, 9))
    cols = int(rng.integers(1, min(4, n) + 1))
    rows = math.ceil(n / cols)
    style = rng.choice(["a", "(a)", "A", "(A)", "a.", "i"]) if labelled else None
    gutter = int(rng.choice([0, 4, 8, 12, 16]))
    cell_w = int(rng.integers(150, 280))
    cell_h = int(cell_w * float(rng.uniform(0.7, 1.1)))
    label_inside = bool(rng.random() < 0.3)
    font = _font(int(rng.integers(11, 18)), bold=bool(rng.random() < 0.8))
    lab_h = 0 if label_inside or not labelled else int(getattr(font, "size", 12)) + 4
    W = cols * cell_w + (cols - 1) * gutter
    H = rows * (cell_h + lab_h) + (rows - 1) * gutter
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    kinds = list(_TYPE_WEIGHTS)
    probs = np.asarray(list(_TYPE_WEIGHTS.values()))
    truths: list[TruthPanel] = []
    roman = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
    seg: list[str] = []
    cap_style = str(rng.choice(["({})", "{}", "{},", "({})"]))
    for k in range(n):
        r, c = divmod(k, cols)
        x0 = c * (cell_w + gutter)
        y0 = r * (cell_h + lab_h + gutter)
        kind = str(rng.choice(kinds, p=probs / probs.sum()))
        p = panel(kind, rng)
        p.thumbnail((cell_w, cell_h))
        px, py = x0, y0 + lab_h
        fig.paste(p, (px, py))
        key = roman[k] if style == "i" else chr(97 + k)
        box = (x0, y0, px + p.width, py + p.height)
        if labelled and style is not None:
            text = str(style).replace("a", key).replace("A", key.upper()).replace("i", key) if style != "i" else key
            if label_inside:
                dark = np.asarray(p.convert("L").crop((0, 0, 30, 30))).mean() < 128
                if kind not in ("microscopy", "diffraction", "photo"):  # on a plot or drawing: a white box
                    tb = d.textbbox((px + 4, py + 3), text, font=font)
                    d.rectangle([tb[0] - 2, tb[1] - 2, tb[2] + 2, tb[3] + 2], fill=(255, 255, 255))
                    dark = False
                d.text((px + 4, py + 3), text, fill=(255, 255, 255) if dark else (0, 0, 0), font=font)
            else:
                d.text((x0, y0), text, fill=(0, 0, 0), font=font)
        # decoys: a letter inside the image (cross-reference) on some microscopy panels
        if kind == "microscopy" and rng.random() < 0.3:
            d.text(
                (px + p.width // 2, py + p.height // 2),
                chr(97 + int(rng.integers(0, n))),
                fill=(255, 255, 255),
                font=_font(10),
            )
        truths.append(TruthPanel(key if labelled else None, box, kind))
        marker = cap_style.format(key)
        seg.append(f"{marker} {kind.capitalize()} panel of sample S{k}.")
    caption = "Synthetic figure. " + " ".join(seg) if labelled else "Synthetic figure without labels."
    if not labelled:
        x0s = [t.bbox for t in truths]
        truths = [
            TruthPanel(
                None,
                (min(b[0] for b in x0s), min(b[1] for b in x0s), max(b[2] for b in x0s), max(b[3] for b in x0s)),
                "other",
            )
        ]
    return Compound(fig, truths, caption)


def image_filter_blur(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


# ----------------------------------------------------------------------------------------------------------------
# paper-like PDFs


def build_figures_pdf(
    figures: list[tuple[str, str]],
    out: str,
    *,
    title: str = "A test article",
    doi: str | None = None,
    journal: str | None = None,
    year: int | None = None,
    licence: str | None = None,
    body_words: int = 120,
    rng_seed: int = 0,
) -> None:
    """A paper-like PDF (reportlab): a title page with DOI/journal/year, body text, and each figure as an
    embedded image with its "Fig. N" caption block below it. ``figures`` holds (image path, caption) pairs."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    rng = np.random.default_rng(rng_seed)
    styles = getSampleStyleSheet()
    words = "the of samples were prepared and measured using electron microscopy at room temperature".split()

    def body() -> Paragraph:
        text = " ".join(str(rng.choice(words)) for _ in range(body_words)).capitalize() + "."
        return Paragraph(text, styles["BodyText"])

    doc = SimpleDocTemplate(out, pagesize=A4, title=title, subject=journal or "", author="matsearch tests")
    story: list[object] = [Paragraph(title, styles["Title"])]
    meta_bits = [
        b for b in (journal, f"Published: {year}" if year else None, f"https://doi.org/{doi}" if doi else None) if b
    ]
    if meta_bits:
        story.append(Paragraph(" · ".join(meta_bits), styles["Normal"]))
    if licence:
        story.append(Paragraph(f"This article is licensed under {licence}", styles["Normal"]))
    story += [Spacer(1, 6 * mm), body()]
    for k, (path, caption) in enumerate(figures, 1):
        with Image.open(path) as im:
            w, h = im.size
        width = min(150 * mm, 200 * mm * w / h)  # fits the page frame, tall figures too
        story += [
            body(),
            Spacer(1, 4 * mm),
            RLImage(path, width=width, height=width * h / w),
            Spacer(1, 2 * mm),
            # the built-in PDF fonts have the micro sign (U+00B5) but not Greek mu: "5 μm" would come back "5 mm"
            Paragraph(f"<b>Fig. {k}</b> {caption.replace(chr(0x3BC), chr(0xB5))}", styles["BodyText"]),
            Spacer(1, 4 * mm),
        ]
    doc.build(story)
