"""A phase's stick pattern as the phase search compares patterns: its strongest reflections (at most
:data:`MAX_REFLECTIONS`, intensities scaled to a maximum of 1) and their similarity profile — √intensity on a ln d
axis, Gaussian-broadened, unit norm — whose best correlation over a common shift of ±3 % in d
(:func:`pattern_similarity`) tells isostructural twins apart from different patterns.

Here, not in ``search.xrd_phase``, because two rooms need the very same numbers: the phase search
(``search.xrd_phase``) and the library build's twin table (``indexer.xrd.twins``)."""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_REFLECTIONS = 100  # strongest reflections per candidate used in the fit
PROFILE_STEP = 0.001  # ln d step of the similarity profile
PROFILE_LN_D = np.arange(np.log(0.8), np.log(15.0), PROFILE_STEP)
PROFILE_SIGMA = 1.5  # profile bins (0.15 % in d)
TWIN_MAX_SHIFT = 30  # profile bins (±3 % in d: what the strain refinement can absorb)
_KERNEL = np.exp(-0.5 * (np.arange(-6, 7) / PROFILE_SIGMA) ** 2)


def strongest_reflections(pl: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(d, intensity scaled to max 1, hkl labels) of a library payload's ``peaks``, cut to the
    :data:`MAX_REFLECTIONS` strongest (kept in their d order)."""
    pk = pl.get("peaks", {})
    d = np.asarray(pk.get("d", []), dtype=np.float64)
    inten = np.asarray(pk.get("intensity", []), dtype=np.float64)
    labels = [str(x) for x in pk.get("hkl", [""] * d.size)]
    if d.size > MAX_REFLECTIONS:
        top = np.sort(np.argsort(-inten, kind="stable")[:MAX_REFLECTIONS])
        d, inten, labels = d[top], inten[top], [labels[j] for j in top]
    return d, inten / max(float(inten.max(initial=0.0)), 1e-9), labels


def stick_profile(d: np.ndarray, inten: np.ndarray) -> np.ndarray:
    """√(intensity) of the sticks on a ln d axis, Gaussian-broadened and normalised (float32)."""
    y = np.zeros(PROFILE_LN_D.size)
    ok = (d > 0) & np.isfinite(d)
    if ok.any():
        idx = np.clip(np.round((np.log(d[ok]) - PROFILE_LN_D[0]) / PROFILE_STEP).astype(int), 0, y.size - 1)
        np.add.at(y, idx, inten[ok])
    y = np.sqrt(np.convolve(y, _KERNEL, "same"))
    n = float(np.linalg.norm(y))
    return (y / n if n > 0 else y).astype(np.float32)


def profile_similarity(pa: np.ndarray, pb: np.ndarray) -> float:
    """The best cosine of two stick profiles over a common relative shift of their d-spacings within ±3 %."""
    padded = np.concatenate([np.zeros(TWIN_MAX_SHIFT, np.float32), pa, np.zeros(TWIN_MAX_SHIFT, np.float32)])
    return float(np.correlate(padded, pb, "valid").max())
