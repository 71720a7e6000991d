"""Generated panels of the layouts the panel-type classifier confuses on real figures (training data only).

:mod:`training.figures_synth` draws each type on its own: a micrograph fills its panel, a graph is a line plot.
Real figures also show

- pictures inside plot axes (a micrograph, diffraction pattern or photo drawn with ``imshow``: ticks, axis labels,
  a title, a colour bar, sometimes a viewer window around it) — typed by the picture, not by the axes;
- fluorescence micrographs (coloured cells and spots on black);
- graphs that are not line plots: 2-D colour maps and contour plots of smooth data, 3-D surfaces, grids of
  sub-plots, band structures, histograms with error bars;
- drawings of networks and flow charts (nodes, boxes, arrows) — illustrations;
- atomic structure models (spheres of a few species seen along some direction, bonds, the unit cell's edges, in
  plot axes in Å or not) — illustrations;
- 2-D diffraction detector images (powder rings in a colour map inside pixel axes, module gaps, a beam stop; or the
  image regrouped as scattering angle vs azimuth) and Kikuchi / EBSD patterns (grey bands crossing at zone axes,
  noise) — diffraction (session 10).

Each generator takes a ``numpy.random.Generator`` and returns an RGB image; :data:`EXTRA` maps a name to
``(panel type, generator)``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from training import figures_synth as synth

Rng = np.random.Generator

_XLABELS = ("x (µm)", "x (nm)", "X (pixels)", "Unnamed 0th axis", "x (px)", "Width (nm)", "")
_YLABELS = ("y (µm)", "y (nm)", "Y (pixels)", "Unnamed 1st axis", "y (px)", "Height (nm)", "")
_TITLES = ("SE images", "Signal", "HAADF", "BF image", "Fe_Ka at 6.40 keV", "O K", "Frame 12", "ROI", "")


def _render(fig: Any) -> Image.Image:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _figure(rng: Rng, w: int, h: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    face = "white" if rng.random() < 0.75 else str(rng.choice(["#d9d9d9", "#bfbfbf", "#f0f0f0"]))
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100, facecolor=face)
    return fig, plt


def _window(img: Image.Image, rng: Rng) -> Image.Image:
    """A viewer window around a plot: grey frame, title bar, a tool bar (screenshots of analysis software)."""
    top, bottom = int(rng.integers(16, 30)), int(rng.integers(0, 34))
    out = Image.new("RGB", (img.width + 8, img.height + top + bottom + 4), (200, 200, 205))
    d = ImageDraw.Draw(out)
    d.rectangle([0, 0, out.width, top], fill=(235, 235, 240))
    d.text((24, 3), str(rng.choice(["Figure 3", "Signal", "Navigator", "Figure 1"])), fill=(0, 0, 0))
    for k in range(3):
        x = out.width - 22 * (k + 1)
        d.rectangle([x, 3, x + 16, top - 3], outline=(90, 90, 90), fill=(220, 60, 60) if k == 0 else None)
    for k in range(int(rng.integers(0, 8)) if bottom > 20 else 0):
        x = 8 + 26 * k
        d.rectangle([x, img.height + top + 6, x + 18, img.height + top + 24], fill=(70, 110, 170))
    out.paste(img, (4, top + 2))
    return out


def picture_in_axes(picture: Callable[[Rng], Image.Image]) -> Callable[[Rng], Image.Image]:
    """A picture drawn in plot axes (``imshow``), grey or false colour, ticks, labels, title, colour bar."""

    def gen(rng: Rng) -> Image.Image:
        pic = picture(rng)
        w, h = synth._size(rng, 220, 520)
        fig, plt = _figure(rng, w, h)
        n = int(rng.choice([1, 1, 1, 2, 3]))
        grey = bool(rng.random() < 0.6) or n > 1
        cmap = str(rng.choice(["gray", "gray", "viridis", "inferno", "RdYlBu_r", "hot", "jet"]))
        cbar = bool(rng.random() < 0.5)
        for k in range(n):
            ax = fig.add_subplot(1, n, k + 1)
            src = picture(rng) if k else pic
            a = np.asarray(src.convert("L" if grey else "RGB"))
            im = ax.imshow(a, cmap=cmap if grey else None, extent=(0, a.shape[1] * 0.02, 0, a.shape[0] * 0.02))
            if rng.random() < 0.7:
                ax.set_xlabel(str(rng.choice(_XLABELS)), fontsize=7)
                ax.set_ylabel(str(rng.choice(_YLABELS)), fontsize=7)
                ax.tick_params(labelsize=6)
            else:
                ax.set_axis_off()
            if rng.random() < 0.6:
                ax.set_title(str(rng.choice(_TITLES)), fontsize=8)
            if cbar and grey and k == n - 1:
                fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        img = _render(fig)
        return _window(img, rng) if rng.random() < 0.25 else img

    return gen


def fluorescence(rng: Rng) -> Image.Image:
    """Cells and spots in one to three colour channels on black (fluorescence / confocal micrographs)."""
    w, h = synth._size(rng, 160, 380)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.zeros((h, w, 3), np.float32)
    chans = rng.choice(3, size=int(rng.integers(1, 4)), replace=False)
    for c in chans:
        layer = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(5, 40))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            rx, ry = rng.uniform(4, 30), rng.uniform(4, 30)
            ang = rng.uniform(0, math.pi)
            u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
            v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
            layer += rng.uniform(0.3, 1.0) * np.exp(-(((u / rx) ** 2 + (v / ry) ** 2) ** rng.uniform(1, 3)))
        layer *= 1 + 0.5 * synth._blur(rng.random((h, w)).astype(np.float32), 1.5)
        rgb[..., int(c)] += layer
    if rng.random() < 0.3:  # yellow / magenta / cyan palettes
        rgb = rgb[..., [0, 0, 1]] if rng.random() < 0.5 else rgb[..., [0, 1, 1]]
    rgb += rng.normal(0, 0.03, rgb.shape).astype(np.float32)
    img = Image.fromarray((np.clip(rgb / max(1e-6, float(np.percentile(rgb, 99.5))), 0, 1) * 255).astype(np.uint8))
    return synth._add_scale_bar(img, rng) if rng.random() < 0.5 else img


def _smooth_field(rng: Rng, n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    kind = rng.choice(["gauss", "waves", "bands", "saddle"])
    z = np.zeros((n, n), np.float32)
    if kind == "gauss":
        for _ in range(int(rng.integers(1, 6))):
            cx, cy, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            z += rng.uniform(-1, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    elif kind == "waves":
        for _ in range(int(rng.integers(1, 4))):
            kx, ky = rng.uniform(1, 8, 2)
            z += np.cos(2 * math.pi * (kx * xx + ky * yy) + rng.uniform(0, 6))
    elif kind == "bands":  # a 2-D band / Fermi-surface style tight-binding energy
        z = np.cos(2 * math.pi * xx * rng.uniform(1, 3)) + np.cos(2 * math.pi * yy * rng.uniform(1, 3))
    else:
        z = (xx - 0.5) ** 2 - (yy - 0.5) ** 2 * rng.uniform(0.5, 2)
    return z


def colour_map_graph(rng: Rng) -> Image.Image:
    """Smooth 2-D data drawn as a colour map or contours, with axes and usually a colour bar (a graph)."""
    w, h = synth._size(rng, 200, 460)
    fig, plt = _figure(rng, w, h)
    n = int(rng.choice([1, 1, 2]))
    cmap = str(rng.choice(["viridis", "jet", "coolwarm", "RdBu_r", "plasma", "seismic", "magma"]))
    for k in range(n):
        ax = fig.add_subplot(1, n, k + 1)
        res = int(rng.choice([12, 24, 60, 120]))
        z = _smooth_field(rng, res)
        ext = (float(rng.uniform(-3, 0)), float(rng.uniform(1, 4)))
        style = rng.choice(["imshow", "contourf", "contour", "pcolor"])
        if style == "imshow":
            im = ax.imshow(z, cmap=cmap, origin="lower", extent=(*ext, *ext), aspect="auto")
        elif style == "pcolor":
            im = ax.pcolormesh(z, cmap=cmap)
        elif style == "contourf":
            im = ax.contourf(z, levels=int(rng.integers(6, 20)), cmap=cmap)
        else:
            im = ax.contour(z, levels=int(rng.integers(5, 15)), cmap=cmap)
        ax.set_xlabel(str(rng.choice(["$k_x$", "k (1/Å)", "Temperature (K)", "x", "Strain (%)"])), fontsize=7)
        ax.set_ylabel(str(rng.choice(["$k_y$", "E (eV)", "Pressure (GPa)", "y", "Field (T)"])), fontsize=7)
        ax.tick_params(labelsize=6)
        if rng.random() < 0.5:
            ax.set_title(str(rng.choice(["(a) mode=plain", "spin up", "ΔE", "Phase diagram", "|ψ|²", ""])), fontsize=8)
        if rng.random() < 0.7:
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _render(fig)


def surface_graph(rng: Rng) -> Image.Image:
    """A 3-D surface or wire-frame plot of smooth data."""
    w, h = synth._size(rng, 220, 440)
    fig, plt = _figure(rng, w, h)
    ax = fig.add_subplot(projection="3d")
    n = 40
    z = _smooth_field(rng, n)
    xx, yy = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    if rng.random() < 0.7:
        ax.plot_surface(xx, yy, z, cmap=str(rng.choice(["viridis", "coolwarm", "jet", "plasma"])), linewidth=0)
    else:
        ax.plot_wireframe(xx, yy, z, rstride=3, cstride=3, linewidth=0.6)
    ax.tick_params(labelsize=5)
    ax.set_xlabel("$k_x$", fontsize=6)
    ax.set_ylabel("$k_y$", fontsize=6)
    return _render(fig)


def _line_axes(a: Any, rng: Rng) -> None:
    x = np.linspace(0, 1, 300)
    kind = rng.choice(["bands", "dos", "hist", "errorbars", "lines", "stacked", "steps"])
    colors = ["k", "r", "b", "g", "tab:orange", "tab:purple", "tab:cyan"]
    if kind == "bands":
        for _ in range(int(rng.integers(4, 14))):
            y = rng.uniform(-3, 3) + rng.uniform(0.3, 1.5) * np.cos(2 * math.pi * x * rng.uniform(0.5, 2))
            a.plot(x, y, color=str(rng.choice(colors)) if rng.random() < 0.5 else "k", lw=0.8)
        a.axhline(0, color="grey", ls="--", lw=0.6)
        for v in rng.uniform(0, 1, int(rng.integers(1, 4))):
            a.axvline(float(v), color="k", lw=0.5)
    elif kind == "dos":
        y = sum(rng.uniform(0.2, 1) * np.exp(-((x - c) ** 2) / rng.uniform(0.0005, 0.01)) for c in rng.uniform(0, 1, 8))
        a.fill_between(x, 0, y, color=str(rng.choice(colors[1:])), alpha=0.5)
        a.plot(x, y, color="k", lw=0.7)
    elif kind == "hist":
        a.hist(
            rng.normal(0, 1, 400) * rng.uniform(1, 20) + rng.uniform(0, 50),
            bins=int(rng.integers(8, 40)),
            color=str(rng.choice(colors[1:])),
            edgecolor="k",
            alpha=0.8,
        )
    elif kind == "errorbars":
        n = int(rng.integers(3, 10))
        a.bar(
            range(n), rng.uniform(1, 10, n), yerr=rng.uniform(0.2, 2, n), color=str(rng.choice(colors[1:])), capsize=2
        )
    elif kind == "stacked":
        for k in range(int(rng.integers(2, 6))):
            y = np.exp(-((x - rng.uniform(0.2, 0.8)) ** 2) / 0.01) + k * 1.2 + rng.normal(0, 0.03, len(x))
            a.plot(x, y, color=colors[k], lw=0.8)
    elif kind == "steps":
        a.step(x[::15], np.cumsum(rng.normal(0, 1, len(x[::15]))), color="b")
    else:
        for k in range(int(rng.integers(1, 5))):
            a.plot(
                x,
                np.sin(x * rng.uniform(2, 12)) * rng.uniform(0.5, 2),
                color=colors[k],
                marker=str(rng.choice(["", "o", "s", "^"])) or None,
                markevery=25,
                ms=3,
            )
    a.tick_params(labelsize=5)
    if rng.random() < 0.5:
        a.set_title(str(rng.choice(["(a) mode=plain", "(b) mode=parametric", "Spin up", "Total DOS", ""])), fontsize=7)
    if rng.random() < 0.6:
        a.set_xlabel(str(rng.choice(["E - E_F (eV)", "k-path", "Epoch", "Size (nm)", "Time (s)"])), fontsize=6)


def graph_grid(rng: Rng) -> Image.Image:
    """One plot or a small grid of plots that are not the plain line plots of figures_synth."""
    rows, cols = (1, 1) if rng.random() < 0.4 else (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
    w, h = synth._size(rng, 200 + 80 * cols, 360 + 120 * cols)
    h = max(h, 150 * rows)
    fig, plt = _figure(rng, w, h)
    for k in range(rows * cols):
        _line_axes(fig.add_subplot(rows, cols, k + 1), rng)
    fig.tight_layout()
    return _render(fig)


def network_diagram(rng: Rng) -> Image.Image:
    """Nodes joined by edges, or boxes joined by arrows (neural networks, flow charts, work flows)."""
    w, h = synth._size(rng, 200, 460)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    palette = [tuple(int(v) for v in rng.integers(40, 240, 3)) for _ in range(3)]
    if rng.random() < 0.5:  # layered network
        layers = int(rng.integers(3, 6))
        nodes = []
        for i in range(layers):
            k = int(rng.integers(2, 7))
            x = int((i + 0.5) * w / layers)
            nodes.append([(x, int((j + 0.5) * h / k)) for j in range(k)])
        r = int(rng.integers(5, 12))
        for a, b in zip(nodes[:-1], nodes[1:], strict=False):
            for p in a:
                for q in b:
                    if rng.random() < 0.8:
                        d.line([p, q], fill=(120, 120, 120), width=1)
        for i, layer in enumerate(nodes):
            for x, y in layer:
                d.ellipse([x - r, y - r, x + r, y + r], fill=palette[i % 3], outline=(0, 0, 0))
    else:  # flow chart
        boxes = []
        for _ in range(int(rng.integers(3, 8))):
            bw, bh = int(rng.integers(40, 110)), int(rng.integers(18, 40))
            x, y = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
            boxes.append((x, y, x + bw, y + bh))
        for b0, b1 in zip(boxes[:-1], boxes[1:], strict=False):
            p = ((b0[0] + b0[2]) // 2, (b0[1] + b0[3]) // 2)
            q = ((b1[0] + b1[2]) // 2, (b1[1] + b1[3]) // 2)
            d.line([p, q], fill=(0, 0, 0), width=2)
            ang = math.atan2(q[1] - p[1], q[0] - p[0])
            d.polygon(
                [
                    q,
                    (q[0] - 9 * math.cos(ang - 0.4), q[1] - 9 * math.sin(ang - 0.4)),
                    (q[0] - 9 * math.cos(ang + 0.4), q[1] - 9 * math.sin(ang + 0.4)),
                ],
                fill=(0, 0, 0),
            )
        for k, bx in enumerate(boxes):
            d.rounded_rectangle(bx, radius=5, fill=palette[k % 3], outline=(0, 0, 0))
            d.text(
                (bx[0] + 4, bx[1] + 3),
                str(rng.choice(["Input", "Conv", "Loss", "Data", "Model", "Output"])),
                fill=(0, 0, 0),
                font=synth._font(10),
            )
    return img


_ATOM_COLOURS = (
    (144, 144, 144),
    (255, 13, 13),
    (240, 240, 240),
    (31, 240, 31),
    (171, 92, 242),
    (255, 209, 35),
    (64, 200, 208),
    (200, 128, 51),
    (48, 80, 248),
    (224, 102, 51),
    (128, 128, 160),
    (255, 181, 181),
    (60, 160, 120),
    (180, 180, 60),
)


def _lattice(rng: Rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atom positions (n, 3), species (n,) and the cell's 8 corners of a small crystal, slab, tube or cluster."""
    kind = str(rng.choice(["cubic", "fcc", "hex", "slab", "tube", "cluster", "layers"]))
    na, nb, nc = (int(v) for v in rng.integers(2, 6, 3))
    if kind == "slab":
        nc = int(rng.integers(1, 3))
        na, nb = int(rng.integers(4, 9)), int(rng.integers(4, 9))
    basis = [np.zeros(3)]
    if kind == "fcc":
        basis += [np.array(v) for v in ([0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5])]
    elif kind in ("hex", "layers"):
        basis += [np.array([0.5, 0.29, 0.5])]
    grid = np.array([[i, j, k] for i in range(na) for j in range(nb) for k in range(nc)], dtype=float)
    pos = np.concatenate([grid + b for b in basis])
    species = np.concatenate([np.full(len(grid), k % 3) for k in range(len(basis))])
    if kind == "hex":
        pos[:, 0] += 0.5 * pos[:, 1]
        pos[:, 1] *= 0.87
    if kind == "layers":  # stacked sheets with a gap
        pos[:, 2] *= 1.8
    if kind == "tube":
        n_ring, n_len = int(rng.integers(8, 16)), int(rng.integers(4, 10))
        ring = [
            (2 * np.pi * i / n_ring + (j % 2) * np.pi / n_ring, j * 0.6) for i in range(n_ring) for j in range(n_len)
        ]
        t = np.array(ring)
        r = n_ring / (2 * np.pi) * 0.9
        pos = np.stack([r * np.cos(t[:, 0]), r * np.sin(t[:, 0]), t[:, 1]], axis=1)
        species = np.zeros(len(pos), int)
    if kind == "cluster":
        pts = np.array([[i, j, k] for i in range(-3, 4) for j in range(-3, 4) for k in range(-3, 4)], dtype=float)
        fcc = pts[(pts.sum(axis=1) % 2) == 0] * 0.7
        pos = fcc[np.linalg.norm(fcc, axis=1) <= float(rng.uniform(1.5, 2.6))]
        species = (rng.random(len(pos)) < float(rng.uniform(0, 0.3))).astype(int)
    n_species = int(rng.integers(1, 4))
    species = species % n_species
    if rng.random() < 0.3:  # substitutions / adsorbates
        species[rng.random(len(species)) < 0.1] = n_species
    span = pos.max(axis=0) - pos.min(axis=0) + 1e-6
    lo = pos.min(axis=0)
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float) * span + lo
    return pos, species, corners


