"""Measured-looking synthetic powder patterns (the "measured" tier of ``bench.eval_xrd``).

Closer to what a laboratory records than ``training.xrd_augment``: the lattice strain depends on where the cell
comes from (DFT cells: measured d 0–1.5 % smaller; experimental cells ±0.8 %: temperature, solid solutions),
0.1 % anisotropic scatter, a zero shift and a sample displacement (Δ2θ = z + D cos θ), texture (log-normal per
reflection and, in 60 % of patterns, a March–Dollase r ∈ [0.4, 1] along a random low-index axis — also axes the
fit does not try), Cu Kα2 (80 %), pseudo-Voigt widths growing with tan θ, backgrounds with an amorphous hump,
0–3 impurity peaks, Poisson counting noise (200–30 000 counts at the strongest peak) and limited ranges (a third
5–60°, a fifth randomly cropped).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from matsearch.encoders.xrd import GRID_2THETA
from matsearch.search import xrd_phase as xp

AXES = [(0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)]


def candidate(entry: Any, peaks: Any) -> xp.Candidate:
    """The fit's view of a library entry (its simulated reflections + lattice)."""
    return xp.candidate_from_payload(
        {
            "peaks": {"d": list(peaks.d), "intensity": list(peaks.intensity), "hkl": list(peaks.hkl)},
            "lattice": dict(entry.lattice),
            "crystal_system": entry.crystal_system,
            "source": entry.source,
        }
    )


def _render(tt: np.ndarray, inten: np.ndarray, fwhm: np.ndarray, eta: float) -> np.ndarray:
    out = np.zeros(GRID_2THETA.size)
    step = float(GRID_2THETA[1] - GRID_2THETA[0])
    for t, a, w in zip(tt, inten, fwhm, strict=True):
        if not np.isfinite(t) or a <= 0:
            continue
        c = int(round((t - GRID_2THETA[0]) / step))
        half = max(int(6 * w / step), 3)
        lo, hi = max(c - half, 0), min(c + half + 1, GRID_2THETA.size)
        if lo >= hi:
            continue
        x = GRID_2THETA[lo:hi] - t
        out[lo:hi] += a * (eta / (1 + 4 * (x / w) ** 2) + (1 - eta) * np.exp(-4 * math.log(2) * (x / w) ** 2))
    return out


def _sticks(c: xp.Candidate, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # experimental cells: temperature, composition (solid solutions), non-stoichiometry
    eps = rng.uniform(-0.015, 0.0) if c.source == "materials_project" else rng.uniform(-0.008, 0.008)
    d = c.d * (1 + eps) * (1 + rng.normal(0, 0.001, c.d.size))
    inten = c.inten * np.exp(rng.normal(0, 0.25, c.d.size))
    if rng.random() < 0.6 and c.d.size:
        axis = AXES[int(rng.integers(len(AXES)))]
        r = float(rng.uniform(0.4, 1.0))
        inten = inten * xp.march_dollase(c, directions=[axis], r_values=np.array([r]))[0, 0]
    s = xp.LIB_WAVELENGTH / (2.0 * d)
    tt = np.where(s < 1, 2.0 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)
    return tt, inten / max(float(inten.max(initial=0.0)), 1e-9)


def measured_like(phases: list[tuple[xp.Candidate, float]], rng: np.random.Generator) -> np.ndarray:
    """Counts on the library grid (zero outside the measured range) for ``(candidate, weight)`` phases."""
    grid = GRID_2THETA
    w0, w1 = rng.uniform(0.05, 0.22), rng.uniform(0.0, 0.12)
    eta = rng.uniform(0.2, 0.8)
    z, disp = rng.normal(0, 0.03), rng.normal(0, 0.08)
    ka2 = rng.random() < 0.8
    clean = np.zeros(grid.size)
    for c, weight in phases:
        tt, inten = _sticks(c, rng)
        tt = tt + z + disp * np.cos(np.radians(np.nan_to_num(tt) / 2))
        fw = w0 + w1 * np.tan(np.radians(np.nan_to_num(tt) / 2))
        clean += _render(tt, inten * weight, fw, eta)
        if ka2:
            s = np.sin(np.radians(tt / 2)) * xp.KA2_RATIO
            tt2 = np.where(s < 1, 2 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)
            clean += _render(tt2, 0.5 * inten * weight, fw, eta)
    n_imp = int(rng.integers(0, 4))
    if n_imp:
        clean += _render(
            rng.uniform(8, 85, n_imp), rng.uniform(0.02, 0.1, n_imp) * clean.max(), np.full(n_imp, w0 + 0.05), eta
        )
    clean /= max(float(clean.max()), 1e-9)
    level = rng.uniform(0.02, 0.6)
    bg = (
        level * np.exp(-(grid - grid[0]) / rng.uniform(8, 30))
        + level * rng.random() * np.exp(-0.5 * ((grid - rng.uniform(18, 32)) / rng.uniform(3, 8)) ** 2)
        + 0.3 * level * rng.random() * (grid - grid[0]) / (grid[-1] - grid[0])
        + 0.2 * level
    )
    counts = math.exp(rng.uniform(math.log(200), math.log(30000)))
    y = rng.poisson(np.clip((clean + bg) * counts, 0, None)).astype(np.float64)
    u = rng.random()
    lo, hi = (5.0, 60.0) if u < 0.33 else ((rng.uniform(5, 15), rng.uniform(55, 90)) if u < 0.55 else (5.0, 90.0))
    return np.where((grid >= lo) & (grid <= hi), y, 0.0)


def textured_film(c: xp.Candidate, rng: np.random.Generator) -> np.ndarray:
    """A strongly textured film or deformed metal with broad lines (the "films" dev set of ``bench.eval_xrd``):
    lattice ±1 %, March–Dollase r ∈ [0.3, 0.6] along 111/001/110 (cubic) or 001, FWHM 0.25–0.8° growing with
    tan θ, Cu Kα1+2, a flat background, Poisson noise, a range starting at 20–35° and ending at 90°."""
    eps = rng.uniform(-0.01, 0.01)
    axis = [(1, 1, 1), (0, 0, 1), (1, 1, 0)][int(rng.integers(3))] if c.crystal_system == "cubic" else (0, 0, 1)
    md = xp.march_dollase(c, directions=[axis], r_values=np.array([rng.uniform(0.3, 0.6)]))[0, 0]
    inten = c.inten * md * np.exp(rng.normal(0, 0.15, c.d.size))
    s = xp.LIB_WAVELENGTH / (2 * c.d * (1 + eps))
    tt = np.where(s < 1, 2 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)
    tt = tt + rng.normal(0, 0.03) + rng.normal(0, 0.08) * np.cos(np.radians(np.nan_to_num(tt) / 2))
    fw = rng.uniform(0.25, 0.8) * (1 + 0.5 * np.tan(np.radians(np.nan_to_num(tt) / 2)))
    s2 = np.sin(np.radians(tt / 2)) * xp.KA2_RATIO
    tt2 = np.where(s2 < 1, 2 * np.degrees(np.arcsin(np.clip(s2, 0, 1))), np.nan)
    y = _render(tt, inten, fw, 0.5) + _render(tt2, 0.5 * inten, fw, 0.5)
    y /= max(float(y.max()), 1e-9)
    grid = GRID_2THETA
    bg = 0.05 + 0.1 * np.exp(-(grid - grid[0]) / 15)
    counts = math.exp(rng.uniform(math.log(500), math.log(20000)))
    yy = rng.poisson((y + bg) * counts).astype(np.float64)
    return np.where((grid >= rng.uniform(20, 35)) & (grid <= 90.0), yy, 0.0)
