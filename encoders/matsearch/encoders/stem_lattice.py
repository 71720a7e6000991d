"""The projected 2-D lattice of an atomic-resolution image, measured from its power spectrum (no training).

A zone-axis image is a 2-D crystal: its power spectrum has sharp spots on the reciprocal lattice of the projected
cell. ``measure_lattice`` finds the spots (local maxima well above the radial background), picks the two reciprocal
basis vectors of the *largest* reciprocal cell that still indexes the strong spots (i.e. the smallest real cell
consistent with what is visible), refines them by least squares over every indexed spot (higher orders pin the
lengths down), and returns the Gauss-reduced real-space cell: a ≤ b and the angle γ ∈ [60°, 90°], in Å when the
pixel size is known (else in pixels).

``measure_spots`` keeps the spots themselves and ``pair_match`` asks whether the query's two strongest independent
spots (their lengths and the angle between them) occur among a reference image's spots — the lattice test the STEM
re-rank uses (``matsearch.search.stem_physics``). Comparing spots rather than reduced cells tolerates superstructure
spots one image shows and the other does not (octahedral tilts, light-atom columns in ABF but not in HAADF).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

FFT_N = 256  # padded FFT size (queries and references are measured at 0.25 Å/px, <= 256 px)
PEAK_RATIO = 10.0  # a spot is a local maximum this many times above the radial median background ...
PEAK_REL = 0.01  # ... and at least this fraction of the strongest spot
MAX_PEAKS = 40
INDEX_TOL_PX = 0.9  # a spot is indexed when it lies within this many FFT pixels of a lattice point
LATTICE_VERSION = "cell1"
# unknown pixel size: pairing cost per place down the reference's spot list (``PairCosts``); chosen on the synthetic
# tune split with snapped query spots (0.05 / 0.1 top-5 0.533 / 0.550, unsnapped shape-only 0.533; docs/stem.md)
PAIR_ORDER_WEIGHT = 0.1


@dataclass(frozen=True)
class Cell2D:
    """A reduced 2-D cell: |a| <= |b|, angle in [60, 90] degrees; lengths in ``unit``."""

    a: float
    b: float
    gamma: float
    unit: str  # "Å" or "px"
    n_spots: int = 0
    indexed: float = 1.0  # weighted fraction of the strong spots the cell indexes
    d_spacings: tuple[float, ...] = ()  # strongest spots' d (same unit), strongest first
    # the reduced real-space basis (rows a, b; x right, y up in the image; same unit), when measured on an image
    basis: tuple[tuple[float, float], tuple[float, float]] | None = None

    def scaled(self, factor: float, unit: str) -> Cell2D:
        basis = None
        if self.basis is not None:
            (ax, ay), (bx, by) = self.basis
            basis = ((ax * factor, ay * factor), (bx * factor, by * factor))
        return Cell2D(
            self.a * factor,
            self.b * factor,
            self.gamma,
            unit,
            self.n_spots,
            self.indexed,
            tuple(d * factor for d in self.d_spacings),
            basis,
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "a": round(self.a, 3),
            "b": round(self.b, 3),
            "gamma": round(self.gamma, 1),
            "unit": self.unit,
            "spots": self.n_spots,
            "indexed": round(self.indexed, 2),
            "d_spacings": [round(d, 3) for d in self.d_spacings[:6]],
        }


def reduce_basis(basis: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduction of a 2-D basis (rows), shortest first."""
    u, v = np.asarray(basis[0], np.float64).copy(), np.asarray(basis[1], np.float64).copy()
    for _ in range(100):
        if u @ u > v @ v:
            u, v = v, u
        m = round(float(u @ v / (u @ u)))
        if m == 0:
            break
        v = v - m * u
    return np.stack([u, v])


def cell_of(basis: np.ndarray, unit: str = "Å", **extra: Any) -> Cell2D:
    """The reduced cell (a, b, γ ∈ [60, 90]) of a real-space basis (rows)."""
    u, v = reduce_basis(basis)
    la, lb = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    cos = abs(float(u @ v)) / max(la * lb, 1e-12)
    rows = ((float(u[0]), float(u[1])), (float(v[0]), float(v[1])))
    return Cell2D(la, lb, math.degrees(math.acos(min(1.0, cos))), unit, basis=rows, **extra)


