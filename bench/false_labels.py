"""Figures whose letters are not all panel labels, for :mod:`bench.eval_hard_layouts` (session 10): the false-label
classes real held-out papers show, seeded and synthetic (a check of the label choice at scale, not a headline).

- **marked pictures**: one micrograph, or an unlettered row/grid of them, with letters printed *inside* the picture
  (region markers "A", "B", feature letters "a", "b" beside arrows, element symbols "O", "C", "N", "B" over image
  columns or maps); truth: one unlabelled panel (the whole figure). With probability 0.5 the caption names the
  marker letters in prose ("regions (a) and (b) are marked"), so the caption path sees letters it asks for.
- **lettered grids with markers**: 2-4 pictures with real labels at each picture's top-left (in the margin or
  inside the frame) and marker letters inside the pictures' interiors, some of them repeating or continuing the
  label sequence; the caption names the real labels only, or (with probability 0.3) one letter more.

Split fixed 2026-12-03 06:45 UTC before any run of the split on them: seeds 600000-600059 dev ("dev_false"),
700000-700059 held-out ("heldout_false").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from training import figures_synth as synth

SOURCES = ("coins", "moon", "cell", "gravel", "immunohistochemistry", "microaneurysms", "brick", "camera")
ELEMENTS = ("O", "C", "N", "B", "Sc", "Ti", "Sr", "Fe", "Mn", "La")


def _frame(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    name = str(rng.choice(SOURCES))
    arr = np.asarray(synth._sample(name))
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    img = Image.fromarray(arr.astype(np.uint8)).convert("L")
    s = float(rng.uniform(0.4, 1.0))
    cw, ch = max(32, int(img.width * s)), max(32, int(img.height * s))
    x = int(rng.integers(0, img.width - cw + 1))
    y = int(rng.integers(0, img.height - ch + 1))
    return img.crop((x, y, x + cw, y + ch)).resize((w, h)).convert("RGB")


def _ink_for(fig: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    patch = np.asarray(fig.convert("L").crop((x, y, x + 24, y + 20))).mean()
    return (255, 255, 255) if patch < 140 else (0, 0, 0)


def _markers(
    d: ImageDraw.ImageDraw, fig: Image.Image, box: tuple[int, int, int, int], rng: np.random.Generator, pool: list[str]
) -> None:
    """Marker letters in the interior of the picture ``box`` (the middle 20-80 % of its width and height)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    for _ in range(int(rng.integers(1, 4))):
        text = str(rng.choice(pool))
        size = int(rng.integers(11, 20))
        font = synth._font(size, bold=bool(rng.random() < 0.6))
        x = x0 + int(rng.uniform(0.2, 0.75) * w)
        y = y0 + int(rng.uniform(0.2, 0.75) * h)
        col = _ink_for(fig, x, y)
        d.text((x, y), text, fill=col, font=font)
        if rng.random() < 0.5:  # an arrow from the letter to the feature
            ax, ay = x + int(rng.integers(-30, 30)), y + size + int(rng.integers(5, 25))
            d.line([x + size // 2, y + size, ax, ay], fill=col, width=2)


def _pictures(rng: np.random.Generator, n: int) -> tuple[Image.Image, list[tuple[int, int, int, int]], int]:
    cols = n if n <= 3 else 2
    rows = (n + cols - 1) // cols
    gut = int(rng.choice([0, 3, 8, 14]))
    margin = int(rng.choice([0, 0, 22]))  # room for margin labels at the pictures' top-left
    fw = int(rng.integers(150, 260))
    fh = int(fw * rng.uniform(0.7, 1.1))
    W = cols * (fw + margin) + (cols - 1) * gut
    H = rows * (fh + margin) + (rows - 1) * gut
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    boxes = []
    for k in range(n):
        r, c = divmod(k, cols)
        x0, y0 = c * (fw + margin + gut) + margin, r * (fh + margin + gut) + margin
        fig.paste(_frame(rng, fw, fh), (x0, y0))
        boxes.append((x0, y0, x0 + fw, y0 + fh))
    return fig, boxes, margin


def marked(rng: np.random.Generator) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    n = int(rng.choice([1, 1, 2, 3, 4]))
    fig, boxes, _ = _pictures(rng, n)
    d = ImageDraw.Draw(fig)
    style = str(rng.choice(["regions", "features", "elements"]))
    pool = {"regions": ["A", "B", "C", "D"], "features": ["a", "b", "c"], "elements": list(ELEMENTS)}[style]
    for box in boxes:
        if style == "elements" and rng.random() < 0.6:  # the symbol over each map, at its top centre
            x0, y0, x1, _ = box
            sym = str(rng.choice(pool))
            font = synth._font(int(rng.integers(12, 18)), bold=True)
            x, y = (x0 + x1) // 2 - 6, y0 + 4
            d.text((x, y), sym, fill=_ink_for(fig, x, y), font=font)
        else:
            _markers(d, fig, box, rng, pool)
    cap = "HAADF-STEM image of the interface."
    if rng.random() < 0.5:
        if style == "regions":
            cap += " Regions (A) and (B) are marked; EELS spectra were taken there."
        elif style == "features":
            cap += " The arrows mark (a) a dislocation and (b) a stacking fault."
        else:
            cap += " Elemental maps of O, C and N from the boxed area."
    truth = [{"label": None, "bbox": [0, 0, fig.width, fig.height], "type": None}]
    return fig, cap, truth


def lettered(rng: np.random.Generator) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    n = int(rng.choice([2, 2, 3, 4]))
    fig, boxes, margin = _pictures(rng, n)
    d = ImageDraw.Draw(fig)
    upper = rng.random() < 0.3
    size = int(rng.integers(13, 21))
    font = synth._font(size, bold=True)
    truths = []
    for k, box in enumerate(boxes):
        key = chr(97 + k)
        text = key.upper() if upper else key
        x0, y0, x1, y1 = box
        if margin:
            x, y = x0 - margin + 2, y0 - margin + 2
            area = [x0 - margin, y0 - margin, x1, y1]
        else:
            x, y = x0 + 5, y0 + 4
            area = [x0, y0, x1, y1]
        d.text((x, y), text, fill=_ink_for(fig, x, y) if not margin else (0, 0, 0), font=font)
        truths.append({"label": key, "bbox": area, "type": None})
    # markers: the next letters of the sequence, repeats of it, or region letters of the other case
    nxt = [chr(97 + n + j) for j in range(3)]
    pool = [c.upper() if upper else c for c in nxt] + ([c.lower() for c in "ab"] if upper else ["A", "B"])
    for box in boxes:
        if rng.random() < 0.7:
            _markers(d, fig, box, rng, pool)
    keys = [chr(97 + k) for k in range(n)]
    extra = rng.random() < 0.3
    named = keys + ([nxt[0]] if extra else [])
    cap = "Microstructure. " + " ".join(
        f"({k.upper() if upper else k}) Image of sample S{j}." for j, k in enumerate(named)
    )
    return fig, cap, truths


def false_labels(rng: np.random.Generator) -> tuple[str, Image.Image, str, list[dict[str, Any]]]:
    if rng.random() < 0.5:
        return ("false/marked", *marked(rng))
    return ("false/lettered", *lettered(rng))
