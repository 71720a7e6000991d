"""XRD pattern encoders. Input: a 1-D intensity array on the library 2θ grid (``GRID_2THETA``: Cu Kα1, 5–90°,
0.02° steps), background already removed, any scale. Output: float32 vectors, L2-normalised (cosine).

Both encoders first map the pattern onto a ``ln(sin θ)`` axis (``log_sin_profile``): there, a uniform lattice
strain (e.g. DFT lattices ~1% too large) is a plain translation, the same at every angle, so a blur of fixed width
tolerates it everywhere.

- ``xrd-profile``: deterministic; √intensity on 1024 ln(sin θ) bins, Gaussian blur (σ ≈ 0.8% strain), 256-d.

Strain beyond the blur is handled by the caller: ``strain_variant`` re-maps a query as if its lattice were
strained by ε, and the search queries a few variants (see ``matsearch.search.spectra``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from matsearch.encoders.base import Encoder

LIB_WAVELENGTH = 1.54056  # Å, Cu Kα1: the wavelength every library pattern is simulated at
TWO_THETA_MIN = 5.0
TWO_THETA_MAX = 90.0
TWO_THETA_STEP = 0.02
GRID_2THETA = np.round(np.arange(TWO_THETA_MIN, TWO_THETA_MAX + 1e-9, TWO_THETA_STEP), 4)
N_GRID = int(GRID_2THETA.size)  # 4251

N_LOG = 1024  # bins of the ln(sin θ) axis
_U_GRID = np.log(np.sin(np.radians(GRID_2THETA / 2.0)))
U_MIN, U_MAX = float(_U_GRID[0]), float(_U_GRID[-1])
U_STEP = (U_MAX - U_MIN) / N_LOG
# Bin of every 2θ grid point on the ln(sin θ) axis; bins are contiguous runs (used with maximum.reduceat).
_BIN_OF = np.minimum(((_U_GRID - U_MIN) / U_STEP).astype(np.int64), N_LOG - 1)
_BIN_STARTS = np.searchsorted(_BIN_OF, np.arange(N_LOG))
_EMPTY_BINS = np.diff(np.append(_BIN_STARTS, N_GRID)) == 0


def as_grid_array(y: Any) -> np.ndarray:
    arr = np.asarray(y, dtype=np.float32).reshape(-1)
    if arr.shape[0] != N_GRID:
        raise ValueError(f"XRD pattern has {arr.shape[0]} points, expected {N_GRID} (the library 2θ grid)")
    return arr


def log_sin_profile(y: np.ndarray) -> np.ndarray:
    """(n, N_GRID) 2θ-grid patterns → (n, N_LOG) √intensity on the ln(sin θ) axis (max-pooled), max-scaled to 1."""
    y2 = np.atleast_2d(np.asarray(y, dtype=np.float32))
    y2 = np.sqrt(np.clip(y2, 0.0, None))
    pooled = np.maximum.reduceat(y2, np.minimum(_BIN_STARTS, N_GRID - 1), axis=1)
    if _EMPTY_BINS.any():  # bins with no 2θ point (none at this grid, kept for safety): interpolate
        idx = np.arange(N_LOG)
        for row in pooled:
            row[_EMPTY_BINS] = np.interp(idx[_EMPTY_BINS], idx[~_EMPTY_BINS], row[~_EMPTY_BINS])
    peak = pooled.max(axis=1, keepdims=True)
    return (pooled / np.maximum(peak, 1e-12)).astype(np.float32)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    half = int(np.ceil(4 * sigma))
    x = np.arange(-half, half + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def strain_variant(y: np.ndarray, strain: float) -> np.ndarray:
    """The grid pattern re-mapped so that reflections at d·(1+strain) land where d would (undo a lattice strain)."""
    if strain == 0:
        return np.asarray(y, dtype=np.float32)
    s = np.sin(np.radians(GRID_2THETA / 2.0)) / (1.0 + strain)
    src = 2.0 * np.degrees(np.arcsin(np.clip(s, 0.0, 1.0)))
    return np.interp(src, GRID_2THETA, np.asarray(y, dtype=np.float64), left=0.0, right=0.0).astype(np.float32)


class XRDProfile(Encoder):
    """Deterministic profile embedding (no weights): the baseline and a fallback."""

    name = "xrd-profile"
    dim = 256
    modality = "xrd"
    batch_size = 256
    sigma_bins = 3.0  # on the 1024-bin axis: ~0.8% strain

    def _load(self) -> None:
        self._kernel = _gaussian_kernel(self.sigma_bins)

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        x = log_sin_profile(np.stack([as_grid_array(y) for y in items]))
        blurred = np.stack([np.convolve(row, self._kernel, mode="same") for row in x])
        out = blurred.reshape(len(items), self.dim, N_LOG // self.dim).mean(axis=2)
        # centre each vector a little so that the shared low background does not dominate the cosine
        out = out - 0.5 * out.mean(axis=1, keepdims=True)
        return out.astype(np.float32)
