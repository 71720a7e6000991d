"""The column motif: the query averaged over its measured unit cell, compared with a view's projected columns.

The power spectrum (``stem_lattice``, the lattice-spectrum score) keeps the lattice and the spot intensities but
loses the phases, i.e. *where* in the cell the columns sit. A monolayer MoS2 image along [001] and a plain
triangular lattice of the same spacing have nearly the same spots; in real space one shows a bright Mo column and a
dim S2 column per cell, the other one column. Crystallographic image processing recovers that: with the measured
real-space basis, every pixel is folded into the unit cell (fractional coordinates mod 1) and averaged — hundreds of
cells average the noise away — and the averaged cell's Fourier coefficients F(h, k) (amplitudes *and* phases) are
compared with the view's structure factors Σ_j w_j exp(−2πi (h, k)·f_j) of its projected columns (weights Σ occ·Z^n:
n = 1.7 for HAADF contrast, and for ABF 0.6 with the contrast inverted), damped by a Gaussian column profile.

The comparison is free of the lattice's own symmetry choices: every integer matrix N (entries |n| ≤ 2, |det| ≤ 4)
that maps the query's cell metric onto the view's (N G_q Nᵀ ≈ s² G_v; lengths within ``LEN_TOL``, angle within
``ANGLE_TOL``, s within the scale range) is tried — rotations, mirrors (det < 0) and a view cell that is a supercell
of the visible one (a centred projected cell) — and the origin shift is maximised over a grid (an inverse FFT).
The score is the normalised correlation (Pearson over the non-zero reflections up to ``Q_MAX``), in [−1, 1]. When the
view's cell is a supercell of the measured one (|det N| > 1), the view's power on reflections the query lattice does
not have (superlattice spots the query would show) counts in the template's norm: a view whose columns do not
repeat with the measured cell cannot score high.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import ndimage

MOTIF_VERSION = "motif1"
GRID = 16  # bins of the cell average per cell side
SHIFT_GRID = 12  # origin-shift grid per cell side (the correlation is band-limited to |h| <= HMAX)
HMAX = 4  # query reflections |h|, |k| <= HMAX
Q_MAX = 1.0 / 0.9  # Å⁻¹: reflections compared (the probe limits finer ones)
SIGMAS = (0.35, 0.5, 0.7)  # Å: Gaussian column profiles tried (probe + thickness blur are unknown)
LEN_TOL = 0.08  # length-ratio misfit accepted between the two cells (strain, scan distortion)
ANGLE_TOL = 7.0  # degrees
SCALE_RANGE = (0.85, 1.18)  # view cell / query cell scale accepted (calibration error)
REFINE_TOP = 3  # origin shifts refined per view (see motif_scores)
MAX_COLUMNS = 64  # views with more columns per cell are not given a motif (too fine to compare)
HAADF_EXP, ABF_EXP = 1.7, 0.6

_HK = np.array([(h, k) for h in range(-HMAX, HMAX + 1) for k in range(-HMAX, HMAX + 1) if (h, k) != (0, 0)])


def _integer_maps() -> np.ndarray:
    r = range(-2, 3)
    out = [
        (a, b, c, d) for a, b, c, d in itertools.product(r, r, r, r) if a * d - b * c != 0 and abs(a * d - b * c) <= 4
    ]
    return np.array(out, dtype=np.float64).reshape(-1, 2, 2)


_MAPS = _integer_maps()
_REFINE_OFFSETS = (
    np.array([(a / 4, b / 4) for a in range(-2, 3) for b in range(-2, 3)], dtype=np.float64) / SHIFT_GRID
)  # local grid around a coarse maximum: ±half a coarse step in quarter steps


@dataclass(frozen=True)
class ViewMotif:
    """A view's projected cell: basis rows (Å, plane coordinates), column fractional positions and weights."""

    basis: np.ndarray  # (2, 2)
    frac: np.ndarray  # (m, 2)
    w_haadf: np.ndarray  # (m,)
    w_abf: np.ndarray  # (m,)

    def to_payload(self) -> dict[str, Any]:
        return {
            "basis": [[round(float(x), 4) for x in row] for row in self.basis],
            "columns": [
                [round(float(f[0]), 4), round(float(f[1]), 4), round(float(a), 2), round(float(b), 3)]
                for f, a, b in zip(self.frac, self.w_haadf, self.w_abf, strict=True)
            ],
        }

    @staticmethod
    def from_payload(p: Any) -> ViewMotif | None:
        try:
            basis = np.asarray(p["basis"], dtype=np.float64).reshape(2, 2)
            cols = np.asarray(p["columns"], dtype=np.float64).reshape(-1, 4)
        except (KeyError, TypeError, ValueError):
            return None
        if len(cols) == 0 or abs(np.linalg.det(basis)) < 1e-6:
            return None
        return ViewMotif(basis, cols[:, :2], cols[:, 2], cols[:, 3])


