"""Compound figures whose image series is only *part* of the figure, for :mod:`bench.eval_hard_layouts` (session
12): the kinds issue 9 names — film strips / time series of 4-12 equal frames (labels inside the frames, gutters of
0-3 px), 2x2 ... 3x3 graph grids with the label at each plot's top-left corner (row- or column-major) — set beside
or under other panels (a schematic, a plot, a micrograph with its label in the margin), so that the equal frames do
not tile the figure's ink box. Series labels are plain (white / black), small, low-contrast or coloured (the looks of
:mod:`bench.hard_labels`), so some are never read: their frames must still become panels.

Layouts:

- **head + series**: one or two head panels (plot, picture) in a row above the series, or in a column left of it;
- **series + foot**: the series first ("a" onwards), a row of plots below;
- **head + graph grid**: a picture above a graph grid whose letters run row- or column-major.

Captions name every label (a range "(c–l)" for the series or one sentence per label). Truth: one box per label —
the frame, the plot, or the head panel with its label margin.

Split fixed 2026-12-03 14:41 UTC (commit 4ef41d0) before any run of the split on them: seeds 1000000-1000079 dev
("dev_series"), 1100000-1100079 held-out ("heldout_series").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from bench.hard_labels import COLOURS, _draw_label, _font, _frame, _source
from training import figures_synth as synth

SERIES_LOOKS = ("plain", "plain", "small", "lowcontrast", "colour")


def _label_text(style: str, key: str) -> str:
    return style.replace("a", key).replace("A", key.upper())


def _series(
    rng: np.random.Generator, first: int, style: str
) -> tuple[Image.Image, list[tuple[str, tuple[int, int, int, int]]], str]:
    """An R x C block of equal frames, labels inside; (block, [(key, box in block)], look)."""
    n = int(rng.choice([4, 5, 6, 6, 8, 9, 10, 12, 12]))
    cols = int(rng.choice([c for c in (2, 3, 4, 5, 6) if n % c == 0 and n // c <= 3] or [n]))
    if n <= 6 and rng.random() < 0.4:
        cols = n
    rows = n // cols
    gut = int(rng.choice([0, 0, 1, 2, 3]))
    fw = int(rng.integers(90, 170))
    fh = int(fw * rng.uniform(0.75, 1.1))
    look = str(rng.choice(SERIES_LOOKS))
    size = int(rng.integers(7, 11)) if look == "small" else int(rng.integers(11, 17))
    font = _font(size, bool(rng.random() < 0.6), bool(rng.random() < 0.3))
    colour = COLOURS[str(rng.choice(list(COLOURS)))]
    src = _source(rng)
    drift = rng.random() < 0.7
    W, H = cols * fw + (cols - 1) * gut, rows * fh + (rows - 1) * gut
    block = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(block)
    bottom = rng.random() < 0.2
    out = []
    for k in range(n):
        r, c = divmod(k, cols)
        x0, y0 = c * (fw + gut), r * (fh + gut)
        block.paste(_frame(src, rng, fw, fh, k, drift), (x0, y0))
        key = chr(97 + first + k)
        y = y0 + fh - size - 8 if bottom else y0 + int(rng.integers(2, 6))
        _draw_label(d, block, (x0 + int(rng.integers(2, 6)), y), _label_text(style, key), font, look, colour, rng)
        out.append((key, (x0, y0, x0 + fw, y0 + fh)))
    return block, out, look


def _graph_grid(
    rng: np.random.Generator, first: int, style: str
) -> tuple[Image.Image, list[tuple[str, tuple[int, int, int, int]]], str]:
    rows, cols = [(2, 2), (2, 2), (2, 3), (3, 2), (3, 3)][int(rng.integers(0, 5))]
    colmajor = rng.random() < 0.4
    gut = int(rng.choice([0, 4, 10]))
    cells = [synth.graph(rng) for _ in range(rows * cols)]
    cw, ch = cells[0].size
    cells = [c.resize((cw, ch)) for c in cells]
    W, H = cols * cw + (cols - 1) * gut, rows * ch + (rows - 1) * gut
    block = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(block)
    font = _font(int(rng.integers(12, 19)), True, bool(rng.random() < 0.3))
    out = []
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        k = c * rows + r if colmajor else i
        x0, y0 = c * (cw + gut), r * (ch + gut)
        block.paste(cell, (x0, y0))
        key = chr(97 + first + k)
        d.text((x0 + 3, y0 + 2), _label_text(style, key), fill=(0, 0, 0), font=font)
        out.append((key, (x0, y0, x0 + cw, y0 + ch)))
    return block, out, "colmajor" if colmajor else "rowmajor"


def _head(rng: np.random.Generator, key: str, style: str, size: int) -> tuple[Image.Image, tuple[int, int]]:
    """A head panel with its label in the margin above-left; (image, label offset)."""
    kind = str(rng.choice(["graph", "microscopy", "illustration"]))
    pic = synth.panel(kind, rng) if kind != "graph" else synth.graph(rng)
    if pic.height > 260:
        pic = pic.resize((int(pic.width * 260 / pic.height), 260))
    m = size + 6
    img = Image.new("RGB", (pic.width + m, pic.height + m), (255, 255, 255))
    img.paste(pic.convert("RGB"), (m, m))
    d = ImageDraw.Draw(img)
    d.text((1, 1), _label_text(style, key), fill=(0, 0, 0), font=_font(size, True, False))
    return img, (0, 0)


def series_layout(rng: np.random.Generator) -> tuple[str, Image.Image, str, list[dict[str, Any]]]:
    layout = str(rng.choice(["head_above", "head_left", "series_foot", "head_graphs"]))
    style = str(rng.choice(["a", "(a)", "a)", "A"]))
    size = int(rng.integers(12, 18))
    gap = int(rng.integers(8, 20))
    truths: list[dict[str, Any]] = []
    parts: list[tuple[Image.Image, int, int]] = []
    if layout == "series_foot":
        block, labs, look = _series(rng, 0, style)
        nfoot = int(rng.integers(1, 4))
        foot = [_head(rng, chr(97 + len(labs) + j), style, size)[0] for j in range(nfoot)]
        parts.append((block, 0, 0))
        for key, b in labs:
            truths.append({"label": key, "bbox": list(b)})
        x, y = 0, block.height + gap
        for j, f in enumerate(foot):
            parts.append((f, x, y))
            truths.append({"label": chr(97 + len(labs) + j), "bbox": [x, y, x + f.width, y + f.height]})
            x += f.width + gap
        first_series = 0
    else:
        nhead = 1 if layout == "head_graphs" else int(rng.integers(1, 3))
        heads = [_head(rng, chr(97 + j), style, size)[0] for j in range(nhead)]
        if layout == "head_graphs":
            block, labs, look = _graph_grid(rng, nhead, style)
        else:
            block, labs, look = _series(rng, nhead, style)
        x = y = 0
        for j, hd in enumerate(heads):
            parts.append((hd, x, y))
            truths.append({"label": chr(97 + j), "bbox": [x, y, x + hd.width, y + hd.height]})
            if layout == "head_left":
                y += hd.height + gap
            else:
                x += hd.width + gap
        if layout == "head_left":
            bx, by = max(h.width for h in heads) + gap, 0
        else:
            bx, by = 0, max(h.height for h in heads) + gap
        parts.append((block, bx, by))
        for key, b in labs:
            truths.append({"label": key, "bbox": [b[0] + bx, b[1] + by, b[2] + bx, b[3] + by]})
        first_series = nhead
    W = max(x0 + im.width for im, x0, _ in parts)
    H = max(y0 + im.height for im, _, y0 in parts)
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    for im, x0, y0 in parts:
        fig.paste(im, (x0, y0))
    for t in truths:
        t["type"] = None
    truths.sort(key=lambda t: str(t["label"]))
    keys = [str(t["label"]) for t in truths]
    s0, s1 = chr(97 + first_series), chr(97 + first_series + len(labs) - 1)
    if rng.random() < 0.5:
        series = f"({s0}–{s1}) Sequential frames recorded at 2 s intervals."
        before = " ".join(f"({k}) Overview {j}." for j, k in enumerate(k for k in keys if k < s0))
        after = " ".join(f"({k}) Spectrum {j}." for j, k in enumerate(k for k in keys if k > s1))
        cap = " ".join(p for p in ("Growth of the particles.", before, series, after) if p) + " Scale bar, 20 nm."
    else:
        cap = "Characterisation. " + " ".join(f"({k}) Sample S{j}." for j, k in enumerate(keys))
    return f"series/{layout}/{look}", fig, cap, truths
