"""Physics-aware re-ranking of XRD candidates, explained/unexplained peaks, and mixtures.

For each candidate (its simulated reflections d_j, I_j from the payload) a lattice strain ε is fitted
(d → d·(1+ε), ε in ±3%: DFT lattices are ~1% too large, thermal expansion, solid solutions) by maximising the
*coverage* C: how much of the candidate's expected intensity (√I, saturating, scale-fitted) the measured pattern
shows at the strained positions. At that ε, *explained* E is the share of the measured peak intensity (√height)
lying within a tolerance (0.1° + 0.3% strain-equivalent) of a candidate reflection. Score = √(C·E) ∈ [0, 1].

Mixtures: after the best phase, later phases are scored on the peaks that earlier phases leave unexplained
(E on the residual), up to ``max_phases``; a phase is added only if it explains enough of the residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from matsearch.encoders.xrd import GRID_2THETA, LIB_WAVELENGTH, TWO_THETA_MIN, TWO_THETA_STEP
from matsearch.indexer.xrd.pattern import Peaks

STRAINS = np.round(np.arange(-0.03, 0.0301, 0.001), 4)
MAX_REFLECTIONS = 80  # strongest reflections per candidate used in the fit
MIN_REL_INTENSITY = 1.0  # % of the strongest reflection: weaker candidate reflections are ignored in coverage
TOL_BASE = 0.1  # ° 2θ
TOL_STRAIN = 0.003  # residual (anisotropic) strain tolerated after the isotropic fit


@dataclass
class QueryPattern:
    """A preprocessed query: background-free max-1 intensities on the grid, coverage mask, detected peaks."""

    y: np.ndarray
    mask: np.ndarray
    peaks: Peaks
    presence: np.ndarray = field(init=False)  # √y, max-filtered (±0.06°), for coverage lookups

    def __post_init__(self) -> None:
        q = np.sqrt(np.clip(np.asarray(self.y, dtype=np.float64), 0, None))
        self.presence = ndimage.maximum_filter1d(q, 7)


@dataclass
class PhaseFit:
    index: int  # candidate index
    score: float
    coverage: float
    explained: float
    strain: float
    scale: float
    explained_mask: np.ndarray  # over the query peaks
    matched_hkl: list[str]  # per query peak ("" if unexplained)


def _tolerance(two_theta: np.ndarray) -> np.ndarray:
    return TOL_BASE + TOL_STRAIN * 2.0 * np.tan(np.radians(two_theta / 2.0)) * 180.0 / np.pi


def candidate_arrays(payloads: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Pad candidates' reflections: (K, P) d-spacings (NaN padding), (K, P) weights √(I/100), hkl lists."""
    k = len(payloads)
    p = min(max((len(pl.get("peaks", {}).get("d", [])) for pl in payloads), default=1) or 1, MAX_REFLECTIONS)
    d = np.full((k, p), np.nan)
    w = np.zeros((k, p))
    hkls: list[list[str]] = []
    for i, pl in enumerate(payloads):
        pk = pl.get("peaks", {})
        dd = np.asarray(pk.get("d", []), dtype=np.float64)
        ii = np.asarray(pk.get("intensity", []), dtype=np.float64)
        labels = list(pk.get("hkl", [""] * dd.size))
        if dd.size > MAX_REFLECTIONS:
            top = np.sort(np.argsort(-ii, kind="stable")[:MAX_REFLECTIONS])
            dd, ii, labels = dd[top], ii[top], [labels[j] for j in top]
        n = dd.size
        d[i, :n] = dd
        w[i, :n] = np.sqrt(np.clip(ii, 0, None) / max(float(ii.max(initial=0.0)), 1e-9))
        w[i, :n][ii < MIN_REL_INTENSITY * ii.max(initial=0.0) / 100.0] = 0.0
        hkls.append(labels)
    return d, w, hkls


def _positions(d: np.ndarray, strains: np.ndarray) -> np.ndarray:
    """(K, S, P) 2θ at the library wavelength for each strain; NaN where unreachable."""
    s = LIB_WAVELENGTH / (2.0 * d[:, None, :] * (1.0 + strains[None, :, None]))
    with np.errstate(invalid="ignore"):
        return np.where((s > 0) & (s < 1), 2.0 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)