def view_motif(basis: np.ndarray, col_frac: np.ndarray, w_haadf: np.ndarray, w_abf: np.ndarray) -> ViewMotif | None:
    """The payload motif of a projection (None when the cell has too many columns to compare)."""
    if len(col_frac) == 0 or len(col_frac) > MAX_COLUMNS:
        return None
    s_h, s_a = float(np.sum(w_haadf)), float(np.sum(w_abf))
    return ViewMotif(
        np.asarray(basis, np.float64),
        np.asarray(col_frac, np.float64) % 1.0,
        np.asarray(w_haadf, np.float64) / max(s_h, 1e-12),
        np.asarray(w_abf, np.float64) / max(s_a, 1e-12),
    )


@dataclass(frozen=True)
class QueryMotif:
    basis: np.ndarray  # (2, 2) measured real-space basis, Å (x right, y up)
    coeffs: np.ndarray  # (r,) complex Fourier coefficients of the cell average at ``hk``
    hk: np.ndarray  # (r, 2) reflections used (|g| <= Q_MAX)
    q2: np.ndarray  # (r,) |g|² (Å⁻²)


def query_motif(img: np.ndarray, basis_px: np.ndarray, px: float) -> QueryMotif | None:
    """Cell-average ``img`` over the measured basis (rows in px, x right / y up) → its Fourier coefficients."""
    avg = cell_average(img, basis_px)
    return None if avg is None else motif_at(avg, basis_px, px)


