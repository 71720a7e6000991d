"""Synthetic spectrum plots in journal styles, with exact truth (axes box, ticks, every line in pixels and data).

``render(seed)`` → (PIL image, truth dict). Styles drawn per seed: size 300–1200 px, serif/sans fonts, line widths
1–4 px, solid/dashed/dotted, colour or black, 1–5 series overlaid or stacked with offsets, legends, inward/outward
ticks, minor ticks, grids, hidden y ticks, reversed x (XPS), JPEG quality 60–90. Spectra: XRD-like peak patterns
(or supplied real/simulated patterns), Raman, XPS, FTIR, UV-vis and generic curves.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PALETTES = [
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"],
    ["#000000", "#e41a1c", "#377eb8", "#4daf4a", "#984ea3"],
    ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00"],
    ["#000000", "#000000", "#000000", "#000000", "#000000"],
]


def _pv(x: np.ndarray, c: float, w: float, eta: float = 0.5) -> np.ndarray:
    g = np.exp(-4 * np.log(2) * ((x - c) / w) ** 2)
    lo = 1 / (1 + 4 * ((x - c) / w) ** 2)
    return eta * lo + (1 - eta) * g


def spectrum(
    kind: str,
    rng: np.random.Generator,
    xrd_peaks: list[tuple[float, float]] | None = None,
    dom: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    if kind == "xrd":
        lo, hi = float(rng.choice([5, 10, 15, 20])), float(rng.choice([60, 70, 80, 90]))
        if dom:
            lo, hi = dom["lo"], dom["hi"]
        x = np.linspace(lo, hi, int((hi - lo) / 0.01) + 1)
        y = np.zeros_like(x)
        peaks = xrd_peaks or [
            (float(rng.uniform(lo + 1, hi - 1)), float(rng.uniform(0.05, 1.0) ** 2))
            for _ in range(int(rng.integers(4, 25)))
        ]
        w = float(rng.uniform(0.08, 0.35))
        for c, a in peaks:
            if lo < c < hi:
                y += a * _pv(x, c, w * (1 + 0.3 * (c - lo) / (hi - lo)))
        y = y / max(y.max(), 1e-9)
        y += 0.03 + 0.05 * np.exp(-(x - lo) / 10) * rng.uniform(0, 1)
        y += rng.normal(0, rng.uniform(0.0, 0.012), x.size)
        return x, y, {"xlabel": "2θ (degree)", "ylabel": "Intensity (a.u.)", "dom": {"lo": lo, "hi": hi}}
    if kind == "raman":
        x = np.linspace(100, dom["hi"] if dom else float(rng.choice([1000, 1800, 3200])), 3000)
        y = 0.1 + 0.0001 * (x - x[0]) * rng.uniform(0, 0.5)
        for _ in range(int(rng.integers(2, 8))):
            y = y + rng.uniform(0.2, 1) * _pv(x, rng.uniform(x[0] + 50, x[-1] - 50), rng.uniform(8, 40), 0.9)
        y += rng.normal(0, 0.005, x.size)
        return x, y, {"xlabel": "Raman shift (cm$^{-1}$)", "ylabel": "Intensity (a.u.)", "dom": {"hi": float(x[-1])}}
    if kind == "xps":
        c0 = dom["c0"] if dom else float(rng.uniform(100, 900))
        x = np.linspace(c0 - 15, c0 + 15, 1500)
        y = 0.2 + 0.3 / (1 + np.exp(-(x - c0) / 1.0))
        for _ in range(int(rng.integers(1, 4))):
            y = y + rng.uniform(0.3, 1) * _pv(x, c0 + rng.uniform(-6, 6), rng.uniform(0.8, 2.5), 0.3)
        y += rng.normal(0, 0.008, x.size)
        return x, y, {"xlabel": "Binding energy (eV)", "ylabel": "Intensity (a.u.)", "reverse": True, "dom": {"c0": c0}}
    if kind == "ftir":
        x = np.linspace(4000, 400, 3000)
        y = 90 - 2 * np.sin(x / 900)
        for _ in range(int(rng.integers(3, 9))):
            y = y - rng.uniform(5, 40) * _pv(x, rng.uniform(500, 3800), rng.uniform(10, 80), 0.7)
        return x, y, {"xlabel": "Wavenumber (cm$^{-1}$)", "ylabel": "Transmittance (%)", "reverse": True}
    if kind == "uvvis":
        x = np.linspace(200, 800, 1200)
        e = float(rng.uniform(300, 650))
        y = (
            1.2 / (1 + np.exp((x - e) / rng.uniform(10, 40)))
            + 0.1
            + 0.3 * _pv(x, rng.uniform(250, 700), rng.uniform(30, 100))
        )
        return x, y, {"xlabel": "Wavelength (nm)", "ylabel": "Absorbance (a.u.)"}
    # generic smooth measurement curve
    x = np.linspace(0, dom["hi"] if dom else float(rng.choice([1, 5, 10, 100, 500])), 800)
    t = x / x[-1]
    y = rng.uniform(-1, 1) * t + rng.uniform(-1, 1) * np.sin(rng.uniform(2, 12) * t + rng.uniform(0, 6)) * rng.uniform(
        0.1, 1
    )
    y = y * float(rng.choice([1, 10, 100, 1000])) + float(rng.choice([0, 5, 50]))
    return (
        x,
        y,
        {
            "dom": {"hi": float(x[-1])},
            "xlabel": str(
                rng.choice(["Time (s)", "Potential (V vs. RHE)", "Temperature (K)", "Current density (mA cm$^{-2}$)"])
            ),
            "ylabel": str(rng.choice(["Voltage (V)", "Capacity (mAh g$^{-1}$)", "Current (mA)"])),
        },
    )


def render(
    seed: int,
    kind: str | None = None,
    xrd_peaks: list[tuple[float, float]] | None = None,
    fmt: str | None = None,
    n_series: int | None = None,
    dpi_scale: float = 1.0,
) -> tuple[Image.Image, dict[str, Any]]:
    """One plot and its truth; ``n_series`` fixes the number of lines (e.g. 1 for a single-phase pattern).

    ``dpi_scale`` renders the same figure at ``dpi_scale`` × 100 dpi (a 300-dpi document render at 3): every size in
    pixels — image, fonts, pens — grows by that factor, the drawn plot is otherwise the same.
    """
    rng = np.random.default_rng(seed)
    kind = kind or str(rng.choice(["xrd", "xrd", "raman", "xps", "ftir", "uvvis", "generic"]))
    W = int(rng.integers(300, 1201))
    Hh = int(W * rng.uniform(0.6, 0.85))
    dpi = 100 * dpi_scale
    scale = W / 500
    fs = float(np.clip(rng.uniform(8, 12) * scale**0.7, 6, 18))
    family = str(rng.choice(["serif", "sans-serif", "DejaVu Serif", "DejaVu Sans"]))
    n = int(rng.choice([1, 1, 1, 2, 3, 4, 5]))
    if n_series is not None:
        n = n_series
    stacked = n > 1 and (kind in ("xrd", "raman", "xps", "ftir") or rng.random() < 0.3) and rng.random() < 0.8
    pal = PALETTES[int(rng.integers(0, len(PALETTES)))] if not (stacked and rng.random() < 0.3) else PALETTES[3]
    if not stacked and pal is PALETTES[3]:
        pal = PALETTES[0]
    lw_px = float(rng.uniform(1, 4))
    styles = ["-"] * n
    if kind in ("generic", "uvvis") and rng.random() < 0.4:
        styles = [str(rng.choice(["-", "--", ":"])) for _ in range(n)]
    tick_dir = str(rng.choice(["in", "out"]))
    minor = rng.random() < 0.3
    grid = rng.random() < 0.2
    hide_y = kind in ("xrd", "raman", "xps") and rng.random() < 0.5
    legend = n > 1 and rng.random() < 0.6
    with plt.rc_context(
        {
            "font.family": family,
            "font.size": fs,
            "mathtext.fontset": "dejavuserif" if "erif" in family else "dejavusans",
        }
    ):
        fig = plt.figure(figsize=(W / 100, Hh / 100), dpi=dpi)
        ax = fig.add_subplot(111)
        data = []
        offset = 0.0
        meta: dict[str, Any] = {}
        for i in range(n):
            x, y, meta = spectrum(kind, rng, xrd_peaks if i == 0 else None, dom=meta.get("dom") if i else None)
            if kind == "xrd" and i > 0 and xrd_peaks is None:
                pass
            if stacked:
                y = (y - y.min()) / max(np.ptp(y), 1e-9)
                y = y + offset
                offset += float(rng.uniform(0.8, 1.3))
            data.append((x, y))
            ax.plot(
                x,
                y,
                styles[i],
                color=pal[i % len(pal)],
                lw=lw_px * 72 / 100,
                label=f"S{i + 1}" if not stacked else ["A", "B", "C", "D", "E"][i],
            )
        if kind in ("xrd", "raman") and not stacked and n > 1:
            pass
        xs_all = np.concatenate([d[0] for d in data])
        ax.set_xlim(float(xs_all.min()), float(xs_all.max()))
        if meta.get("reverse"):
            ax.invert_xaxis()
        ax.set_xlabel(meta["xlabel"])
        ax.set_ylabel(meta["ylabel"])
        ax.tick_params(direction=tick_dir, which="both", length=fs * 0.4, width=max(0.6, lw_px * 0.3))
        if minor:
            ax.minorticks_on()
        if grid:
            ax.grid(True, color="#cccccc", lw=0.8)
        if hide_y:
            ax.set_yticks([])
        if legend:
            ax.legend(fontsize=fs * 0.85, frameon=bool(rng.random() < 0.6))
        if rng.random() < 0.5:
            for s in ("top", "right"):
                ax.spines[s].set_visible(False)
        for spine in ax.spines.values():
            spine.set_linewidth(max(0.8, lw_px * 0.35))
        fig.tight_layout()
        fig.canvas.draw()
        # truth in pixel-index coordinates (pixel i spans display [i, i+1); centre = display i + 0.5)
        bb = ax.get_window_extent()
        H = int(round(fig.get_figheight() * dpi))
        box = [bb.x0 - 0.5, H - bb.y1 - 0.5, bb.x1 - 0.5, H - bb.y0 - 0.5]
        T = ax.transData
        xl = ax.get_xlim()
        ticks = []
        for t, lab in zip(ax.get_xticks(), ax.get_xticklabels(), strict=False):
            if min(xl) - 1e-9 <= t <= max(xl) + 1e-9 and lab.get_text():
                ticks.append({"value": float(t), "px": float(T.transform((t, 0))[0] - 0.5), "text": lab.get_text()})
        yticks = []
        yl = ax.get_ylim()
        for t, lab in zip(ax.get_yticks(), ax.get_yticklabels(), strict=False):
            if min(yl) - 1e-9 <= t <= max(yl) + 1e-9 and lab.get_text():
                yticks.append(
                    {"value": float(t), "px": float(H - T.transform((0, t))[1] - 0.5), "text": lab.get_text()}
                )
        series = []
        for (x, y), st, i in zip(data, styles, range(n), strict=True):
            p = T.transform(np.stack([x, y], axis=1))
            series.append(
                {
                    "x": x.tolist(),
                    "y": y.tolist(),
                    "px_x": (p[:, 0] - 0.5).tolist(),
                    "px_y": (H - p[:, 1] - 0.5).tolist(),
                    "style": st,
                    "color": pal[i % len(pal)],
                }
            )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
    buf.seek(0)
    im = Image.open(buf).convert("RGB")
    fmt = fmt or ("jpeg" if rng.random() < 0.5 else "png")
    q = int(rng.integers(60, 91))
    if fmt == "jpeg":
        b2 = io.BytesIO()
        im.save(b2, format="JPEG", quality=q)
        b2.seek(0)
        im = Image.open(b2).convert("RGB")
    truth = {
        "seed": seed,
        "kind": kind,
        "size": list(im.size),
        "plot_box": box,
        "x_ticks": ticks,
        "y_ticks": yticks,
        "y_hidden": hide_y,
        "ylim": list(yl),
        "xlim": list(xl),
        "series": series,
        "stacked": stacked,
        "lw_px": lw_px,
        "format": fmt,
        "quality": q if fmt == "jpeg" else None,
        "legend": legend,
        "styles": styles,
        "grid": grid,
        "tick_dir": tick_dir,
        "minor": minor,
        "xlabel": data and meta["xlabel"],
        "family": family,
    }
    return im, truth