def _spectrum(img: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    a = np.asarray(img, dtype=np.float64)
    h, w = a.shape
    s = min(h, w, n)
    a = a[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    box = max(5, s // 6)  # remove the particle outline, ramps, uneven illumination (a smooth local mean)
    a = a - ndimage.uniform_filter(ndimage.uniform_filter(a, box, mode="reflect"), box, mode="reflect")
    a = a * np.outer(np.hanning(s), np.hanning(s))
    return np.abs(np.fft.fftshift(np.fft.fft2(a, s=(n, n)))) ** 2, s


def find_spots(
    img: np.ndarray, n: int = FFT_N, kmin_px: float | None = None, kmax_px: float = 0.45
) -> tuple[np.ndarray, np.ndarray, int]:
    """Spots of the power spectrum in the upper half-plane: (k, 2) frequencies in cycles/px (x right, y up) and
    their strength (peak / radial background), strongest first; and the side of the analysed field (px)."""
    power, s = _spectrum(img, n)
    c = n // 2
    yy, xx = np.indices(power.shape)
    fy, fx = -(yy - c) / n, (xx - c) / n
    fr = np.hypot(fx, fy)
    # Background: geometric mean of the power on rings one FFT pixel wide (spots are sparse, so it is ~ the
    # median), which follows the probe / noise envelope.
    ring = np.minimum((fr * n).astype(np.int64), n)
    logp = np.log(power + 1e-30)
    cnt = np.bincount(ring.ravel(), minlength=n + 1)
    mean = np.bincount(ring.ravel(), weights=logp.ravel(), minlength=n + 1) / np.maximum(cnt, 1)
    mean = ndimage.uniform_filter1d(mean, 3)
    ratio = ndimage.uniform_filter(power, 2) / np.exp(mean)[ring]
    kmin = kmin_px if kmin_px is not None else max(3.0 / s, 0.02)  # below: window / background leakage
    ok = (fr > kmin) & (fr < kmax_px) & ((fy > 0) | ((fy == 0) & (fx > 0)))
    loc = (ratio == ndimage.maximum_filter(ratio, size=5)) & ok & (ratio > PEAK_RATIO)
    pts = np.argwhere(loc)
    vals = ratio[loc]
    if len(vals):
        keep = vals >= PEAK_REL * vals.max()
        pts, vals = pts[keep], vals[keep]
    order = np.argsort(-vals)[:MAX_PEAKS]
    pts, vals = pts[order], vals[order]
    out = np.zeros((len(pts), 2))
    dy, dx = np.mgrid[-1:2, -1:2]
    for i, (r, cc) in enumerate(pts):
        win = power[max(r - 1, 0) : r + 2, max(cc - 1, 0) : cc + 2]
        if win.shape != (3, 3):
            out[i] = [(cc - c) / n, -(r - c) / n]
            continue
        tot = win.sum() + 1e-30
        rr, c2 = r + (dy * win).sum() / tot, cc + (dx * win).sum() / tot
        out[i] = [(c2 - c) / n, -(rr - c) / n]
    return out, vals, s


def _index(g: np.ndarray, b: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    hk = g @ np.linalg.inv(b)
    near = np.round(hk)
    err = np.linalg.norm((hk - near) @ b, axis=1)
    return near, err < tol


def measure_lattice(img: np.ndarray, px: float | None = None, n: int = FFT_N) -> Cell2D | None:
    """The projected lattice of ``img`` (Å when ``px`` Å/px is given, else px); None without two independent
    strong spot directions (amorphous, one set of fringes, or off zone)."""
    return measure(img, px, n)[0]


def measure(
    img: np.ndarray, px: float | None = None, n: int = FFT_N, snap: bool = False
) -> tuple[Cell2D | None, Spots]:
    """``measure_lattice`` and ``measure_spots`` from one power spectrum. With ``snap`` the spots that the measured
    cell indexes are moved onto its least-squares lattice (``snap_spots``)."""
    # d >= 0.75 Å: finer spots are noise/aliasing on any STEM we match (probe-limited information)
    g, vals, side = find_spots(img, n, kmax_px=min(0.45, px / 0.75) if px else 0.45)
    cell = _cell_from_spots(g, vals, side, px)
    if snap and cell is not None:
        g = snap_spots(g, cell.scaled(1.0 / px, "px") if px else cell, INDEX_TOL_PX * 1.5 / side)
    spots = Spots(g / px if px else g, vals, "Å⁻¹" if px else "1/px")
    return cell, spots


def snap_spots(g: np.ndarray, cell: Cell2D, tol: float) -> np.ndarray:
    """Spots ``g`` (k, 2; cycles/px) with each one the cell indexes (within ``tol``) replaced by its lattice point
    h·a* + k·b* of the refined cell (``cell`` in px with its basis). On a small field (a crop a few unit cells
    wide) a single low-order spot is broad and its peak is pulled by the falling background: atomap's SrTiO3 ABF
    crop (75 px at 0.25 Å/px) puts the (1-10) spot at 3.00 Å where the cell fitted to all indexed orders says 2.79
    (true 2.76), and the lattice test on the two strongest spots then rejects the right structure. The cell is a
    least-squares fit over every indexed order, so its lattice points are the better estimate of where those spots
    are. Spots it does not index (superstructure, noise) are kept as measured; a spot that lands on a lattice point
    an earlier (stronger) spot already took, or on its negative, keeps its measured position."""
    if cell.basis is None or len(g) == 0:
        return g
    recip = np.linalg.inv(np.asarray(cell.basis, dtype=np.float64)).T  # rows a*, b* (cycles/px)
    hk = g @ np.linalg.inv(recip)
    near = np.round(hk)
    err = np.linalg.norm((hk - near) @ recip, axis=1)
    out = np.array(g, dtype=np.float64, copy=True)
    taken: set[tuple[int, int]] = set()
    for i in range(len(g)):
        key = (int(near[i, 0]), int(near[i, 1]))
        if err[i] >= tol or key == (0, 0) or key in taken:
            continue
        taken |= {key, (-key[0], -key[1])}
        out[i] = near[i] @ recip
    return out


def _cell_from_spots(g: np.ndarray, vals: np.ndarray, side: int, px: float | None) -> Cell2D | None:
    if len(g) < 2:
        return None
    w = np.log(vals / PEAK_RATIO) + 0.1  # spots just above the threshold (often noise) weigh ~nothing
    tol = INDEX_TOL_PX / side  # in natural frequency bins of the analysed field
    allg = np.vstack([g, -g])
    allw = np.concatenate([w, w])
    short = np.argsort(np.linalg.norm(g, axis=1) + 1e-9 * np.arange(len(g)))[:12]
    cand = [int(i) for i in short if vals[i] >= 0.03 * vals.max()] or [int(i) for i in short[:2]]
    pairs: list[tuple[float, float, np.ndarray]] = []
    for ii, i in enumerate(cand):
        for j in cand[ii + 1 :]:
            b = np.stack([g[i], g[j]])
            sin = abs(float(np.cross(g[i], g[j]))) / (np.linalg.norm(g[i]) * np.linalg.norm(g[j]))
            if sin < 0.25:
                continue
            _, ok = _index(allg, b, tol * 1.5)
            pairs.append((float(allw[ok].sum() / allw.sum()), abs(float(np.linalg.det(b))), b))
    if not pairs:
        return None
    top = max(p[0] for p in pairs)
    best = max((p for p in pairs if p[0] >= top - 0.08), key=lambda p: p[1])
    b = reduce_basis(best[2])
    # Least-squares refinement over every indexed spot.
    hk, ok = _index(allg, b, tol * 1.5)
    if ok.sum() >= 3:
        sol, *_ = np.linalg.lstsq(hk[ok] * allw[ok, None], allg[ok] * allw[ok, None], rcond=None)
        if abs(np.linalg.det(sol)) > 1e-9:
            b = sol
    _, ok = _index(allg, b, tol * 1.5)
    frac = float(allw[ok].sum() / allw.sum())
    real = np.linalg.inv(b).T  # rows: real-space basis in px
    d = tuple(float(1.0 / np.linalg.norm(x)) for x in g[:8])
    cell = cell_of(real, "px", n_spots=len(g), indexed=frac, d_spacings=d)
    return cell.scaled(px, "Å") if px else cell


# ---------------------------------------------------------------------------------------------------------------------
# Spot-pair test: is the query's strongest pair of lattice spots present in a reference's spot set?


@dataclass(frozen=True)
class Spots:
    """Power-spectrum spots of one image: (k, 2) frequency vectors (1/unit: Å⁻¹ or cycles/px), strongest first."""

    g: np.ndarray
    strength: np.ndarray
    unit: str

    def top_pair(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The strongest spot and the strongest one not (anti)parallel to it (|sin| > 0.25)."""
        if len(self.g) < 2:
            return None
        g1 = self.g[0]
        n1 = np.linalg.norm(g1)
        for g2 in self.g[1:]:
            sin = abs(float(np.cross(g1, g2))) / (n1 * np.linalg.norm(g2) + 1e-12)
            if sin > 0.25:
                return g1, g2
        return None

    def to_payload(self, k: int = 24) -> list[list[float]]:
        return [[round(float(x), 4), round(float(y), 4)] for x, y in self.g[:k]]


def measure_spots(img: np.ndarray, px: float | None = None, n: int = FFT_N) -> Spots:
    return measure(img, px, n)[1]


def pair_match(
    query: Spots, refs: list[np.ndarray], shape_tol: float, angle_tol: float, scale_tol: float | None = None
) -> np.ndarray:
    """For each reference spot set (array (k, 2), Å⁻¹) the best match of the query's top pair:
    (len(refs), 3) rows (length-ratio misfit, angle difference in degrees, scale f = |g_query| / |g_ref|);
    NaN rows when the query has no independent pair or a reference has fewer than two spots. With ``scale_tol``
    (the pixel size is known) the scale's distance from 1 enters the choice of the corresponding pair too."""
    return _match_from_costs(_pair_costs(query, refs, shape_tol, angle_tol, scale_tol), len(refs))


def _match_from_costs(
    pc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None, nrefs: int
) -> np.ndarray:
    out = np.full((nrefs, 3), np.nan)
    if pc is None:
        return out
    misfit, dang, r1, r2, cost = pc
    c, k = cost.shape[0], cost.shape[1]
    flat = cost.reshape(c, -1)
    j = flat.argmin(axis=1)
    ok = np.isfinite(flat[np.arange(c), j])
    ia, ib = np.divmod(j, k)
    rows = np.arange(c)
    out[ok, 0] = misfit[rows, ia, ib][ok]
    out[ok, 1] = dang[rows, ia, ib][ok]
    out[ok, 2] = (1.0 / np.sqrt(r1[rows, ia, 0] * r2[rows, 0, ib]))[ok]
    return out


def pair_scales(
    query: Spots, refs: list[np.ndarray], shape_tol: float, angle_tol: float, n: int = 3, distinct: float = 0.03
) -> np.ndarray:
    """Unknown pixel size: (len(refs), n) scales f = |g_query| / |g_ref| of the ``n`` best pairings of the query's
    top pair with each reference's spots that pass the shape and angle tolerances, best first, at least
    ``distinct`` (log) apart; NaN where fewer pass. A lattice often fits a reference at several orders (the {100}
    and {110} spots of a hexagonal lattice are the same shape, √3 apart): the spectrum decides between them."""
    return _scales_from_costs(
        _pair_costs(query, refs, shape_tol, angle_tol, None), len(refs), shape_tol, angle_tol, n, distinct
    )


class PairCosts:
    """Unknown pixel size: the pairing costs of the query's top pair with every reference, computed once for
    ``pair_match`` (no scale tolerance) and, on any subset of the references, ``pair_scales`` (the same answers as
    calling those two when ``order_weight`` is 0).

    ``order_weight`` (default ``PAIR_ORDER_WEIGHT``) ranks the pairings by lattice order as well as shape: each
    pairing's cost grows by that much per place its two reference spots stand down the reference's strength-ordered
    spot list. Without a pixel size nothing else tells a lattice's orders apart: a regular hexagonal pair fits the
    {100}, {110}, {200}, ... pairs of a hexagonal reference equally well (the same shape, √3 and 2 apart in scale),
    and when the query's pair is snapped onto its fitted lattice (``snap_spots``) those ties are exact, so the few
    pairings whose scales get scored were an arbitrary choice among orders. The query's pair is its two strongest
    independent spots, which on any zone-axis image are low-order reflections; the reference's low-order spots are
    also its strong ones. The misfit / angle tests are unchanged (a pairing passes or fails as before)."""

    def __init__(
        self,
        query: Spots,
        refs: list[np.ndarray],
        shape_tol: float,
        angle_tol: float,
        order_weight: float | None = None,
    ) -> None:
        self.pc = _pair_costs(query, refs, shape_tol, angle_tol, None)
        w = PAIR_ORDER_WEIGHT if order_weight is None else float(order_weight)
        if self.pc is not None and w > 0:
            misfit, dang, r1, r2, cost = self.pc
            k = cost.shape[1]
            rank = np.arange(k, dtype=np.float64)
            self.pc = (misfit, dang, r1, r2, cost + w * (rank[:, None] + rank[None, :])[None])
        self.n, self.shape_tol, self.angle_tol = len(refs), shape_tol, angle_tol

    def match(self) -> np.ndarray:
        return _match_from_costs(self.pc, self.n)

    def scales(self, rows: np.ndarray, n: int = 3, distinct: float = 0.03) -> np.ndarray:
        sub = None if self.pc is None else tuple(a[rows] for a in self.pc)
        return _scales_from_costs(sub, len(rows), self.shape_tol, self.angle_tol, n, distinct)


def _scales_from_costs(
    pc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    nrefs: int,
    shape_tol: float,
    angle_tol: float,
    n: int,
    distinct: float,
) -> np.ndarray:
    out = np.full((nrefs, n), np.nan)
    if pc is None:
        return out
    misfit, dang, r1, r2, cost = pc
    c = cost.shape[0]
    passing = (misfit <= shape_tol) & (dang <= angle_tol) & np.isfinite(cost)
    scale = 1.0 / np.sqrt(r1 * r2)  # (c, k, k)
    flat = np.where(passing, cost, np.inf).reshape(c, -1)
    order = np.argsort(flat, axis=1)
    fs = scale.reshape(c, -1)
    for i in range(c):
        got: list[float] = []
        for j in order[i]:
            if not np.isfinite(flat[i, j]) or len(got) >= n:
                break
            f = float(fs[i, j])
            if all(abs(math.log(f / g)) > distinct for g in got):
                got.append(f)
        out[i, : len(got)] = got
    return out


def _pair_costs(
    query: Spots, refs: list[np.ndarray], shape_tol: float, angle_tol: float, scale_tol: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(misfit, angle difference, r1, r2, cost) for every pairing (c, k, k) of the query's top pair (g1 with
    reference spot a, g2 with spot b); None without a query pair or reference spots."""
    pair = query.top_pair()
    if pair is None:
        return None
    g1, g2 = pair
    l1, l2 = float(np.linalg.norm(g1)), float(np.linalg.norm(g2))
    th = math.degrees(math.acos(np.clip(abs(g1 @ g2) / (l1 * l2), 0.0, 1.0)))  # 0..90 (sign-free)
    # All references at once, padded to the longest spot list (NaN): (c, k, 2). A spot and its negative are the
    # same lattice direction here (the angle test is sign-free), so the stored half-plane spots suffice.
    sets = [np.asarray(h, dtype=np.float64).reshape(-1, 2) for h in refs]
    k = max((len(h) for h in sets), default=0)
    if k < 2:
        return None
    hh = np.full((len(sets), k, 2), np.nan)
    for i, h in enumerate(sets):
        hh[i, : len(h)] = h
    lh = np.linalg.norm(hh, axis=2)  # (c, k)
    r1 = lh[:, :, None] / l1  # ref spot a as the partner of g1
    r2 = lh[:, None, :] / l2  # ref spot b as the partner of g2
    cos = np.abs(np.einsum("cad,cbd->cab", hh, hh)) / (lh[:, :, None] * lh[:, None, :] + 1e-12)
    dang = np.abs(np.degrees(np.arccos(np.clip(cos, 0.0, 1.0))) - th)
    misfit = np.abs(r1 / r2 - 1.0)
    cost = misfit / shape_tol + dang / angle_tol
    if scale_tol is not None:
        cost = cost + np.abs(np.log(np.sqrt(r1 * r2))) / math.log(1.0 + scale_tol)
    cost[:, np.arange(k), np.arange(k)] = np.inf
    cost = np.where(np.isfinite(cost), cost, np.inf)
    return misfit, dang, r1, r2, cost
