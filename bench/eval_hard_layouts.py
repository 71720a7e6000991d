"""Hard real layouts as seeded synthetic figures: film strips / frame series (equal frames drifting over one real
micrograph-like picture from scikit-image, labels inside the frames, white/grey/black, top- or bottom-left, gutters
of 0-5 px) and graph grids (2x2 ... 1x4 plots, labels at each plot's corner, row- or column-major), each with a
caption naming the labels. Panel F1 (label + IoU >= 0.5) with and without the caption.

    .venv/bin/python -m bench.eval_hard_layouts                 # every part (dev, heldout, dev_grids, heldout_grids)
    .venv/bin/python -m bench.eval_hard_layouts --parts dev,dev_grids     # tune on the dev parts only

Split fixed 2026-12-01 14:58 UTC before tuning: seeds 0-199 dev, 100000-100099 held-out (docs/figures.md).
Session 5: matplotlib graph grids (``bench.titled_grids``: labels in titles above the plots, under the plots, at the
corners, inside the axes); split fixed 2026-12-01 17:50 UTC before tuning: seeds 200000-200199 dev ("dev_grids",
200000-200079 used), 300000-300079 held-out ("heldout_grids").
Session 6: irregular plot grids (``bench.irregular_grids``: rows of 1-3 plots of different widths, so one row's
gutters run on into the next row's plots); split fixed 2026-12-01 21:50 UTC before any run on them: seeds
400000-400039 dev ("dev_irregular"), 500000-500039 held-out ("heldout_irregular").
Session 10: letters that are not panel labels (``bench.false_labels``: markers and element symbols inside pictures,
unlettered or lettered, with captions that name some of them); split fixed 2026-12-03 06:45 UTC before any run of
the split on them: seeds 600000-600059 dev ("dev_false"), 700000-700059 held-out ("heldout_false").
Session 11: labels that are hard to find and read (``bench.hard_labels``: small, low-contrast, coloured, boxed,
circled and outside labels on gutterless strips and grids); split fixed 2026-12-03 11:01 UTC before any run of the
split on them: seeds 800000-800079 dev ("dev_hardlabels"), 900000-900079 held-out ("heldout_hardlabels").
Session 12: image series and graph grids that are only part of the figure (``bench.series_layouts``: a head panel
above or left of the series, a plot row under it); split fixed 2026-12-03 14:41 UTC (4ef41d0) before any run of the
split on them: seeds 1000000-1000079 dev ("dev_series"), 1100000-1100079 held-out ("heldout_series").
Synthetic: a check of the layout methods at scale, not the headline (the real sets in bench/real_figures are).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.eval_figures import Tally
from bench.false_labels import false_labels
from bench.hard_labels import hard_labels
from bench.irregular_grids import irregular_grid
from bench.series_layouts import series_layout
from bench.titled_grids import titled_grid
from training import figures_synth as synth

SOURCES = ("coins", "moon", "cell", "gravel", "immunohistochemistry", "microaneurysms", "brick", "camera")


def _src(rng: np.random.Generator) -> Image.Image:
    name = str(rng.choice(SOURCES))
    arr = np.asarray(synth._sample(name))
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    img = Image.fromarray(arr.astype(np.uint8)).convert("L")
    if rng.random() < 0.5:
        img = img.resize((img.width * 2, img.height * 2))
    return img


def strip(rng: np.random.Generator) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    n = int(rng.choice([4, 5, 6, 6, 8, 10, 12]))
    cols = n if n <= 6 and rng.random() < 0.6 else int(rng.choice([c for c in (3, 4, 5, 6) if n % c == 0] or [n]))
    rows = (n + cols - 1) // cols
    gut = int(rng.choice([0, 0, 1, 2, 3, 5]))
    fw = int(rng.integers(110, 220))
    fh = int(fw * rng.uniform(0.75, 1.1))
    src = _src(rng)
    W, H = cols * fw + (cols - 1) * gut, rows * fh + (rows - 1) * gut
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    style = str(rng.choice(["a", "(a)", "a)", "A"]))
    font = synth._font(int(rng.integers(12, 20)), bold=bool(rng.random() < 0.7))
    bottom = rng.random() < 0.2
    sx = int(rng.integers(0, max(1, src.width - fw - n * 8)))
    sy = int(rng.integers(0, max(1, src.height - fh - n * 4)))
    grey_lab = rng.random() < 0.3
    truths = []
    for k in range(n):
        r, c = divmod(k, cols)
        x0, y0 = c * (fw + gut), r * (fh + gut)
        fr = src.crop((sx + 6 * k, sy + 3 * k, sx + 6 * k + fw, sy + 3 * k + fh)).convert("RGB")
        if fr.width < fw or fr.height < fh:
            fr = fr.resize((fw, fh))
        fig.paste(fr, (x0, y0))
        key = chr(97 + k)
        text = style.replace("a", key).replace("A", key.upper())
        ly = y0 + fh - 6 - int(getattr(font, "size", 12)) - 4 if bottom else y0 + 4
        patch = np.asarray(fr.convert("L").crop((0, 0, 40, 30))).mean()
        col = (255, 255, 255) if patch < 140 else (0, 0, 0)
        if grey_lab:
            col = (200, 200, 200) if patch < 140 else (60, 60, 60)
        d.text((x0 + 5, ly), text, fill=col, font=font)
        truths.append({"label": key, "bbox": [x0, y0, x0 + fw, y0 + fh], "type": None})
    last = chr(96 + n)
    cap = f"In situ observation of particle growth. (a–{last}) Sequential frames recorded at 2 s intervals."
    cap += " Scale bar, 20 nm."
    if rng.random() < 0.5:
        cap = "Growth trajectories. " + " ".join(f"({chr(97 + k)}) t = {2 * k} s." for k in range(n))
    return fig, cap, truths


def graphgrid(rng: np.random.Generator) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    rows, cols = [(2, 2), (2, 3), (3, 2), (2, 2), (1, 4)][int(rng.integers(0, 5))]
    colmajor = rng.random() < 0.4
    gut = int(rng.choice([0, 4, 10]))
    cells = [synth.graph(rng) for _ in range(rows * cols)]
    cells = [c.resize(cells[0].size) for c in cells]
    cw, ch = max(c.width for c in cells), max(c.height for c in cells)
    W, H = cols * cw + (cols - 1) * gut, rows * ch + (rows - 1) * gut
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    font = synth._font(int(rng.integers(13, 20)), bold=True)
    style = str(rng.choice(["a", "(a)", "A"]))
    truths = []
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        k = c * rows + r if colmajor else i
        x0, y0 = c * (cw + gut), r * (ch + gut)
        fig.paste(cell, (x0, y0))
        key = chr(97 + k)
        text = style.replace("a", key).replace("A", key.upper())
        d.text((x0 + 3, y0 + 2), text, fill=(0, 0, 0), font=font)
        truths.append({"label": key, "bbox": [x0, y0, x0 + cell.width, y0 + cell.height], "type": None})
    truths.sort(key=lambda t: str(t["label"]))
    cap = "Spectroscopy. " + " ".join(f"({t['label']}) Spectra of sample S{j}." for j, t in enumerate(truths))
    return fig, cap, truths


def make(seed: int) -> tuple[str, Image.Image, str, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    if seed >= 1000000:  # session 12: equal frames / graph grids that are only part of the figure, bench.series_layouts
        return series_layout(rng)
    if seed >= 800000:  # session 11: labels hard to find and read, bench.hard_labels
        return hard_labels(rng)
    if seed >= 600000:  # session 10: letters that are not panel labels (markers, element symbols), bench.false_labels
        return false_labels(rng)
    if seed >= 400000:  # session 6: irregular plot grids (rows of different plot widths)
        fig, cap, truths = irregular_grid(rng)
        return "irregular", fig, cap, truths
    if seed >= 200000:  # session 5: matplotlib graph grids, per label style
        style, fig, cap, truths = titled_grid(rng)
        return f"grid/{style}", fig, cap, truths
    kind = "strip" if seed % 2 == 0 else "grid"
    fig, cap, truths = strip(rng) if kind == "strip" else graphgrid(rng)
    if rng.random() < 0.3:  # print-quality softening
        fig = fig.filter(ImageFilter.GaussianBlur(0.5))
    return kind, fig, cap, truths


PARTS = {
    "dev": range(0, 80),
    "heldout": range(100000, 100100),
    "dev_grids": range(200000, 200080),
    "heldout_grids": range(300000, 300080),
    "dev_irregular": range(400000, 400040),
    "heldout_irregular": range(500000, 500040),
    "dev_false": range(600000, 600060),
    "heldout_false": range(700000, 700060),
    "dev_hardlabels": range(800000, 800080),
    "heldout_hardlabels": range(900000, 900080),
    "dev_series": range(1000000, 1000080),
    "heldout_series": range(1100000, 1100080),
}
RESULTS = Path(__file__).resolve().parent / "results/eval_hard_layouts.json"


def evaluate(seeds: range) -> dict[str, Any]:
    from matsearch.indexer.figures.panels import split_figure

    tallies: dict[str, Tally] = {}
    for s in seeds:
        kind, fig, cap, truths = make(s)
        for use in ("caption", "no caption"):
            pred = [
                p.to_dict()
                for p in split_figure(fig, cap if use == "caption" else None, classify=False, scale=False).panels
            ]
            tallies.setdefault(f"{kind}, {use}", Tally()).add(pred, truths)
    return {k: t.summary() for k, t in sorted(tallies.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p in PARTS]
    res = {p: evaluate(PARTS[p]) for p in parts}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"{'hard layouts (synthetic), panel F1 / label precision':<52}" + "".join(f"{p:>16}" for p in parts))
    keys = sorted({k for p in parts for k in res[p]})
    for key in keys:
        cells = [
            f"{res[p][key]['f1']:>9.3f} / {res[p][key]['label_precision']:.3f}" if key in res[p] else f"{'-':>16}"
            for p in parts
        ]
        print(f"  {key:<50}" + "".join(cells))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
