"""A generic profile vector for any plotted spectrum (Raman, XPS, FTIR, UV-vis, …): its shape over its own x range.

Items are ``(x, y)`` pairs (arrays; NaN/None where the curve is hidden). The curve is sorted by x, resampled on 128
points spanning its x range, scaled to 0..1, lightly smoothed (so a peak shifted by a bin still overlaps), centred and
L2-normalised. No weights. Used for the ``profile`` vector of the ``spectra`` collection (literature plots) and for
queries against it; XRD patterns in 2θ also get the ``xrd`` vector of the structure library's encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from matsearch.encoders.base import Encoder

N_POINTS = 128


def profile(x: Any, y: Any, n: int = N_POINTS) -> np.ndarray:
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray([np.nan if v is None else v for v in np.asarray(y, dtype=object).reshape(-1)], dtype=np.float64)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    if xa.size < 2 or float(np.ptp(xa)) <= 0:
        return np.zeros(n, dtype=np.float32)
    order = np.argsort(xa, kind="stable")
    xa, ya = xa[order], ya[order]
    grid = np.linspace(xa[0], xa[-1], n)
    v = np.interp(grid, xa, ya)
    v = v - v.min()
    top = float(v.max())
    if top > 0:
        v = v / top
    k = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
    v = np.convolve(v, k / k.sum(), mode="same")
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


class SpectrumProfile(Encoder):
    name = "spectrum-profile"
    dim = N_POINTS
    modality = "spectrum"
    batch_size = 256

    def _load(self) -> None:
        pass

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return np.stack([profile(x, y) for x, y in items]).astype(np.float32)