def _grid_index(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.round((tt - TWO_THETA_MIN) / TWO_THETA_STEP)
    ok = np.isfinite(idx) & (idx >= 0) & (idx < GRID_2THETA.size)
    return np.where(ok, idx, 0).astype(np.int64), ok


def fit_candidates(
    query: QueryPattern,
    payloads: list[dict[str, Any]],
    peak_weights: np.ndarray | None = None,
) -> list[PhaseFit]:
    """Fit every candidate against the query. ``peak_weights`` (per query peak, default √height) weights the
    explained share — zero out peaks already explained by earlier phases to score a residual."""
    if not payloads:
        return []
    d, w, hkls = candidate_arrays(payloads)
    tt = _positions(d, STRAINS)  # K,S,P
    idx, ok = _grid_index(tt)
    covered = ok & query.mask[idx]
    q = np.where(covered, query.presence[idx], 0.0)  # K,S,P
    wk = np.where(covered, w[:, None, :], 0.0)
    strong = wk >= 0.5 * wk.max(axis=2, keepdims=True).clip(1e-9)
    ratio = np.where(strong & (wk > 0), q / np.maximum(wk, 1e-9), 0.0)
    # the phase's share of the pattern (√ units): its strong reflections at their best strain
    scale = np.broadcast_to(np.clip(ratio.max(axis=(1, 2)), 0.15, 1.0)[:, None], ratio.shape[:2])  # K,S
    sat = np.minimum(1.0, q / np.maximum(wk * scale[:, :, None], 1e-9))
    total = wk.sum(axis=2)
    coverage = np.where(total > 0, (wk * sat).sum(axis=2) / np.maximum(total, 1e-9), 0.0)  # K,S
    best_s = coverage.argmax(axis=1)
    peaks = query.peaks
    pw = np.sqrt(peaks.height) if peak_weights is None else np.asarray(peak_weights, dtype=np.float64)
    pw_total = float(pw.sum())
    tol = _tolerance(peaks.two_theta)
    profile_cos = _profile_cosine(query, tt[np.arange(len(payloads)), best_s], w)
    fits: list[PhaseFit] = []
    for k in range(len(payloads)):
        s = int(best_s[k])
        pos = tt[k, s]
        usable = np.isfinite(pos) & (w[k] > 0)
        if peaks.two_theta.size and usable.any():
            cand_pos = pos[usable]
            dist = np.abs(peaks.two_theta[:, None] - cand_pos[None, :])
            nearest = dist.argmin(axis=1)
            explained_mask = dist[np.arange(dist.shape[0]), nearest] <= tol
            cand_hkl = [hkls[k][j] if j < len(hkls[k]) else "" for j in np.nonzero(usable)[0]]
            matched = [cand_hkl[nearest[i]] if explained_mask[i] else "" for i in range(peaks.two_theta.size)]
        else:
            explained_mask = np.zeros(peaks.two_theta.size, dtype=bool)
            matched = [""] * peaks.two_theta.size
        explained = float(pw[explained_mask].sum() / pw_total) if pw_total > 0 else 0.0
        cov = float(coverage[k, s])
        fits.append(
            PhaseFit(
                index=k,
                score=float(np.cbrt(max(cov, 0.0) * max(explained, 0.0) * max(float(profile_cos[k]), 0.0))),
                coverage=cov,
                explained=explained,
                strain=float(STRAINS[s]),
                scale=float(scale[k, s]),
                explained_mask=explained_mask,
                matched_hkl=matched,
            )
        )
    return fits


PROFILE_SIGMA = 4.0  # grid points (0.08° 2θ): width of the rendered candidate profile


def _profile_cosine(query: QueryPattern, positions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cosine between √query and each candidate rendered at its fitted strain (sticks √I, Gaussian-blurred), over
    the covered range: penalises both missing and extra peaks."""
    k = positions.shape[0]
    idx, ok = _grid_index(positions)
    ok &= weights > 0
    rows = np.repeat(np.arange(k), positions.shape[1]).reshape(positions.shape)
    sticks = np.zeros((k, GRID_2THETA.size))
    np.add.at(sticks, (rows[ok], idx[ok]), weights[ok])
    prof = ndimage.gaussian_filter1d(sticks, PROFILE_SIGMA, axis=1)
    q = np.where(query.mask, ndimage.gaussian_filter1d(np.sqrt(np.clip(query.y, 0, None)), 1.0), 0.0)
    prof *= query.mask
    num = prof @ q
    den = np.linalg.norm(prof, axis=1) * max(float(np.linalg.norm(q)), 1e-12)
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)


def peak_list(query: QueryPattern, which: np.ndarray, hkl: list[str] | None = None) -> list[dict[str, Any]]:
    out = []
    for i in np.nonzero(which)[0]:
        item: dict[str, Any] = {
            "two_theta": round(float(query.peaks.two_theta[i]), 3),
            "d": round(float(LIB_WAVELENGTH / (2 * np.sin(np.radians(query.peaks.two_theta[i] / 2)))), 4),
            "intensity": round(float(query.peaks.height[i]) * 100.0, 1),
        }
        if hkl is not None and hkl[i]:
            item["hkl"] = hkl[i]
        out.append(item)
    return out
