"""Seeded matplotlib figures with IRREGULAR plot grids (session 6): rows of 1-3 plots whose widths differ from row to
row (a 3-2-3 figure, two plots over one wide bar chart), so the gutters of one row run on into the plots of the next,
crossed only by their axis lines. Plot kinds: lines, scatter, bars, box plots, heat maps with a colour bar; spines
all four or left/bottom only; labels bold at each plot's top-left ("A", "a", "(a)"), row-major.

Used by ``bench.eval_hard_layouts`` (parts ``dev_irregular`` / ``heldout_irregular``, fixed 2026-12-01 21:50 UTC
before any run on them). Returns (figure, caption, truths) with truths as in ``bench.titled_grids``: the panel box is
the plot's tight box (axes, tick and axis labels, colour bar) joined with its label's box."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def irregular_grid(rng: np.random.Generator) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = int(rng.integers(2, 4))
    splits = [[2, 2, 2], [3, 3], [6], [2, 4], [4, 2]]
    rows: list[list[int]] = []
    for _ in range(n_rows):
        rows.append(splits[int(rng.integers(0, len(splits)))])
    if all(r == rows[0] for r in rows):  # irregular: at least two rows differ
        rows[-1] = [3, 3] if rows[0] != [3, 3] else [2, 2, 2]
    fig = plt.figure(figsize=(9, 2.7 * n_rows), dpi=int(rng.integers(80, 111)))
    gs = fig.add_gridspec(n_rows, 6)
    axes = []
    for r, widths in enumerate(rows):
        at = 0
        for w in widths:
            axes.append(fig.add_subplot(gs[r, at : at + w]))
            at += w
    style = str(rng.choice(["A", "a", "(a)"]))
    open_spines = bool(rng.random() < 0.6)
    texts = []
    for k, ax in enumerate(axes):
        kind = str(rng.choice(["line", "scatter", "bar", "box", "heat"]))
        if kind == "line":
            x = np.linspace(0, 10, 80)
            for j in range(int(rng.integers(1, 3))):
                ax.plot(x, np.sin(x * rng.uniform(0.5, 2) + j) + rng.normal(0, 0.05, x.size))
        elif kind == "scatter":
            ax.scatter(rng.normal(size=40), rng.normal(size=40), s=10)
        elif kind == "bar":
            n = int(rng.integers(3, 6))
            ax.bar(range(n), rng.uniform(1, 5, n), width=0.6)
        elif kind == "box":
            n = int(rng.integers(2, 5))
            ax.boxplot([rng.normal(size=30) for _ in range(n)], widths=0.3)
        else:
            im = ax.imshow(rng.random((8, 8)), cmap=str(rng.choice(["viridis", "magma", "Blues"])), aspect="auto")
            fig.colorbar(im, ax=ax)
        if open_spines:
            ax.spines[["top", "right"]].set_visible(False)
        ax.set_xlabel(str(rng.choice(["Time (s)", "x", "Step", "Column", "Set"])))
        ax.set_ylabel(str(rng.choice(["Signal", "y", "Count", "Row", "Response"])))
        key = chr(97 + k)
        text = style.replace("a", key).replace("A", key.upper())
        texts.append(
            ax.text(-0.14, 1.04, text, transform=ax.transAxes, fontsize=13, fontweight="bold", va="bottom", ha="left")
        )
    fig.tight_layout(h_pad=float(rng.uniform(0.8, 2.5)), w_pad=float(rng.uniform(1.0, 4.0)))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _, height = fig.canvas.get_width_height()
    truths = []
    for k, (ax, t) in enumerate(zip(axes, texts, strict=True)):
        found = [ax.get_tightbbox(renderer), t.get_window_extent(renderer)]
        found += [a.get_tightbbox(renderer) for a in fig.axes if a not in axes and _beside(a, ax, renderer)]
        boxes = [b for b in found if b is not None]
        x0, x1 = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
        y0, y1 = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
        truths.append(
            {
                "label": chr(97 + k),
                "bbox": [int(x0), int(height - y1), int(np.ceil(x1)), int(np.ceil(height - y0))],
                "type": None,
            }
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB")
    caption = "Measurements. " + " ".join(f"({t['label']}) Result of run {j + 1}." for j, t in enumerate(truths))
    return img, caption, truths


def _beside(cbar: Any, ax: Any, renderer: Any) -> bool:
    """A colour bar's axes that belongs to ``ax`` (same rows, just right of it)."""
    a, b = cbar.get_position(), ax.get_position()
    return bool(abs(a.y0 - b.y0) < 0.02 and 0 <= a.x0 - b.x1 < 0.06)