def structure_model(rng: Rng) -> Image.Image:
    """An atomic structure model as papers and programs render it (ASE, VESTA, OVITO, matplotlib): shaded or flat
    spheres of two to four species seen along a random direction, sometimes with bonds, the unit cell's edges, an
    outline per atom, and sometimes drawn inside plot axes in Å (an illustration, whatever its frame)."""
    w, h = synth._size(rng, 180, 460)
    pos, species, corners = _lattice(rng)
    a, b = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, np.pi / 2.2))
    if rng.random() < 0.35:
        a, b = float(rng.choice([0.0, np.pi / 2])), float(rng.choice([0.0, np.pi / 2]))  # along an axis
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rot = rx @ rz
    p, c = pos @ rot.T, corners @ rot.T
    allp = np.concatenate([p, c])
    lo, hi = allp[:, :2].min(axis=0), allp[:, :2].max(axis=0)
    margin = 0.12
    scale = (1 - 2 * margin) * min(w / max(1e-6, hi[0] - lo[0]), h / max(1e-6, hi[1] - lo[1]))

    def xy(q: np.ndarray) -> np.ndarray:
        return np.stack([(q[:, 0] - lo[0]) * scale + margin * w, h - ((q[:, 1] - lo[1]) * scale + margin * h)], axis=1)

    sxy, cxy = xy(p), xy(c)
    cols = [_ATOM_COLOURS[int(i)] for i in rng.choice(len(_ATOM_COLOURS), 5, replace=False)]
    radii = rng.uniform(0.18, 0.5, 5) * scale
    shaded, outlined = rng.random() < 0.7, rng.random() < 0.5
    img = Image.new("RGB", (w, h), (255, 255, 255) if rng.random() < 0.85 else (0, 0, 0))
    d = ImageDraw.Draw(img)
    if rng.random() < 0.6:  # the unit cell's edges
        edge_col = (0, 0, 0) if img.getpixel((0, 0)) == (255, 255, 255) else (255, 255, 255)
        for i in range(8):
            for j in range(i + 1, 8):
                if bin(i ^ j).count("1") == 1:
                    d.line([tuple(cxy[i]), tuple(cxy[j])], fill=edge_col, width=1)
    order = np.argsort(p[:, 2])  # far atoms first
    if rng.random() < 0.35:  # bonds between near neighbours, drawn under the atoms
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=2)
        cut = float(np.sort(dist, axis=1)[:, 1].mean()) * 1.15
        bond_w = max(2, int(scale * 0.12))
        for i, j in zip(*np.where((dist > 0) & (dist < cut)), strict=True):
            if i < j:
                d.line([tuple(sxy[i]), tuple(sxy[j])], fill=(150, 150, 150), width=bond_w)
        radii = radii * 0.55
    for i in order:
        r = float(radii[species[i]])
        col = cols[species[i]]
        x, y = sxy[i]
        if shaded:
            steps = max(2, int(r))
            for k in range(steps, 0, -1):
                t = k / steps
                cc = tuple(min(255, int(v * (0.55 + 0.45 * (1 - t)) + (255 - v) * (1 - t) ** 3)) for v in col)
                off = r * (1 - t) * 0.35
                d.ellipse([x - r * t - off, y - r * t - off, x + r * t - off, y + r * t - off], fill=cc)
            if outlined:
                d.ellipse([x - r, y - r, x + r, y + r], outline=(20, 20, 20))
        else:
            d.ellipse([x - r, y - r, x + r, y + r], fill=col, outline=(20, 20, 20) if outlined else None)
    if rng.random() < 0.25:  # in plot axes, positions in Å (matplotlib's plot_atoms, abTEM's show_atoms)
        fig, plt = _figure(rng, w + 80, h + 60)
        ax = fig.add_subplot(1, 1, 1)
        ax.imshow(np.asarray(img), extent=(0, w * 0.05, 0, h * 0.05))
        ax.set_xlabel(str(rng.choice(["x [Å]", "x (Å)", "y [Å]", ""])), fontsize=8)
        ax.set_ylabel(str(rng.choice(["y [Å]", "z [Å]", "y (Å)", ""])), fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        return _render(fig)
    return img


_DETECTOR_TITLES = ("LaB6_0001.edf", "ceria_150_1_0001.cbf", "Pilatus 1M", "Eiger 4M", "AgBh", "frame 0", "demo", "")
_DETECTOR_CMAPS = ("inferno", "inferno", "magma", "viridis", "jet", "gray", "gray_r", "plasma", "hot")


def _detector_frame(rng: Rng, n: int) -> np.ndarray:
    """An area-detector frame of a powder sample (X-ray / electron): Debye-Scherrer rings around a beam centre that may
    lie off the frame, elliptical when the detector is tilted, over a background falling off with radius; module gaps
    (rows and columns of the detector's tiles) and a beam-stop shadow; photon noise."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    cx, cy = (
        (float(rng.uniform(-0.4, 1.4) * n) for _ in range(2))
        if rng.random() < 0.4
        else (float(rng.uniform(0.3, 0.7) * n), float(rng.uniform(0.3, 0.7) * n))
    )
    e, ang = float(rng.uniform(0.75, 1.0)), float(rng.uniform(0, math.pi))
    u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
    v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
    r = np.sqrt(u * u + (v / e) ** 2)
    arr = np.zeros((n, n), np.float32)
    if rng.random() < 0.3:  # broad fringes (a simulated geometry): a few wide smooth rings
        period = float(rng.uniform(n / 10, n / 4))
        arr += (0.5 + 0.5 * np.cos(2 * math.pi * r / period)).astype(np.float32)
    else:
        rad = float(rng.uniform(n / 25, n / 6))
        step = float(rng.uniform(n / 30, n / 8))
        while rad < 2 * n:
            width = float(rng.uniform(0.6, 3.0)) * n / 500
            arr += float(rng.uniform(0.2, 1.0)) * np.exp(-((r - rad) ** 2) / (2 * max(0.7, width * 3) ** 2))
            rad += step * float(rng.uniform(0.5, 1.5))
        if rng.random() < 0.5:  # texture: intensity along the rings varies with azimuth
            phi = np.arctan2(v, u)
            arr *= (1 + 0.6 * np.cos(float(rng.integers(1, 4)) * 2 * phi + float(rng.uniform(0, 6)))).astype(np.float32)
        arr += 0.3 * np.exp(-r / (n / 3)) + 0.05
        arr = rng.poisson(np.clip(arr, 0, None) * float(rng.uniform(20, 400))).astype(np.float32)
    if rng.random() < 0.6:  # module gaps
        gap = max(1, n // 120)
        for y in np.cumsum(rng.integers(n // 6, n // 3, 6)):
            arr[int(y) : int(y) + gap * int(rng.integers(2, 6))] = -1 if rng.random() < 0.5 else arr.max()
        if rng.random() < 0.5:
            x = int(rng.uniform(0.3, 0.7) * n)
            arr[:, x : x + gap * 2] = -1
    if rng.random() < 0.4:  # beam stop
        bx, by = int(np.clip(cx, 0, n - 1)), int(np.clip(cy, 0, n - 1))
        w = max(2, n // 60)
        arr[max(0, by - w) : by + w, bx:] = arr.min()
    return arr


def detector_image(rng: Rng) -> Image.Image:
    """A 2-D diffraction detector image as pyFAI / fabio / matplotlib users show it (session 10: such images, false
    colour, smooth, in pixel axes, were typed graph): powder rings in a colour map (often on a log scale) inside
    axes with pixel ticks, a file name as title, sometimes a colour bar or a legend; or the image regrouped as
    scattering angle vs azimuth (a 'caked' image: curved or straight vertical bands, masked black where the detector
    has no pixels). Typed diffraction."""
    w, h = synth._size(rng, 220, 520)
    fig, plt = _figure(rng, w, h)
    ax = fig.add_subplot(1, 1, 1)
    n = int(rng.integers(200, 700))
    arr = _detector_frame(rng, n)
    cmap = str(rng.choice(_DETECTOR_CMAPS))
    if rng.random() < 0.3:  # caked: 2theta along x, chi along y
        tth = np.linspace(1, float(rng.uniform(30, 80)), n)[None, :]
        chi = np.linspace(-180, 180, n)[:, None]
        peaks = np.cumsum(rng.uniform(2, 12, 10))
        bend = float(rng.uniform(0, 3)) * np.sin(np.radians(chi) * float(rng.integers(1, 3)))
        cake = sum(float(rng.uniform(0.2, 1)) * np.exp(-((tth - p - bend) ** 2) / (2 * 0.3**2)) for p in peaks)
        cake = np.asarray(cake, np.float32) + 0.05
        mask = rng.random() < 0.7
        if mask:
            edge = tth.max() * (0.5 + 0.4 * np.abs(np.cos(np.radians(chi))))
            cake = np.where(tth > edge, 0, cake)
        ax.imshow(cake, cmap=cmap, aspect="auto", origin="lower", extent=(1, float(tth.max()), -180, 180))
        ax.set_xlabel(str(rng.choice(["Scattering angle 2θ (°)", "2θ (deg)", "q (nm$^{-1}$)"])), fontsize=7)
        ax.set_ylabel(str(rng.choice(["Azimuthal angle χ (°)", "χ (deg)"])), fontsize=7)
    else:
        shown = np.log1p(np.clip(arr, 0, None)) if rng.random() < 0.6 else arr
        im = ax.imshow(shown, cmap=cmap, origin=str(rng.choice(["lower", "upper"])))
        if rng.random() < 0.4:
            fig.colorbar(im, ax=ax, fraction=0.046)
        if rng.random() < 0.25:  # control points / fitted rings drawn over it, with a legend
            for k in range(int(rng.integers(2, 5))):
                t = np.linspace(0, 2 * math.pi, 80)
                rr = float(rng.uniform(0.1, 0.6) * n)
                ax.plot(
                    n / 2 + rr * np.cos(t),
                    n / 2 + rr * np.sin(t),
                    "o" if rng.random() < 0.5 else "--",
                    ms=2,
                    label=chr(97 + k),
                )
            ax.set_xlim(0, n)
            ax.set_ylim(0, n)
            ax.legend(fontsize=6, loc="upper right")
    ax.tick_params(labelsize=6)
    if rng.random() < 0.7:
        ax.set_title(str(rng.choice(_DETECTOR_TITLES)), fontsize=8)
    fig.tight_layout()
    return _render(fig)


def kikuchi_pattern(rng: Rng) -> Image.Image:
    """An electron backscatter (EBSD) or transmission Kikuchi pattern: straight bright bands with darker edges crossing
    at zone axes, over a bright centre falling off to the corners, grainy and often noisy, grey (sometimes in a round
    detector mask or in plot axes). Session 10: such patterns were typed microscopy. Typed diffraction."""
    n = int(rng.integers(100, 420))
    h = int(n * float(rng.choice([1.0, 0.75, 0.8])))
    yy, xx = np.mgrid[0:h, 0:n].astype(np.float32)
    cx, cy = float(rng.uniform(0.35, 0.65) * n), float(rng.uniform(0.2, 0.6) * h)
    arr = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.6 * n) ** 2)).astype(np.float32)
    bands = np.zeros_like(arr)
    # bands through a few zone axes: several bands share each crossing point
    zones = [(float(rng.uniform(0, n)), float(rng.uniform(0, h))) for _ in range(int(rng.integers(2, 5)))]
    for zx, zy in zones:
        for _ in range(int(rng.integers(2, 5))):
            a = float(rng.uniform(0, math.pi))
            d = (xx - zx) * math.cos(a) + (yy - zy) * math.sin(a)
            w = float(rng.uniform(0.015, 0.05) * n)
            band = (np.abs(d) < w).astype(np.float32)
            edge = np.exp(-((np.abs(d) - w) ** 2) / (2 * (0.15 * w) ** 2))
            bands += float(rng.uniform(0.2, 0.6)) * band - float(rng.uniform(0.0, 0.3)) * edge
    arr = arr * (1 + bands)
    if rng.random() < 0.7:
        arr += rng.normal(0, float(rng.uniform(0.03, 0.2)), arr.shape).astype(np.float32)
    arr = (arr - np.percentile(arr, 1)) / (np.percentile(arr, 99.5) - np.percentile(arr, 1) + 1e-6)
    arr = np.clip(arr, 0, 1)
    if rng.random() < 0.3:  # the round phosphor screen of the detector
        arr = np.where((xx - n / 2) ** 2 + (yy - h / 2) ** 2 < (min(n, h) / 2) ** 2, arr, 0)
    img = Image.fromarray((arr * 255).astype(np.uint8)).convert("RGB")
    if rng.random() < 0.3:  # shown in plot axes or with a title, as docs do
        w, hh = synth._size(rng, 220, 420)
        fig, plt = _figure(rng, w, hh)
        ax = fig.add_subplot(1, 1, 1)
        ax.imshow(arr, cmap=str(rng.choice(["gray", "gray", "viridis"])))
        if rng.random() < 0.5:
            ax.set_axis_off()
        ax.tick_params(labelsize=6)
        fig.tight_layout()
        img = _render(fig)
    return img


# The kinds the classifier is trained on (besides figures_synth's six): graphs that are not line plots, networks and
# flow charts, fluorescence micrographs. Pictures inside plot axes are NOT trained on: trained as microscopy they made
# real graphs look like micrographs (dev: graphs typed microscopy); the classifier types them through the picture
# itself instead (:func:`matsearch.indexer.figures.panel_type.inner_picture`). IN_AXES keeps them for tests.
EXTRA: dict[str, tuple[str, Callable[[Rng], Image.Image]]] = {
    "colour_map": ("graph", colour_map_graph),
    "surface": ("graph", surface_graph),
    "graph_grid": ("graph", graph_grid),
    "network": ("illustration", network_diagram),
    "fluorescence": ("microscopy", fluorescence),
    # session 9: atomic structure models (ASE / VESTA / matplotlib renderings) were typed microscopy or graph
    "structure": ("illustration", structure_model),
    # session 10: 2-D diffraction detector images in false colour inside pixel axes were typed graph
    "detector": ("diffraction", detector_image),
    # session 10: electron backscatter / Kikuchi patterns (grey bands, noise) were typed microscopy
    "kikuchi": ("diffraction", kikuchi_pattern),
}
IN_AXES: dict[str, tuple[str, Callable[[Rng], Image.Image]]] = {
    "micrograph_in_axes": ("microscopy", picture_in_axes(synth.microscopy)),
    "diffraction_in_axes": ("diffraction", picture_in_axes(synth.diffraction)),
    "photo_in_axes": ("photo", picture_in_axes(synth.photo)),
}
