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
from matsearch.encoders.xrd_pattern import Peaks

# Lattice strain of the measured pattern relative to the library (d → d·(1+ε)). Asymmetric: DFT (PBE) lattices
# are ~1% too large, so measured d-spacings are mostly smaller (ε < 0); large positive strains are rare and are
# exactly what would let a larger isostructural twin (e.g. fcc Cu for Ni) absorb an absent phase.
STRAINS = np.round(np.arange(-0.025, 0.01001, 0.001), 4)
MAX_REFLECTIONS = 80  # strongest reflections per candidate used in the fit
MIN_REL_INTENSITY = 1.0  # % of the strongest reflection: weaker candidate reflections are ignored in coverage
TOL_BASE = 0.1  # ° 2θ
TOL_STRAIN = 0.003  # residual (anisotropic) strain tolerated after the isotropic fit
PROFILE_SIGMA = 4.0  # grid points (0.08° 2θ): width of the rendered candidate profile
_CACHE_MAX = 20000  # candidates' reflection arrays kept in memory (by point id)
_ARRAYS: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}


@dataclass
class QueryPattern:
    """A preprocessed query: background-free max-1 intensities on the grid, coverage mask, detected peaks."""

    y: np.ndarray
    mask: np.ndarray
    peaks: Peaks
    presence: np.ndarray = field(init=False)  # √y, max-filtered (±0.06°), for coverage lookups
    blurred: np.ndarray = field(init=False)  # √y (lightly smoothed, masked) blurred like a candidate profile
    q_norm: float = field(init=False)

    def __post_init__(self) -> None:
        q = np.sqrt(np.clip(np.asarray(self.y, dtype=np.float64), 0, None))
        self.presence = ndimage.maximum_filter1d(q, 7)
        qs = np.where(self.mask, ndimage.gaussian_filter1d(q, 1.0), 0.0)
        self.q_norm = float(np.linalg.norm(qs))
        self.blurred = ndimage.gaussian_filter1d(qs, PROFILE_SIGMA)


@dataclass
class PhaseFit:
    index: int  # candidate index
    score: float
    coverage: float
    explained: float
    strain: float
    scale: float
    explained_mask: np.ndarray  # over the query peaks
    profile_cos: float = 0.0
    residual: float = 0.0  # weighted mean |2θ offset| / tolerance of the explained peaks (0 = exact, 1 = at the edge)
    table: FitTable | None = field(default=None, repr=False)

    def matched_hkl(self) -> list[str]:
        """Per query peak, the hkl of the candidate reflection that explains it ("" if unexplained)."""
        t = self.table
        if t is None:
            return [""] * int(self.explained_mask.size)
        labels = t.hkls[self.index]
        return [
            (labels[j] if j < len(labels) else "") if e else ""
            for j, e in zip(t.nearest[self.index].tolist(), t.explained[self.index].tolist(), strict=True)
        ]


def _tolerance(two_theta: np.ndarray) -> np.ndarray:
    return TOL_BASE + TOL_STRAIN * 2.0 * np.tan(np.radians(two_theta / 2.0)) * 180.0 / np.pi


