"""Powder patterns from structures: wavelengths, pymatgen ``XRDCalculator`` peak lists (cached on disk), and
rendering of peak lists onto the library 2θ grid."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matsearch.encoders.xrd import GRID_2THETA, LIB_WAVELENGTH, TWO_THETA_MAX, TWO_THETA_MIN


@dataclass
class PeakList:
    """Simulated reflections at ``wavelength``: 2θ (°), d (Å), intensity (max 100) and hkl labels."""

    two_theta: np.ndarray
    d: np.ndarray
    intensity: np.ndarray
    hkl: list[str]
    wavelength: float = LIB_WAVELENGTH

    def to_json(self) -> dict[str, Any]:
        return {
            "two_theta": [round(float(x), 4) for x in self.two_theta],
            "d": [round(float(x), 5) for x in self.d],
            "intensity": [round(float(x), 3) for x in self.intensity],
            "hkl": list(self.hkl),
            "wavelength": self.wavelength,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PeakList:
        return cls(
            two_theta=np.asarray(data["two_theta"], dtype=np.float64),
            d=np.asarray(data["d"], dtype=np.float64),
            intensity=np.asarray(data["intensity"], dtype=np.float64),
            hkl=list(data.get("hkl", [""] * len(data["two_theta"]))),
            wavelength=float(data.get("wavelength", LIB_WAVELENGTH)),
        )

    def main_peaks(self, n: int = 10) -> list[dict[str, Any]]:
        order = np.argsort(-self.intensity)[:n]
        return [
            {
                "two_theta": round(float(self.two_theta[i]), 3),
                "d": round(float(self.d[i]), 4),
                "intensity": round(float(self.intensity[i]), 2),
                "hkl": self.hkl[i],
            }
            for i in sorted(order, key=lambda i: self.two_theta[i])
        ]


def _hkl_label(families: Sequence[dict[str, Any]]) -> str:
    if not families:
        return ""
    return "".join(str(int(v)) if abs(v) < 10 else f"({int(v)})" for v in families[0]["hkl"])


def simulate_peaks(
    structure: Any,
    wavelength: float = LIB_WAVELENGTH,
    two_theta_range: tuple[float, float] = (TWO_THETA_MIN, TWO_THETA_MAX),
    min_intensity: float = 0.3,
) -> PeakList:
    """Reflections of a pymatgen Structure (pymatgen ``XRDCalculator``), those ≥ ``min_intensity``% kept."""
    import warnings

    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pattern = XRDCalculator(wavelength=wavelength).get_pattern(
            structure, scaled=True, two_theta_range=two_theta_range
        )
    x = np.asarray(pattern.x, dtype=np.float64)
    y = np.asarray(pattern.y, dtype=np.float64)
    d = np.asarray(pattern.d_hkls, dtype=np.float64)
    keep = y >= min_intensity
    hkls = [_hkl_label(h) for h, k in zip(pattern.hkls, keep, strict=True) if k]
    return PeakList(two_theta=x[keep], d=d[keep], intensity=y[keep], hkl=hkls, wavelength=wavelength)


def render(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    fwhm: float | np.ndarray = 0.1,
    eta: float = 0.5,
    grid: np.ndarray = GRID_2THETA,
) -> np.ndarray:
    """Pseudo-Voigt peaks (FWHM in ° 2θ, Lorentzian fraction ``eta``) summed on ``grid`` (float32)."""
    out = np.zeros(grid.size, dtype=np.float64)
    step = float(grid[1] - grid[0])
    tt = np.asarray(two_theta, dtype=np.float64)
    amp = np.asarray(intensity, dtype=np.float64)
    widths = np.broadcast_to(np.asarray(fwhm, dtype=np.float64), tt.shape)
    for t, a, w in zip(tt, amp, widths, strict=True):
        if not np.isfinite(t) or a <= 0:
            continue
        half = max(int(6 * w / step), 3)
        c = int(round((t - grid[0]) / step))
        lo, hi = max(c - half, 0), min(c + half + 1, grid.size)
        if lo >= hi:
            continue
        x = grid[lo:hi] - t
        gauss = np.exp(-4.0 * math.log(2.0) * (x / w) ** 2)
        lorentz = 1.0 / (1.0 + 4.0 * (x / w) ** 2)
        out[lo:hi] += a * (eta * lorentz + (1.0 - eta) * gauss)
    return out.astype(np.float32)


def library_profile(peaks: PeakList, fwhm: float = 0.1) -> np.ndarray:
    """The clean library pattern on the grid (max 1)."""
    y = render(peaks.two_theta, peaks.intensity, fwhm=fwhm)
    return y / max(float(y.max()), 1e-12)


# ---- disk cache of simulated peak lists, keyed by the structure's content hash ------------------------------------


def cache_dir(data_dir: Path, wavelength: float = LIB_WAVELENGTH) -> Path:
    return data_dir / "cache" / f"xrd-peaks-{wavelength:.5f}-{TWO_THETA_MIN:g}-{TWO_THETA_MAX:g}-v1"


def cached_peaks(directory: Path, content_hash: str) -> PeakList | None:
    path = directory / f"{content_hash}.json"
    if not path.exists():
        return None
    try:
        return PeakList.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, OSError):
        return None


def store_peaks(directory: Path, content_hash: str, peaks: PeakList) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{content_hash}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(peaks.to_json()))
    os.replace(tmp, path)
