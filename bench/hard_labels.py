"""Figures whose panel labels are hard to *find and read*, for :mod:`bench.eval_hard_layouts` (session 11): the
recall failure real held-out parts show (panels merged because their labels were never read), seeded and synthetic
(a check of label finding at scale, not a headline).

Layouts: gutterless or narrow-gutter strips of equal frames (3-8), picture grids (2x2 ... 3x3, gutters 0-6 px), and
mixed grids of pictures and plots with the labels in a margin above-left of each cell. Label looks, one per figure:

- **small**: 7-10 px letters (often thin, anti-aliased grey at that size);
- **low contrast**: ink 60-110 grey levels from its ground (grey text on white, dim letters on a picture);
- **colour**: saturated red / blue / orange / yellow / cyan / green / magenta letters, on the picture or in the margin;
- **boxed**: the letter in a small filled box (white box, black letter, or the reverse), sometimes with a border;
- **circled**: the letter inside a thin circle;
- **outside**: in the margin above-left of its picture (every layout can have it).

Text styles "a", "(a)", "a)", "A", sans or serif, bold or regular. With probability 0.4 the whole figure is printed
smaller (0.6-0.9x, Lanczos), which thins and greys small letters further. Captions name the labels (a range
"(a–f)" or one sentence per label). Truth: one panel per label, its frame (plus its margin when the label is outside).

Split fixed 2026-12-03 11:01 UTC before any run of the split on them: seeds 800000-800079 dev ("dev_hardlabels"),
900000-900079 held-out ("heldout_hardlabels").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training import figures_synth as synth

SOURCES = ("coins", "moon", "cell", "gravel", "immunohistochemistry", "microaneurysms", "brick", "camera")
COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 230),
    "orange": (250, 150, 20),
    "yellow": (245, 230, 40),
    "cyan": (40, 220, 230),
    "green": (30, 170, 40),
    "magenta": (220, 40, 200),
}
LOOKS = ("small", "lowcontrast", "colour", "boxed", "circled", "outside")


def _font(size: int, bold: bool, serif: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    name = ("DejaVuSerif" if serif else "DejaVuSans") + ("-Bold" if bold else "") + ".ttf"
    try:
        return ImageFont.truetype(f"{matplotlib.get_data_path()}/fonts/ttf/{name}", size)
    except OSError:
        return synth._font(size, bold)


def _frame(src: Image.Image, rng: np.random.Generator, w: int, h: int, k: int, drift: bool) -> Image.Image:
    if drift:  # frames of one series: the same picture, drifting
        x, y = 6 * k, 3 * k
        crop = src.crop((x, y, x + w, y + h))
        return crop.resize((w, h)) if crop.size != (w, h) else crop
    s = float(rng.uniform(0.4, 1.0))
    cw, ch = max(32, int(src.width * s)), max(32, int(src.height * s))
    x = int(rng.integers(0, src.width - cw + 1))
    y = int(rng.integers(0, src.height - ch + 1))
    return src.crop((x, y, x + cw, y + ch)).resize((w, h))


def _source(rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(synth._sample(str(rng.choice(SOURCES))))
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    img = Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if rng.random() < 0.5:
        img = img.resize((img.width * 2, img.height * 2))
    return img


def _ground(fig: Image.Image, x: float, y: float, w: float, h: float) -> float:
    box = (round(x), round(y), round(x + w), round(y + h))  # as PIL rounds a float box
    return float(np.asarray(fig.convert("L").crop(box)).mean())


def _draw_label(
    d: ImageDraw.ImageDraw,
    fig: Image.Image,
    xy: tuple[int, int],
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    look: str,
    colour: tuple[int, int, int],
    rng: np.random.Generator,
) -> None:
    x, y = xy
    lft, t, r, b = d.textbbox((x, y), text, font=font)
    g = _ground(fig, lft, t, max(1, r - lft), max(1, b - t))
    if look == "boxed":
        pad = int(rng.integers(2, 5))
        dark_box = rng.random() < 0.4
        box_fill = (0, 0, 0) if dark_box else (255, 255, 255)
        outline = None if dark_box or rng.random() < 0.5 else (0, 0, 0)
        d.rectangle([lft - pad, t - pad, r + pad, b + pad], fill=box_fill, outline=outline)
        d.text((x, y), text, fill=(255, 255, 255) if dark_box else (0, 0, 0), font=font)
        return
    if look == "circled":
        pad = int(rng.integers(2, 4))
        cx, cy, rad = (lft + r) / 2, (t + b) / 2, max(r - lft, b - t) / 2 + pad
        ink = (255, 255, 255) if g < 130 else (0, 0, 0)
        if rng.random() < 0.5:
            d.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=(255, 255, 255), outline=(0, 0, 0))
            ink = (0, 0, 0)
        else:
            d.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], outline=ink, width=1)
        d.text((x, y), text, fill=ink, font=font)
        return
    if look == "colour":
        d.text((x, y), text, fill=colour, font=font)
        return
    if look == "lowcontrast":
        step = int(rng.integers(60, 111))
        v = int(np.clip(g - step if g >= 128 else g + step, 0, 255))
        d.text((x, y), text, fill=(v, v, v), font=font)
        return
    d.text((x, y), text, fill=(255, 255, 255) if g < 130 else (0, 0, 0), font=font)


def hard_labels(rng: np.random.Generator) -> tuple[str, Image.Image, str, list[dict[str, Any]]]:
    layout = str(rng.choice(["strip", "grid", "mixed"]))
    look = str(rng.choice(LOOKS))
    outside = look == "outside" or layout == "mixed" or rng.random() < 0.15
    if layout == "strip":
        n = int(rng.integers(3, 9))
        cols = n if n <= 5 or rng.random() < 0.5 else (n + 1) // 2
        gut = int(rng.choice([0, 0, 1, 2]))
    else:
        rows_, cols = [(2, 2), (2, 3), (3, 2), (3, 3), (2, 4)][int(rng.integers(0, 5))]
        n = rows_ * cols
        gut = int(rng.choice([0, 2, 4, 6])) if layout == "grid" else int(rng.choice([4, 8, 12]))
    rows = (n + cols - 1) // cols
    fw = int(rng.integers(120, 230))
    fh = int(fw * rng.uniform(0.75, 1.1))
    small = look == "small"
    size = int(rng.integers(7, 11)) if small else int(rng.integers(10, 17))
    bold, serif = bool(rng.random() < 0.6), bool(rng.random() < 0.35)
    font = _font(size, bold, serif)
    style = str(rng.choice(["a", "(a)", "a)", "A"]))
    margin = size + 6 if outside else 0
    W = cols * (fw + margin) + (cols - 1) * gut
    H = rows * (fh + margin) + (rows - 1) * gut
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    src = _source(rng)
    drift = layout == "strip" and rng.random() < 0.7
    colour = COLOURS[str(rng.choice(list(COLOURS)))]
    truths: list[dict[str, Any]] = []
    for k in range(n):
        r, c = divmod(k, cols)
        x0, y0 = c * (fw + margin + gut) + margin, r * (fh + margin + gut) + margin
        if layout == "mixed" and rng.random() < 0.5:
            cell = synth.graph(rng).resize((fw, fh))
        else:
            cell = _frame(src if drift else _source(rng), rng, fw, fh, k, drift)
        fig.paste(cell, (x0, y0))
        key = chr(97 + k)
        text = style.replace("a", key).replace("A", key.upper())
        if outside:
            xy = (x0 - margin + 1, y0 - margin + 1)
            area = [x0 - margin, y0 - margin, x0 + fw, y0 + fh]
        else:
            xy = (x0 + int(rng.integers(3, 7)), y0 + int(rng.integers(3, 7)))
            area = [x0, y0, x0 + fw, y0 + fh]
        _draw_label(d, fig, xy, text, font, look, colour, rng)
        truths.append({"label": key, "bbox": area, "type": None})
    if rng.random() < 0.4:  # printed smaller: thinner, greyer small letters
        s = float(rng.uniform(0.6, 0.9))
        fig = fig.resize((max(1, int(W * s)), max(1, int(H * s))), Image.Resampling.LANCZOS)
        for t in truths:
            t["bbox"] = [int(round(v * s)) for v in t["bbox"]]
    last = chr(96 + n)
    if rng.random() < 0.5:
        cap = f"Sample series. (a–{last}) Images recorded under increasing dose. Scale bar, 50 nm."
    else:
        cap = "Characterisation. " + " ".join(f"({chr(97 + k)}) Sample S{k}." for k in range(n))
    return f"hard/{look}", fig, cap, truths
