"""Graph grids as matplotlib draws them, for :mod:`bench.eval_hard_layouts`: rows x cols of real axes (tick labels,
axis labels, colour bars) with the panel label where software and papers print it — inside a title above the plot
("(a) mode=plain", pyprocar-style), as the whole title (centred or left), centred under the plot (alone or
followed by words), bold at the top-left outside the axes, or inside the axes in a white box. Truth boxes are the
axes' tight boxes (title, tick and axis labels, colour bar, the label itself) as matplotlib renders them.
Seeded; synthetic (a check of the layout method at scale, not a headline number)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

MODES = ("plain", "parametric", "overlay", "overlay_species", "atomic", "stack", "spin", "projected")
XL = ("k-path", "Energy (eV)", "2θ (deg)", "Time (s)", "Wavelength (nm)", r"$k_x$ (1/Å)", "Temperature (K)")
YL = ("E - E$_F$ (eV)", "DOS (states/eV)", "Intensity (a.u.)", r"$k_y$ (1/Å)", "Current (mA)", "Absorbance")


def _content(ax: Any, rng: np.random.Generator, kind: str) -> Any:
    x = np.linspace(0, 1, 300)
    colors = ["k", "r", "b", "g", "tab:orange", "tab:purple", "tab:cyan"]
    if kind == "bands":
        for _k in range(int(rng.integers(4, 12))):
            y = rng.uniform(-4, 4) + rng.uniform(0.3, 2) * np.cos(
                2 * np.pi * x * rng.integers(1, 3) + rng.uniform(0, 6)
            )
            ax.plot(x, y, color=str(rng.choice(colors[:3])), lw=rng.uniform(0.6, 1.5))
        for t in rng.uniform(0.1, 0.9, int(rng.integers(1, 4))):
            ax.axvline(t, color="0.5", lw=0.5)
        ax.axhline(0, color="0.3", lw=0.5, ls="--")
        return None
    if kind == "dos":
        e = np.linspace(-6, 6, 400)
        for k in range(int(rng.integers(1, 4))):
            y = sum(
                rng.uniform(0.2, 1) * np.exp(-((e - c) ** 2) / rng.uniform(0.05, 0.8)) for c in rng.uniform(-5, 5, 6)
            )
            ax.plot(e, y + 0.0 * k, color=colors[k], lw=1)
            if rng.random() < 0.5:
                ax.fill_between(e, 0, y, color=colors[k], alpha=0.3)
        return None
    if kind == "map":
        yy, xx = np.mgrid[-1:1:120j, -1:1:120j]
        z = np.cos(3 * xx * rng.uniform(1, 3)) * np.cos(3 * yy * rng.uniform(1, 3)) + rng.normal(0, 0.05, xx.shape)
        return ax.imshow(z, extent=(-1, 1, -1, 1), cmap=str(rng.choice(["viridis", "coolwarm", "magma", "jet"])))
    if kind == "scatter":
        for k in range(int(rng.integers(1, 3))):
            ax.scatter(rng.normal(0, 1, 50), rng.normal(0, 1, 50), s=6, c=colors[k])
        return None
    for k in range(int(rng.integers(1, 4))):
        y = np.tanh((x - 0.5) * rng.uniform(3, 10)) * rng.uniform(0.5, 2) + k * 0.4
        ax.plot(
            x,
            y,
            color=colors[k],
            lw=1.2,
            marker=str(rng.choice(["", "o", "s"])) or None,
            markevery=25,
            fillstyle="none",
            label=f"S{k + 1}",
        )
    if rng.random() < 0.5:
        ax.legend(fontsize=6, frameon=bool(rng.random() < 0.5))
    return None


def titled_grid(rng: np.random.Generator) -> tuple[str, Image.Image, str, list[dict[str, Any]]]:
    """(style, figure, caption, truths) of one seeded graph grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = [(1, 2), (1, 3), (2, 2), (2, 2), (2, 3), (3, 2), (2, 4), (1, 4), (3, 3)][int(rng.integers(0, 9))]
    style = str(rng.choice(["title", "title", "title_only", "under", "under_desc", "corner", "inside"]))
    paren = bool(rng.random() < 0.8) or style.startswith("title")
    upper = bool(rng.random() < 0.2) and style in ("corner", "inside")
    colmajor = bool(rng.random() < 0.25)
    kind = str(rng.choice(["bands", "dos", "map", "lines", "scatter", "mixed"]))
    dpi = int(rng.choice([80, 100, 120, 150]))
    cw, ch = float(rng.uniform(2.2, 3.6)), float(rng.uniform(1.8, 3.0))
    fig, axes = plt.subplots(
        rows, cols, figsize=(cols * cw, rows * ch), dpi=dpi, squeeze=False, sharey=bool(rng.random() < 0.3)
    )
    fs = float(rng.uniform(8, 12))
    texts: dict[str, Any] = {}
    cbars: dict[str, Any] = {}
    words = []

    def cell(i: int) -> tuple[Any, str]:  # the i-th plot (row-major) and its label letter
        r, c = divmod(i, cols)
        return axes[r][c], chr(97 + (c * rows + r if colmajor else i))

    for i in range(rows * cols):
        ax, key = cell(i)
        lab = key.upper() if upper else key
        lab = f"({lab})" if paren else lab
        kd = str(rng.choice(["bands", "dos", "map", "lines", "scatter"])) if kind == "mixed" else kind
        im = _content(ax, rng, kd)
        if im is not None and rng.random() < 0.6:
            cbars[key] = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xlabel(str(rng.choice(XL)), fontsize=fs * 0.85)
        if i % cols == 0 or rng.random() < 0.5:  # the first column always has a y label
            ax.set_ylabel(str(rng.choice(YL)), fontsize=fs * 0.85)
        ax.tick_params(labelsize=fs * 0.75)
        mode = str(rng.choice(MODES))
        words.append(mode)
        if style == "title":
            texts[key] = ax.set_title(f"{lab} mode={mode}", fontsize=fs)
        elif style == "title_only":
            texts[key] = ax.set_title(lab, fontsize=fs, loc=str(rng.choice(["center", "left"])))
        elif style in ("under", "under_desc"):  # a sub-caption line under the plot (LaTeX subfigure style)
            under = lab if style == "under" else f"{lab} {mode} case"
            ax.set_xlabel(f"{ax.get_xlabel()}\n\n{under}", fontsize=fs * 0.85)
            texts[key] = ax.xaxis.label
        elif style == "corner":
            texts[key] = ax.text(
                -0.22, 1.04, lab, transform=ax.transAxes, ha="left", va="bottom", fontsize=fs * 1.2, fontweight="bold"
            )
        else:
            texts[key] = ax.text(
                0.04,
                0.95,
                lab,
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize=fs,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
    fig.tight_layout(
        h_pad=float(rng.uniform(0.6, 2.0)) + (1.2 if style.startswith("under") else 0.0),
        w_pad=float(rng.uniform(0.5, 2.0)),
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    W, H = fig.canvas.get_width_height()
    truths = []
    for i in range(rows * cols):
        ax, key = cell(i)
        bbs = [ax.get_tightbbox(renderer), texts[key].get_window_extent(renderer)]
        if key in cbars:
            bbs.append(cbars[key].ax.get_tightbbox(renderer))
        x0 = min(b.x0 for b in bbs)
        x1 = max(b.x1 for b in bbs)
        y0 = min(b.y0 for b in bbs)
        y1 = max(b.y1 for b in bbs)
        box = [max(0, int(x0)), max(0, int(H - y1)), min(W, int(np.ceil(x1))), min(H, int(np.ceil(H - y0)))]
        truths.append({"label": key, "bbox": box, "type": None})
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB")
    assert img.size == (W, H), (img.size, W, H)
    truths.sort(key=lambda t: str(t["label"]))
    what = {
        "bands": "Band structures",
        "dos": "Densities of states",
        "map": "Fermi-surface maps",
        "lines": "Transfer curves",
        "scatter": "Correlations",
        "mixed": "Electronic structure",
    }[kind]
    if rng.random() < 0.5:
        cap = f"{what} of the slab computed in several modes. " + " ".join(
            f"({t['label']}) mode={words[j]}." for j, t in enumerate(truths)
        )
    else:
        cap = f"{what} (a–{truths[-1]['label']}) for the eight spin settings described in the text."
    return style, img, cap, truths