def cell_average(img: np.ndarray, basis_px: np.ndarray) -> np.ndarray | None:
    """The 2-D Fourier transform (GRID x GRID) of ``img`` averaged over the cell ``basis_px`` (rows in px); it does
    not depend on the pixel size, so one average serves every pixel-size hypothesis (``motif_at``)."""
    a = np.asarray(img, dtype=np.float64)
    h, w = a.shape
    b = np.asarray(basis_px, dtype=np.float64)
    if abs(np.linalg.det(b)) < 4.0:  # cells smaller than ~2x2 px cannot be averaged
        return None
    box = max(5, min(h, w) // 6)
    a = a - ndimage.uniform_filter(ndimage.uniform_filter(a, box, mode="reflect"), box, mode="reflect")
    win = np.outer(np.hanning(h), np.hanning(w)).ravel()
    yy, xx = np.indices(a.shape)
    pos = np.stack([(xx - w / 2).ravel(), (-(yy - h / 2)).ravel()], axis=1)
    f = pos @ np.linalg.inv(b)
    f -= np.floor(f)
    ij = np.minimum((f * GRID).astype(np.int64), GRID - 1)
    idx = ij[:, 0] * GRID + ij[:, 1]
    num = np.bincount(idx, weights=a.ravel() * win, minlength=GRID * GRID)
    den = np.bincount(idx, weights=win, minlength=GRID * GRID)
    cell = (num / np.maximum(den, 1e-12)).reshape(GRID, GRID)
    return np.fft.fft2(cell) / (GRID * GRID)


def motif_at(avg: np.ndarray, basis_px: np.ndarray, px: float) -> QueryMotif | None:
    """The query motif of a cell average (``cell_average``) at ``px`` Å/px: the basis in Å and the reflections up
    to ``Q_MAX``."""
    basis = np.asarray(basis_px, dtype=np.float64) * px
    g = _HK @ np.linalg.inv(basis).T
    q2 = (g**2).sum(axis=1)
    sel = q2 <= Q_MAX**2
    hk = _HK[sel]
    coeffs = avg[hk[:, 0] % GRID, hk[:, 1] % GRID]
    if float(np.sum(np.abs(coeffs) ** 2)) <= 1e-20:
        return None
    return QueryMotif(basis, coeffs, hk, q2[sel])


def _map_metrics(gq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every integer map N: lengths and angle of the cell N G_q Nᵀ (the query's cell expressed as a view cell)."""
    m = np.einsum("nij,jk,nlk->nil", _MAPS, gq, _MAPS)
    la, lb = np.sqrt(m[:, 0, 0]), np.sqrt(m[:, 1, 1])
    ang = np.degrees(np.arccos(np.clip(m[:, 0, 1] / (la * lb), -1, 1)))
    return la, lb, ang


def _maps_for(metrics: tuple[np.ndarray, np.ndarray, np.ndarray], gv: np.ndarray) -> np.ndarray:
    """(v, maps) bool: the integer maps N with N G_q Nᵀ ≈ s² G_v for each view metric ``gv`` (v, 2, 2)."""
    la, lb, ang = metrics
    lav, lbv = np.sqrt(gv[:, 0, 0])[:, None], np.sqrt(gv[:, 1, 1])[:, None]
    s = np.sqrt(la * lb / (lav * lbv))  # query-derived cell / view cell
    ratio = np.abs((la / lb) / (lav / lbv) - 1.0)
    angv = np.degrees(np.arccos(np.clip(gv[:, 0, 1][:, None] / (lav * lbv), -1.0, 1.0)))
    # a view cell f times the measured one means the true pixel size is f times the given one
    ok = (1.0 / s >= SCALE_RANGE[0]) & (1.0 / s <= SCALE_RANGE[1]) & (ratio <= LEN_TOL)
    return ok & (np.abs(ang - angv) <= ANGLE_TOL)


@cache
def _super_offsets(k: int) -> np.ndarray:
    """Fractional query indices of the view's reflections off the query lattice for map ``_MAPS[k]`` (a box around
    the compared range; empty for |det N| = 1): the cosets h' N^{-T} mod 1 plus the integer grid."""
    m = _MAPS[k]
    det = int(round(abs(np.linalg.det(m))))
    if det <= 1:
        return np.zeros((0, 2))
    box = np.array([(i, j) for i in range(det) for j in range(det)], dtype=np.float64)
    cos = box @ np.linalg.inv(m).T
    cos = np.unique(np.round(cos - np.floor(cos + 1e-9), 6), axis=0)
    cos = cos[np.any(cos > 1e-6, axis=1)]
    r = np.arange(-HMAX - 1, HMAX + 2, dtype=np.float64)
    base = np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
    return (base[:, None, :] + cos[None]).reshape(-1, 2)


def _distinct_up_to_translation(sf: np.ndarray, hk: np.ndarray, i10: int, i01: int) -> np.ndarray:
    """Indices of the maps whose templates ``sf`` (n, modes, r) differ by more than an origin shift (a shift t
    multiplies F(h, k) by exp(2πi (h, k)·t)): each row is brought to the origin where F(1, 0) and F(0, 1) are real and
    positive, and equal canonical rows are kept once. Rows where F(1, 0) or F(0, 1) vanishes are all kept."""
    a, b = sf[:, 0, i10], sf[:, 0, i01]
    scale = float(np.abs(sf[:, 0]).max()) + 1e-12
    ok = (np.abs(a) > 1e-3 * scale) & (np.abs(b) > 1e-3 * scale)
    t = np.stack([np.angle(a), np.angle(b)], axis=1) / (2 * math.pi)  # shift that makes both phases zero
    canon = sf * np.exp(-2j * math.pi * (t @ hk.T))[:, None, :]
    flat = canon.reshape(len(sf), -1) / scale
    # greedy in map order: a row is dropped when it equals (max difference < 1e-3) an earlier kept row, both with
    # F(1, 0) and F(0, 1); the pairwise differences once, as one array
    close = np.abs(flat[:, None, :] - flat[None, :, :]).max(axis=2) < 1e-3
    close &= ok[:, None] & ok[None, :]
    out: list[int] = []
    for j in range(len(sf)):
        if out and close[j, out].any():
            continue
        out.append(j)
    return np.asarray(out, dtype=np.int64)


_Axes = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # per axis: distinct values, indices


def _axes(hk: np.ndarray) -> _Axes:
    """Per axis of the reflections ``hk`` (r, 2): its distinct values and each reflection's index into them."""
    u0, i0 = np.unique(hk[:, 0], return_inverse=True)
    u1, i1 = np.unique(hk[:, 1], return_inverse=True)
    return (u0, i0.reshape(-1)), (u1, i1.reshape(-1))


def _phases(axes: _Axes, fq: np.ndarray) -> np.ndarray:
    """(n, r, m) exp(-2πi (h f_0 + k f_1)) for the reflections of ``axes`` (``_axes``) and column positions ``fq``
    (n, m, 2), as the product of one exponential per axis: the reflections take few distinct values per axis, so
    this needs ~2·9 exponentials per column instead of one per reflection."""
    (u0, i0), (u1, i1) = axes
    e0 = np.exp(-2j * math.pi * u0[None, :, None] * fq[:, None, :, 0])  # (n, u0, m)
    e1 = np.exp(-2j * math.pi * u1[None, :, None] * fq[:, None, :, 1])
    return e0[:, i0] * e1[:, i1]


def motif_scores(q: QueryMotif, views: list[ViewMotif | None], abf: bool = True) -> np.ndarray:
    """(len(views),) best normalised correlation of the query's cell average with each view's columns (HAADF
    contrast, and — with ``abf`` — inverted ABF contrast); NaN where no cell map fits (or no motif is stored)."""
    out = np.full(len(views), np.nan)
    metrics = _map_metrics(q.basis @ q.basis.T)
    sig2 = np.asarray(SIGMAS) ** 2
    env = np.exp(-2.0 * math.pi**2 * np.outer(sig2, q.q2))  # (s, r)
    qn = math.sqrt(float(np.sum(np.abs(q.coeffs) ** 2)))
    hk = q.hk.astype(np.float64)
    inv_t = np.linalg.inv(q.basis).T
    sup_cache: dict[int, tuple[_Axes, np.ndarray]] = {}
    modes = ((1, 1.0), (2, -1.0)) if abf else ((1, 1.0),)
    hk_axes = _axes(hk)
    pos = (hk[:, 0].astype(np.int64) % SHIFT_GRID) * SHIFT_GRID + hk[:, 1].astype(np.int64) % SHIFT_GRID
    signs = np.array([1.0, -1.0])[: len(modes)]
    prods: list[np.ndarray] = []  # per view: (n * modes * s, r) products for the origin search
    norms: list[np.ndarray] = []  # matching template norms
    owner: list[np.ndarray] = []
    # maps related by a symmetry of the view give the same template up to an origin shift: scored once
    i10 = int(np.nonzero((hk[:, 0] == 1) & (hk[:, 1] == 0))[0][0]) if ((hk[:, 0] == 1) & (hk[:, 1] == 0)).any() else -1
    i01 = int(np.nonzero((hk[:, 0] == 0) & (hk[:, 1] == 1))[0][0]) if ((hk[:, 0] == 0) & (hk[:, 1] == 1)).any() else -1
    have = [i for i, v in enumerate(views) if v is not None]
    fits = np.zeros((len(views), len(_MAPS)), dtype=bool)
    if have:
        bases = np.stack([views[i].basis for i in have])  # type: ignore[union-attr]
        fits[have] = _maps_for(metrics, bases @ bases.transpose(0, 2, 1))
    for i, v in enumerate(views):
        if v is None or not fits[i].any():
            continue
        idx = np.nonzero(fits[i])[0]
        n = _MAPS[idx]  # (n, 2, 2): f_query = f_view N
        fq = np.matmul(v.frac[None], n)  # (n, m, 2)
        ph = _phases(hk_axes, fq)  # (n, r, m): exp(-2πi (h, k)·f_q)
        w = np.stack([v.w_haadf, v.w_abf], axis=1)[:, : len(modes)]  # (m, modes)
        sf = (ph @ w).transpose(0, 2, 1)  # (n, modes, r)
        if len(idx) > 1 and i10 >= 0 and i01 >= 0:
            keep = _distinct_up_to_translation(sf, hk, i10, i01)
            idx, fq, sf = idx[keep], fq[keep], sf[keep]
        t2 = np.einsum("nkr,sr->nks", sf.real**2 + sf.imag**2, env**2)  # (n, modes, s) template power
        for j, k in enumerate(idx):  # supercell maps: the view's power on superlattice reflections
            if int(k) not in sup_cache:
                hkf = _super_offsets(int(k))
                q2s = ((hkf @ inv_t) ** 2).sum(axis=1)
                hkf, q2s = hkf[q2s <= Q_MAX**2], q2s[q2s <= Q_MAX**2]
                sup_cache[int(k)] = (_axes(hkf), np.exp(-4.0 * math.pi**2 * np.outer(sig2, q2s)))
            axes, env2 = sup_cache[int(k)]
            if len(axes[0][1]):
                ss = _phases(axes, fq[j : j + 1])[0] @ w  # (r', modes)
                t2[j] += (env2 @ (np.abs(ss) ** 2)).T
        prods.append((signs[None, :, None] * q.coeffs * np.conj(sf)).reshape(-1, len(hk)))  # envelope applied later
        norms.append(np.sqrt(t2).reshape(-1, len(sig2)))
        owner.append(np.full(t2.shape[0] * t2.shape[1], i))
    if not prods:
        return out
    p = np.concatenate(prods)  # (N, r): one row per (view, map, contrast)
    scale = 1.0 / (qn * np.maximum(np.concatenate(norms), 1e-12))  # (N, s)
    own = np.concatenate(owner)
    # Coarse origin search with the middle column profile: an inverse FFT samples every 1/SHIFT_GRID of a cell.
    mid = len(sig2) // 2
    grid = np.zeros((p.shape[0], SHIFT_GRID * SHIFT_GRID), dtype=np.complex128)
    grid[:, pos] = p * env[mid]
    c = np.fft.ifft2(grid.reshape(-1, SHIFT_GRID, SHIFT_GRID)).real.reshape(p.shape[0], -1) * (SHIFT_GRID**2)
    arg = c.argmax(axis=1)
    val = c[np.arange(len(c)), arg] * scale[:, mid]
    # Refine the REFINE_TOP best rows per view on a 4x finer local grid, for every column profile (a shift error of
    # half a coarse step costs up to cos(π h / SHIFT_GRID) on order h).
    order = np.lexsort((-val, own))
    first = np.r_[True, own[order][1:] != own[order][:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    sel = order[rank < REFINE_TOP]
    t0 = np.stack(np.divmod(arg[sel], SHIFT_GRID), axis=1) / SHIFT_GRID  # (k, 2) shifts (cell fractions)
    ph = np.exp(2j * math.pi * (t0 @ hk.T))[:, None, :] * np.exp(2j * math.pi * (_REFINE_OFFSETS @ hk.T))[None]
    amp = p[sel][:, None, :] * env[None]  # (k, s, r)
    cf = np.matmul(amp, ph.transpose(0, 2, 1)).real.max(axis=2) * scale[sel]  # (k, s)
    val[sel] = np.maximum(val[sel], cf.max(axis=1))
    best = np.full(len(views), -np.inf)
    np.maximum.at(best, own, val)
    out[np.isfinite(best)] = best[np.isfinite(best)]
    return out