def _one_candidate(pl: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    pk = pl.get("peaks", {})
    dd = np.asarray(pk.get("d", []), dtype=np.float64)
    ii = np.asarray(pk.get("intensity", []), dtype=np.float64)
    labels = list(pk.get("hkl", [""] * dd.size))
    if dd.size > MAX_REFLECTIONS:
        top = np.sort(np.argsort(-ii, kind="stable")[:MAX_REFLECTIONS])
        dd, ii, labels = dd[top], ii[top], [labels[j] for j in top]
    w = np.sqrt(np.clip(ii, 0, None) / max(float(ii.max(initial=0.0)), 1e-9))
    w[ii < MIN_REL_INTENSITY * ii.max(initial=0.0) / 100.0] = 0.0
    return dd, w, labels


def candidate_arrays(
    payloads: list[dict[str, Any]], keys: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Pad candidates' reflections: (K, P) d-spacings (NaN padding), (K, P) weights √(I/100), hkl lists.
    With ``keys`` (point ids: they change with the structure's content), the per-candidate arrays are cached."""
    rows = []
    for i, pl in enumerate(payloads):
        key = keys[i] if keys is not None else None
        row = _ARRAYS.get(key) if key is not None else None
        if row is None:
            row = _one_candidate(pl)
            if key is not None:
                if len(_ARRAYS) >= _CACHE_MAX:
                    _ARRAYS.clear()
                _ARRAYS[key] = row
        rows.append(row)
    k = len(rows)
    p = max((r[0].size for r in rows), default=1) or 1
    d = np.full((k, p), np.nan)
    w = np.zeros((k, p))
    for i, (dd, ww, _) in enumerate(rows):
        d[i, : dd.size] = dd
        w[i, : dd.size] = ww
    return d, w, [r[2] for r in rows]


def _positions(d: np.ndarray, strains: np.ndarray) -> np.ndarray:
    """(K, S, P) 2θ at the library wavelength for each strain; NaN where unreachable."""
    s = LIB_WAVELENGTH / (2.0 * d[:, None, :] * (1.0 + strains[None, :, None]))
    with np.errstate(invalid="ignore"):
        return np.where((s > 0) & (s < 1), 2.0 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)


def _grid_index(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.round((tt - TWO_THETA_MIN) / TWO_THETA_STEP)
    ok = np.isfinite(idx) & (idx >= 0) & (idx < GRID_2THETA.size)
    return np.where(ok, idx, 0).astype(np.int64), ok


@dataclass
class FitTable:
    """Fits of K candidates to one query that do not depend on how the query's peaks are weighted."""

    coverage: np.ndarray  # (K,)
    strain: np.ndarray  # (K,)
    scale: np.ndarray  # (K,)
    profile_cos: np.ndarray  # (K,)
    explained: np.ndarray  # (K, Q) bool: query peak within tolerance of a candidate reflection
    offset: np.ndarray  # (K, Q) |distance| / tolerance to the nearest candidate reflection
    nearest: np.ndarray  # (K, Q) index of that reflection (in the candidate's usable reflections)
    hkls: list[list[str]]  # per candidate, labels of its usable reflections

    def extend(self, other: FitTable) -> FitTable:
        def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate([a, b])

        return FitTable(
            coverage=cat(self.coverage, other.coverage),
            strain=cat(self.strain, other.strain),
            scale=cat(self.scale, other.scale),
            profile_cos=cat(self.profile_cos, other.profile_cos),
            explained=cat(self.explained, other.explained),
            offset=cat(self.offset, other.offset),
            nearest=cat(self.nearest, other.nearest),
            hkls=self.hkls + other.hkls,
        )

    def __len__(self) -> int:
        return int(self.coverage.size)


_KERNEL_AUTOCORR: np.ndarray | None = None


def _kernel_autocorr() -> np.ndarray:
    """Σ_x g(x)·g(x−Δ) of the discrete Gaussian used by ``gaussian_filter1d`` (σ = PROFILE_SIGMA), Δ = 0, 1, ..."""
    global _KERNEL_AUTOCORR
    if _KERNEL_AUTOCORR is None:
        imp = np.zeros(201)
        imp[100] = 1.0
        g = ndimage.gaussian_filter1d(imp, PROFILE_SIGMA)
        _KERNEL_AUTOCORR = np.correlate(g, g, mode="full")[200:]
    return _KERNEL_AUTOCORR


def fit_table(query: QueryPattern, payloads: list[dict[str, Any]], keys: list[str] | None = None) -> FitTable:
    npk = query.peaks.two_theta.size
    if not payloads:
        z = np.zeros(0)
        return FitTable(z, z, z, z, np.zeros((0, npk), bool), np.zeros((0, npk)), np.zeros((0, npk), int), [])
    d, w, hkls = candidate_arrays(payloads, keys)
    k = d.shape[0]
    tt = _positions(d, STRAINS)  # K,S,P
    idx, ok = _grid_index(tt)
    covered = ok & query.mask[idx]
    q = np.where(covered, query.presence[idx], 0.0)  # K,S,P
    wk = np.where(covered, w[:, None, :], 0.0)
    strong = wk >= 0.5 * wk.max(axis=2, keepdims=True).clip(1e-9)
    ratio = np.where(strong & (wk > 0), q / np.maximum(wk, 1e-9), 0.0)
    # the phase's share of the pattern (√ units): its strong reflections at their best strain
    scale = np.clip(ratio.max(axis=(1, 2)), 0.15, 1.0)  # K
    sat = np.minimum(1.0, q / np.maximum(wk * scale[:, None, None], 1e-9))
    total = wk.sum(axis=2)
    coverage = np.where(total > 0, (wk * sat).sum(axis=2) / np.maximum(total, 1e-9), 0.0)  # K,S
    best_s = coverage.argmax(axis=1)
    rows = np.arange(k)
    pos = tt[rows, best_s]  # K,P at the best strain
    # profile cosine: ⟨G∗sticks, q⟩ = Σ_j w_j (G∗q)(x_j); ‖G∗sticks‖² = Σ_jl w_j w_l (g⋆g)(x_j − x_l)
    pidx, pok = _grid_index(pos)
    pok &= (w > 0) & query.mask[pidx]
    wv = np.where(pok, w, 0.0)
    num = (wv * query.blurred[pidx]).sum(axis=1)
    ac = _kernel_autocorr()
    delta = np.abs(pidx[:, :, None] - pidx[:, None, :])
    gram = np.where(delta < ac.size, ac[np.minimum(delta, ac.size - 1)], 0.0)
    norm2 = np.einsum("kp,kpq,kq->k", wv, gram, wv)
    den = np.sqrt(np.maximum(norm2, 0.0)) * max(query.q_norm, 1e-12)
    profile_cos = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    # explained query peaks: nearest usable candidate reflection within tolerance
    usable = np.isfinite(pos) & (w > 0)
    tol = _tolerance(query.peaks.two_theta)
    if npk:
        dist = np.abs(query.peaks.two_theta[None, :, None] - np.where(usable, pos, np.inf)[:, None, :])  # K,Q,P
        nearest = dist.argmin(axis=2)
        ndist = np.take_along_axis(dist, nearest[:, :, None], axis=2)[:, :, 0]
        offset = ndist / tol[None, :]
        explained = offset <= 1.0
    else:
        nearest = np.zeros((k, 0), dtype=np.int64)
        offset = np.zeros((k, 0))
        explained = np.zeros((k, 0), dtype=bool)
    return FitTable(
        coverage=coverage[rows, best_s],
        strain=STRAINS[best_s],
        scale=scale,
        profile_cos=profile_cos,
        explained=explained,
        offset=offset,
        nearest=nearest,
        hkls=hkls,
    )


def fits_from(table: FitTable, query: QueryPattern, peak_weights: np.ndarray | None = None) -> list[PhaseFit]:
    """Scores from a ``FitTable``. ``peak_weights`` (per query peak, default √height) weights the explained share
    — zero out peaks already explained by earlier phases to score a residual."""
    peaks = query.peaks
    pw = np.sqrt(peaks.height) if peak_weights is None else np.asarray(peak_weights, dtype=np.float64)
    pw_total = float(pw.sum())
    ex_w = table.explained @ pw if len(table) else np.zeros(0)
    explained = ex_w / pw_total if pw_total > 0 else np.zeros(len(table))
    resid = np.where(ex_w > 0, (np.where(table.explained, table.offset, 0.0) @ pw) / np.maximum(ex_w, 1e-12), 1.0)
    score = np.cbrt(
        np.clip(table.coverage, 0, None) * np.clip(explained, 0, None) * np.clip(table.profile_cos, 0, None)
    )
    return [
        PhaseFit(
            index=k,
            score=float(score[k]),
            coverage=float(table.coverage[k]),
            explained=float(explained[k]),
            strain=float(table.strain[k]),
            scale=float(table.scale[k]),
            explained_mask=table.explained[k],
            profile_cos=float(table.profile_cos[k]),
            residual=float(resid[k]),
            table=table,
        )
        for k in range(len(table))
    ]


def fit_candidates(
    query: QueryPattern,
    payloads: list[dict[str, Any]],
    peak_weights: np.ndarray | None = None,
    keys: list[str] | None = None,
) -> list[PhaseFit]:
    """Fit every candidate against the query (see ``fit_table`` and ``fits_from``)."""
    return fits_from(fit_table(query, payloads, keys), query, peak_weights)


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
