"""Physics before learning: the query's measured 2-D lattice filters and re-ranks the STEM candidates.

``query_features`` measures the projected lattice of a query (``matsearch.encoders.stem_lattice``) and its
lattice-spectrum harmonics on a grid of scale factors; ``score_candidates`` scores library views against it:

* **Lattice check.** The query's two strongest independent lattice spots (lengths and the angle between them)
  must be found among the spots of the view's clean reference image (stored in the payload as ``spots``, Å⁻¹):
  length ratio within ``SHAPE_TOL``, angle within ``ANGLE_TOL``, and the implied scale factor within
  ``SCALE_TOL`` of the given pixel size — real calibrations are off by a few percent (-5 to -9 % on two real
  files here). Testing spots rather than reduced cells tolerates superstructure spots that one image shows and
  the other does not (octahedral tilts, light-atom columns, ABF vs HAADF). Without a pixel size the implied
  scale *is* the pixel-size estimate.
* **Spectrum score.** The rotation/mirror-maximised correlation of lattice spectra (``lattice_scores``), taken at
  the nominal scale (±1 step) and, for a lattice-consistent view, at its implied scale (±1 step); with a given
  pixel size a scale factor f costs ``SCALE_PRIOR`` · |ln f| (a prior on calibration errors).
* **Column motif.** The power spectrum has no phases: a monolayer MoS2 [001] image and a plain triangular lattice of
  the same spacing give nearly the same spots. The query averaged over its measured unit cell (amplitudes *and*
  phases of its lattice reflections) is compared with each view's projected columns (``stem_motif``); a view whose
  columns explain the averaged cell (motif score above ``MOTIF_REF``) is promoted.
* **Score** = the spectrum score + the motif bonus (what hits are ranked by). **Abstain score** = the score −
  ``LATTICE_PENALTY`` when the query lattice is measured confidently and the view's lattice disagrees: a hit is
  kept only when its abstain score reaches the threshold, so a look-alike spectrum of the wrong lattice needs a
  higher score to be reported. (On the synthetic tune split, subtracting the penalty from the ranking score too
  cost ~1.5 points of top-5 for no gain in abstention at equal false-abstain rate, so ranking does not use it.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from matsearch.encoders.stem import LAT_NTHETA, lattice_harmonics, lattice_polar_scales
from matsearch.encoders.stem_lattice import Cell2D, PairCosts, Spots, measure, pair_match
from matsearch.encoders.stem_motif import QueryMotif, ViewMotif, cell_average, motif_at, motif_scores, query_motif

SCALE_TOL = 0.12  # ± fraction: calibration error tolerated when the pixel size is given
SCALE_STEP = 0.02  # log step of the scale grid
SHAPE_TOL = 0.08  # length-ratio misfit accepted (strain, scan distortion)
ANGLE_TOL = 7.0  # degrees
SCALE_PRIOR = 0.5  # known pixel size: a match at scale factor f pays SCALE_PRIOR * |ln f| (calibration prior)
LATTICE_PENALTY = 0.08  # subtracted from the spectrum score of a view whose lattice contradicts a confident query
# ... and this much of it from the ranking score (pixel size known): with the three references (below) ranking by
# it gained ~1.5 points of top-5 on the synthetic tune split (without them ~0.7; docs/stem.md, session 7)
RANK_PENALTY = 0.04
CONFIDENT_STRENGTH = 30.0  # both spots of the query's top pair at least this far above the background
UNKNOWN_PX_RANGE = (0.02, 1.2)  # Å/px: pixel sizes an estimate may take (atomic resolution)
UNKNOWN_PAIRINGS = 5  # unknown pixel size: the spectrum is scored at the scales of this many fitting spot pairings
UNKNOWN_MOTIF_BIN = 0.08  # unknown pixel size: log-width of the pixel-size bins that share one query motif
# Column motif (known pixel size; ``matsearch.encoders.stem_motif``): the MOTIF_K best views by spectrum score are
# compared with the query's cell average; score = spectrum + MOTIF_WEIGHT * max(0, motif - MOTIF_REF): a view whose
# columns explain the averaged cell is promoted, nothing is taken away (a low motif score is as often an unreliable
# cell average — big cells, few unit cells in the field, ABF — as a wrong structure; on the synthetic tune split
# penalising low scores cost 3-4 points of top-5). Views whose cell no integer map fits onto the measured one, and
# views below the MOTIF_K best, keep their spectrum score. Chosen on the synthetic tune split + the real dev crops
# (docs/stem.md): W 1.0-2.0 and REF 0.85-0.93 all lie within ±2 points there.
# Twinned particles (pixel size known): a twin shows two domains mirrored across a shared lattice plane, so its power
# spectrum is the union of a view's spots and their mirror image across one of the view's reciprocal-lattice
# directions (the twin plane's normal). The TWIN_K best views by spectrum are also compared as twins: their clean
# reference's polar spectrum, maximised with its mirror across each of the view's TWIN_SPOTS strongest spot
# directions; the better of single and twin counts. Synthetic twinned fcc [110] particles (Au, Cu, Pd at 0.075 Å/px,
# amorphous support): top-5 7/12 -> 10/12; synthetic tune split (no particles) unchanged (docs/stem.md, session 7).
TWIN_K = 80
# Ring weighting (session 8): every lattice spectrum (query and library) has each k ring's harmonics divided by
# (its energy)^(RING_ALPHA/2) before the correlation, so that rings count more equally. Thickness and probe tails
# change how strong the higher-order rings are (channelling saturates heavy columns, the beam spreads) but not
# where their spots sit; unweighted, the strongest low-order rings dominate. Synthetic tune split (408 queries):
# top-5 0.880 -> 0.907 (queries thicker than the median 0.804 -> 0.848); alpha 0.3 / 0.7 / 1.0: 0.890 / 0.897 / 0.885.
RING_ALPHA = 0.5
TWIN_SPOTS = 3
MOTIF_K = 150
MOTIF_WEIGHT = 1.25
MOTIF_REF = 0.9


def ring_weighted(h: np.ndarray) -> np.ndarray:
    """(..., K, M) harmonics (``lattice_harmonics``) with ring k scaled by (E_k + ε)^(-RING_ALPHA/2), E_k its energy
    (ε = 1e-4 of the mean ring energy: empty rings stay empty), renormalised like ``lattice_harmonics``."""
    if RING_ALPHA == 0:
        return h
    h = np.ascontiguousarray(h, dtype=np.complex64)
    w = np.full(2 * h.shape[-1], 2.0, dtype=np.float32)  # (re, im) pairs; m = 0 counts once
    w[:2] = 1.0
    hv = h.view(np.float32)
    e = ((hv * hv) @ w)[..., None]  # (..., K, 1) ring energies
    f = (e + 1e-4 * e.mean(axis=-2, keepdims=True)) ** (-RING_ALPHA / 2)
    norm = np.sqrt((e * f**2).sum(axis=-2, keepdims=True))  # energy after scaling
    return h * (f / (norm + 1e-12))


@dataclass
class QueryFeatures:
    """What the re-rank needs from a query."""

    known: bool  # pixel size given (or from the file)
    px: float  # Å/px of ``work`` (nominal when known; working-image px units otherwise = 1.0)
    work: np.ndarray  # image the spectra and the cell are measured on
    cell: Cell2D | None  # measured cell, Å when known, working-image px otherwise
    spots: Spots | None = None
    raw_factor: float = 1.0  # unknown scale: working image = raw image zoomed by this factor
    scales: np.ndarray = field(default_factory=lambda: np.zeros(0))  # known: factor grid around 1
    harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.complex64))
    fallback_px: np.ndarray = field(default_factory=lambda: np.zeros(0))  # unknown, no cell: px hypotheses (Å/px)
    fallback_harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.complex64))
    motif: QueryMotif | None = None  # cell average of ``work`` over the measured cell (known pixel size)
    cell_avg: np.ndarray | None = None  # unknown pixel size: the cell average (``cell_average``) over ``cell``

    @property
    def confident(self) -> bool:
        """Two independent strong spots: enough to test a candidate's lattice."""
        sp = self.spots
        if sp is None or sp.top_pair() is None:
            return False
        g1, g2 = sp.top_pair()  # type: ignore[misc]
        k = int(np.nonzero(np.all(sp.g == g2, axis=1))[0][0])
        return bool(sp.strength[0] >= CONFIDENT_STRENGTH and sp.strength[k] >= CONFIDENT_STRENGTH)


def scale_grid(tol: float = SCALE_TOL, step: float = SCALE_STEP) -> np.ndarray:
    n = int(round(math.log((1 + tol) / (1 - tol)) / step / 2))
    return np.exp(np.arange(-n, n + 1) * step)


def known_features(work: np.ndarray, px: float) -> QueryFeatures:
    """``work`` is the query resampled to ``px`` Å/px (the library pixel size)."""
    scales = scale_grid()
    harm = ring_weighted(lattice_harmonics(lattice_polar_scales(work, px, scales.tolist())))
    cell, spots = measure(work, px, snap=True)
    motif = None
    if cell is not None and cell.basis is not None:
        motif = query_motif(work, np.asarray(cell.basis) / px, px)
    return QueryFeatures(True, px, work, cell, spots, 1.0, scales, harm, motif=motif)


def unknown_features(work: np.ndarray, raw_factor: float, fallback_px: np.ndarray) -> QueryFeatures:
    """``work`` at an unknown pixel size (px units); ``fallback_px`` are the pixel-size hypotheses (Å per work px)
    used when no confident lattice is measured."""
    harm = ring_weighted(lattice_harmonics(lattice_polar_scales(work, 1.0, fallback_px.tolist())))
    # spots snapped onto the fitted lattice, as with a known size (session 11). A snapped, perfectly regular pair
    # ties across a view's lattice orders, so the pairings whose scales are scored are ranked by order as well as
    # shape (``stem_lattice.PairCosts``, PAIR_ORDER_WEIGHT; by shape alone the right order dropped out, session 10)
    cell, spots = measure(work, None, snap=True)
    avg = cell_average(work, np.asarray(cell.basis)) if cell is not None and cell.basis is not None else None
    return QueryFeatures(
        False,
        1.0,
        work,
        cell,
        spots,
        raw_factor,
        fallback_px=np.asarray(fallback_px, dtype=np.float64),
        fallback_harmonics=harm,
        cell_avg=avg,
    )


@dataclass
class CandidateScores:
    score: np.ndarray  # (c,) ranking score (the spectrum score)
    abstain: np.ndarray  # (c,) score the abstain threshold applies to (lattice penalty included)
    spectrum: np.ndarray  # (c,) spectrum score
    lattice_ok: np.ndarray  # (c,) bool: lattice consistent (False also when not checked)
    checked: np.ndarray  # (c,) bool: lattice compared (confident query and a stored cell)
    scale: np.ndarray  # (c,) known: factor at the best spectrum score; unknown: Å per work px
    shape_misfit: np.ndarray  # (c,)
    angle_diff: np.ndarray  # (c,)
    motif: np.ndarray | None = None  # (c,) column-motif correlation (NaN: not compared); None: no query motif
    twin: np.ndarray | None = None  # (c,) spectrum score read as a mirror twin (-inf: not compared); None: not run


def _corr(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(s, K, M) x (c, K, M) -> (s, c) best rotation/mirror correlation."""
    gc = np.conj(g)
    best = np.full((q.shape[0], g.shape[0]), -np.inf)
    gt = gc.transpose(2, 1, 0)  # (M, K, c): one complex matrix product per harmonic (BLAS; einsum is ~3x slower)
    for qq in (q, np.conj(q)):
        s = np.matmul(qq.transpose(2, 0, 1), gt).transpose(1, 2, 0)  # (s, c, M)
        best = np.maximum(best, (np.fft.irfft(s, n=LAT_NTHETA, axis=-1) * LAT_NTHETA).max(axis=2))
    return best


def _corr_refs(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(s, K, M) x (c, R, K, M) -> (s, c): ``_corr`` maximised over each view's R reference spectra."""
    c, r = g.shape[:2]
    return _corr(q, g.reshape(c * r, *g.shape[2:])).reshape(len(q), c, r).max(axis=2)


def _corr_pairs_refs(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(c, j, K, M) x (c, R, K, M) -> (c, j): ``_corr_pairs`` maximised over each view's R reference spectra."""
    c, r = g.shape[:2]
    qq = np.repeat(q, r, axis=0)  # (c R, j, K, M)
    return _corr_pairs(qq, g.reshape(c * r, *g.shape[2:])).reshape(c, r, -1).max(axis=1)


def _corr_rows_refs(qh: np.ndarray, jj: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(s, K, M) query spectra, (c, j) indices into them, (c, R, K, M) -> (c, j): view i against the query spectra
    ``qh[jj[i]]``, maximised over its R references. Same values as ``_corr_pairs_refs(qh[jj], g)``; the views that
    share index rows go through one ``_corr`` (a matrix product per harmonic) instead of a product per view."""
    c, r = g.shape[:2]
    out = np.empty(jj.shape, dtype=np.float64)
    keys, inv = np.unique(jj, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    for k, key in enumerate(keys):
        sel = np.nonzero(inv == k)[0]
        v = _corr(qh[key], g[sel].reshape(len(sel) * r, *g.shape[2:]))  # (j, n r)
        out[sel] = v.reshape(len(key), len(sel), r).max(axis=2).T
    return out


def _corr_pairs(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(c, j, K, M) x (c, K, M) -> (c, j)."""
    gc = np.conj(g)
    best = np.full(q.shape[:2], -np.inf)
    for qq in (q, np.conj(q)):
        s = (qq * gc[:, None]).sum(axis=2)  # (c, j, M); faster than the equivalent einsum
        best = np.maximum(best, (np.fft.irfft(s, n=LAT_NTHETA, axis=-1) * LAT_NTHETA).max(axis=2))
    return best


def twin_templates(harmonics0: np.ndarray, spots: list[np.ndarray]) -> np.ndarray:
    """(n * TWIN_SPOTS, K, M) twin templates of n views: ``harmonics0`` (n, K, M) their clean reference spectra,
    ``spots`` their reference spots ((k >= 1, 2) Å⁻¹, strongest first). Template (view t, spot s) = the polar
    spectrum maximised with its mirror θ -> 2β_s - θ across the direction β_s of spot s (fewer spots than
    TWIN_SPOTS: the first repeats), linearly interpolated between angle bins, as harmonics (``lattice_harmonics``).

    The mirror index of bin j is (c - j) mod T with c = floor(2β T/π) (the same for every j), so the two
    interpolation neighbours are contiguous windows of the reversed spectrum (a strided view, no per-bin gather);
    should the per-bin rounding of the source angle ever disagree with that, the general per-bin gather is used."""
    n, t = len(harmonics0), LAT_NTHETA
    pol = np.fft.irfft(harmonics0, n=t, axis=-1)  # (n, K, T): the polar spectrum, θ over [0, π)
    beta = np.zeros((n, TWIN_SPOTS))
    for i, sp in enumerate(spots):
        sp = np.asarray(sp)[:TWIN_SPOTS]
        sp = np.vstack([sp, np.repeat(sp[:1], TWIN_SPOTS - len(sp), axis=0)])
        beta[i] = np.arctan2(sp[:, 1], sp[:, 0]) % np.pi
    j = np.arange(t, dtype=np.float64)
    src = (2.0 * beta[:, :, None] * (t / np.pi) - j) % t  # θ -> 2β - θ, in angle bins (n, S, T)
    j0 = np.floor(src).astype(np.int64) % t
    fr = (src - np.floor(src))[:, :, None, :].astype(np.float32)  # (n, S, 1, T); float32 like the spectra
    c = j0[:, :, :1]
    if np.array_equal(j0, (c - np.arange(t)) % t):
        rev = pol[..., (-np.arange(t)) % t]  # rev[j] = pol[-j mod T]
        win = sliding_window_view(np.concatenate([rev, rev], axis=-1), t, axis=-1)  # (n, K, T + 1, T)
        s0 = (t - c[:, :, 0]) % t  # pol[(c - j) mod T] = rev[(j - c) mod T] = win[.., s0, j]
        rows = np.arange(n)[:, None]
        a = win[rows, :, s0]  # (n, S, K, T)
        b = win[rows, :, (s0 - 1) % t]  # pol[(c + 1 - j) mod T]
    else:
        p4 = np.broadcast_to(pol[:, None], (n, TWIN_SPOTS, *pol.shape[1:]))  # (n, S, K, T)
        a = np.take_along_axis(p4, j0[:, :, None, :].repeat(pol.shape[1], axis=2), axis=3)
        b = np.take_along_axis(p4, ((j0 + 1) % t)[:, :, None, :].repeat(pol.shape[1], axis=2), axis=3)
    mirrored = (1.0 - fr) * a + fr * b
    return lattice_harmonics(np.maximum(pol[:, None], mirrored).reshape(-1, *pol.shape[1:]))


def twin_spectra(
    qf: QueryFeatures,
    harmonics: np.ndarray,
    ref_spots: list[np.ndarray | None],
    templates: np.ndarray | None = None,
) -> np.ndarray:
    """(c,) spectrum score of each view read as a mirror twin (see ``TWIN_K``); -inf where not compared.
    ``harmonics`` (c, R, K, M): the clean reference (R index 0) is mirrored (``twin_templates``); ``templates``
    (c, TWIN_SPOTS, K, M), when given, are those templates already made (views without spots: anything)."""
    c = len(harmonics)
    out = np.full(c, -np.inf)
    grid = np.log(qf.scales)
    mid = len(grid) // 2
    lo = max(0, mid - 1)
    idx = [i for i in range(c) if ref_spots[i] is not None and len(ref_spots[i]) >= 1]  # type: ignore[arg-type]
    if not idx or not qf.known:
        return out
    rows = np.array(idx)
    if templates is None:
        th = twin_templates(harmonics[rows, 0], [np.asarray(ref_spots[i]) for i in idx])
    else:
        th = np.asarray(templates)[rows].reshape(-1, *harmonics.shape[2:])
    v = _corr(qf.harmonics[lo : mid + 2], th) - SCALE_PRIOR * np.abs(grid[lo : mid + 2])[:, None]
    out[rows] = v.max(axis=0).reshape(len(rows), TWIN_SPOTS).max(axis=1)
    return out


def prefilter(qf: QueryFeatures, clean: np.ndarray, keep: int) -> np.ndarray:
    """Indices (best first) of the ``keep`` views to re-rank among ``c`` stage-1 candidates: the rotation/mirror
    correlation of the query's lattice spectrum at the nominal scale with each view's clean reference spectrum
    (``clean`` (c, K, M), ring-weighted here as in ``score_candidates``): one spectrum product per view, ~1/9 of
    the re-rank's nominal-scale step. The stage-1 descriptor (rotation-invariant ring magnitudes) loses the true
    view for ~7 % of synthetic queries at 500 candidates; the best 150 of 1,000 by this recover most (docs/stem.md,
    session 10). All candidates are kept when ``c <= keep`` or the query has no spectrum."""
    c = len(clean)
    if c <= keep or not qf.known or len(qf.harmonics) == 0:
        return np.arange(c)
    mid = len(qf.scales) // 2
    t1 = _corr(qf.harmonics[mid : mid + 1], ring_weighted(np.asarray(clean)))[0]
    return np.argsort(-t1, kind="stable")[:keep]


def prefilter_unknown(qf: QueryFeatures, clean: np.ndarray, keep: int) -> np.ndarray:
    """Unknown pixel size: indices (best first) of the ``keep`` stage-1 candidates to re-rank — those whose clean
    reference spectrum (``clean`` (c, K, M)) best fits the query's lattice spectrum at any scale of the query's
    fallback grid (``fallback_harmonics``: ~4 % steps over the nearest-spacing range ``search.stem.UNKNOWN_SPACING``).
    As ``prefilter`` for a known size: the descriptor's cosine only proposes the pool. On the real MoS2 dev crops
    (session 11) the MoS2 [001] view is cosine rank 170 / 462 of 6,395 at the stage-1 hypothesis nearest the truth
    (60 were fetched per hypothesis, so it never reached the re-rank) but rank 25 / 30 by the lattice spectrum among
    the 1,000 best by cosine. All are kept when ``c <= keep``, the pixel size is known, or the query has no
    fallback spectra."""
    c = len(clean)
    if c <= keep or qf.known or len(qf.fallback_harmonics) == 0:
        return np.arange(c)
    t = _corr(qf.fallback_harmonics, ring_weighted(np.asarray(clean))).max(axis=0)
    return np.argsort(-t, kind="stable")[:keep]


def score_candidates(
    qf: QueryFeatures,
    harmonics: np.ndarray,
    ref_spots: list[np.ndarray | None],
    motifs: list[ViewMotif | None] | None = None,
    groups: list[str] | None = None,
    keep: int | None = None,
    floor: float | None = None,
) -> CandidateScores:
    """Score ``c`` library views: ``harmonics`` (c, K, M) lattice spectra — or (c, R, K, M): R reference spectra
    per view (the clean HAADF reference, a thick one, an ABF one; the best counts) — ``ref_spots`` their reference spot
    sets ((k, 2) Å⁻¹, None when not stored), ``motifs`` their projected columns (None when not stored).

    With ``groups`` (the structure of each view) and ``keep`` (hits wanted), the motif is not computed for views
    that cannot reach the ``keep`` best structures even with the largest bonus (spectrum + MOTIF_WEIGHT * (1 -
    MOTIF_REF) below the keep-th best structure's spectrum score): the top ``keep`` and their scores are unchanged.
    With ``floor`` (the abstain threshold the caller applies), views whose abstain score stays below it even with
    the largest bonus are not compared either: they are dropped whatever their motif score."""
    c = len(harmonics)
    harmonics = np.asarray(harmonics)
    if harmonics.ndim == 3:
        harmonics = harmonics[:, None]
    harmonics = ring_weighted(harmonics)  # the query's are weighted in ``known_features`` / ``unknown_features``
    nan = np.full(c, np.nan)
    if c == 0:
        e = np.zeros(0)
        return CandidateScores(e, e, e, e.astype(bool), e.astype(bool), e, e, e)
    misfit, dang, implied = nan.copy(), nan.copy(), nan.copy()
    checked = np.zeros(c, dtype=bool)
    costs: PairCosts | None = None
    have: list[int] = []
    if qf.confident and qf.spots is not None:
        have = [i for i in range(c) if ref_spots[i] is not None and len(ref_spots[i]) >= 2]  # type: ignore[arg-type]
        if have:
            have_refs = [np.asarray(ref_spots[i]) for i in have]
            if qf.known:
                m = pair_match(qf.spots, have_refs, SHAPE_TOL, ANGLE_TOL, SCALE_TOL)
            else:  # the pairing costs once, for the best pairing here and every fitting one below
                costs = PairCosts(qf.spots, have_refs, SHAPE_TOL, ANGLE_TOL)
                m = costs.match()
            idx = np.array(have)
            misfit[idx], dang[idx], implied[idx] = m[:, 0], m[:, 1], m[:, 2]
            checked[idx] = np.isfinite(m[:, 0])
    shape_ok = checked & (misfit <= SHAPE_TOL) & (dang <= ANGLE_TOL)
    if qf.known:
        ok = shape_ok & (np.abs(np.log(np.where(checked, implied, 1.0))) <= math.log(1 + SCALE_TOL))
        grid = np.log(qf.scales)
        mid = len(grid) // 2
        lo = max(0, mid - 1)
        # every view at the nominal scale ±1 step; lattice-consistent views also at their implied scale ±1 step
        near = _corr_refs(qf.harmonics[lo : mid + 2], harmonics) - SCALE_PRIOR * np.abs(grid[lo : mid + 2])[:, None]
        spec = near.max(axis=0)
        best_scale = qf.scales[lo + near.argmax(axis=0)]
        if ok.any():
            rows = np.nonzero(ok)[0]
            j = np.round((np.log(implied[rows]) - grid[0]) / SCALE_STEP).astype(int)
            jj = np.clip(j[:, None] + np.array([-1, 0, 1])[None, :], 0, len(grid) - 1)  # (r, 3)
            v = _corr_rows_refs(qf.harmonics, jj, harmonics[rows]) - SCALE_PRIOR * np.abs(grid[jj])
            k = v.argmax(axis=1)
            vb = v[np.arange(len(rows)), k]
            better = vb > spec[rows]
            spec[rows[better]] = vb[better]
            best_scale[rows[better]] = qf.scales[jj[np.arange(len(rows)), k]][better]
    else:
        px_lo, px_hi = UNKNOWN_PX_RANGE
        ok = shape_ok & (implied >= px_lo) & (implied <= px_hi)
        spec = np.full(c, -np.inf)
        best_scale = nan.copy()
        if ok.any():
            rows = np.nonzero(ok)[0]
            # every pairing of the spots that fits (a lattice often fits at several orders), best first
            alt = np.full((len(rows), UNKNOWN_PAIRINGS), np.nan)
            if UNKNOWN_PAIRINGS > 1 and costs is not None:
                pos_in_have = {int(i): j for j, i in enumerate(have)}
                alt = costs.scales(np.array([pos_in_have[int(i)] for i in rows]), UNKNOWN_PAIRINGS)
            alt[:, 0] = implied[rows]
            alt = np.where((alt >= px_lo) & (alt <= px_hi), alt, alt[:, :1])  # NaN / out of range: the best one
            # one spectrum per distinct implied pixel size (2 % bins, ±1 bin)
            bins = np.round(np.log(alt) / SCALE_STEP).astype(int)  # (r, n)
            need = sorted({int(b) + o for b in bins.ravel() for o in (-1, 0, 1)})
            pxs = np.exp(np.array(need) * SCALE_STEP)
            harm = ring_weighted(lattice_harmonics(lattice_polar_scales(qf.work, 1.0, pxs.tolist())))
            pos = {b: k for k, b in enumerate(need)}
            idx = np.array([[pos[int(b) + o] for b in br for o in (-1, 0, 1)] for br in bins])  # (r, 3n)
            v = _corr_pairs_refs(harm[idx], harmonics[rows])
            spec[rows] = v.max(axis=1)
            best_scale[rows] = pxs[idx[np.arange(len(idx)), v.argmax(axis=1)]]
        rest = ~ok
        if rest.any() and len(qf.fallback_px):
            corr = _corr_refs(qf.fallback_harmonics, harmonics[rest])
            spec[rest] = corr.max(axis=0)
            best_scale[rest] = qf.fallback_px[corr.argmax(axis=0)]
    twin = None
    if qf.known and TWIN_K > 0:
        top_t = np.argsort(-spec)[:TWIN_K]
        twin = np.full(c, -np.inf)
        twin[top_t] = twin_spectra(qf, harmonics[top_t], [ref_spots[int(i)] for i in top_t])
        spec = np.maximum(spec, twin)
    penalty = np.where(checked & ~ok, LATTICE_PENALTY, 0.0)
    base = spec - (RANK_PENALTY / LATTICE_PENALTY) * penalty if qf.known else spec  # ranking score before the motif
    score, mot = base, None
    q_unknown = not qf.known and qf.cell_avg is not None and qf.cell is not None and qf.cell.basis is not None
    q_ready = (qf.known and qf.motif is not None) or q_unknown
    if q_ready and motifs is not None and any(m is not None for m in motifs):
        top = np.argsort(-spec)[:MOTIF_K]
        top = top[np.isfinite(spec[top])]
        if groups is not None and keep is not None and keep > 0:
            best: dict[str, float] = {}
            for i in np.argsort(-base):
                best.setdefault(groups[int(i)], float(base[i]))
            if len(best) >= keep:
                cut = sorted(best.values(), reverse=True)[keep - 1] - MOTIF_WEIGHT * (1.0 - MOTIF_REF)
                top = top[base[top] >= cut]
        if floor is not None:
            top = top[spec[top] - penalty[top] + MOTIF_WEIGHT * (1.0 - MOTIF_REF) >= floor]
        mot = np.full(c, np.nan)
        if qf.known:
            mot[top] = motif_scores(qf.motif, [motifs[i] for i in top])  # type: ignore[arg-type]
        else:  # each view at the pixel size its own lattice match implies (Å per working-image px)
            top = top[np.isfinite(best_scale[top])]
            basis_px = np.asarray(qf.cell.basis)  # type: ignore[union-attr]
            # views whose implied pixel sizes lie within one bin share a query motif (the motif tolerates the
            # scale: its cell maps accept 0.85-1.18), one comparison call per bin
            key = np.round(np.log(best_scale[top]) / UNKNOWN_MOTIF_BIN).astype(int)
            for kb in np.unique(key):
                rows = top[key == kb]
                qm = motif_at(qf.cell_avg, basis_px, float(np.exp(kb * UNKNOWN_MOTIF_BIN)))  # type: ignore[arg-type]
                if qm is not None:
                    mot[rows] = motif_scores(qm, [motifs[i] for i in rows])
        bonus = np.where(np.isfinite(mot), np.maximum(0.0, np.nan_to_num(mot) - MOTIF_REF), 0.0)
        score = base + MOTIF_WEIGHT * bonus
    abstain = score - penalty + (spec - base)  # = spectrum + motif bonus - LATTICE_PENALTY where contradicting
    return CandidateScores(score, abstain, spec, ok, checked, best_scale, misfit, dang, mot, twin)


# Confidence (session 11): a calibrated probability that the query's structure is in the library, from evidence
# that differs between "the right structure" and "a look-alike of an absent one". Near-identical projections are
# grouped: two views are one group when their clean reference spectra correlate >= GROUP_CORR (rotation/mirror
# maximised, nominal scale, ring-weighted as scored); a structure belongs to a view's group when any of its candidate
# views does. A hit that is one of many near-ties among *unrelated* projections is weak evidence, one that stands
# clear of every other group is strong: the margin to the best structure outside the hit's group counts (capped at
# GROUP_MARGIN_CAP; candidates the re-rank did not compare with their motif lack at most MOTIF_WEIGHT * (1 -
# MOTIF_REF) of their score, so a margin up to that is exact). Features (CONF_FEATURES): the abstain score, that
# margin, the column-motif score (MOTIF_REF where not compared). Not used: the scale factor the match needed (on
# synthetic queries with the exact pixel size it separates well, with a 4 % calibration error — real files are off
# by 1-8 % — not at all), the margin to the 2nd structure whatever its group, the query's spot strengths.
# Fitted by ``python -m bench.stem_confidence`` (logistic, coefficients kept >= 0) on tune-split queries, present
# and with the query's own structure removed, exact and 4 %-miscalibrated pixel sizes, plus images of nothing
# crystalline; CONF_THRESHOLD by the rule chosen before the fit: the fit set's false-reject rate equals that of the
# 0.67 score rule it replaces (docs/stem.md, session 11). ``search.stem.search_stem`` (pixel size known, query
# lattice measured) abstains when the top candidate's confidence is below it; answered, it lists the top and the
# hits whose abstain score reaches ``DEFAULT_SCORE_THRESHOLD``. Queries without a measured lattice keep the score
# rule (the model never saw them: pure noise in a small library can stand clear of every other group).
GROUP_CORR = 0.75
GROUP_MARGIN_CAP = 0.12
CONF_FEATURES = ("abstain_score", "group_margin", "motif")
CONF_COEF = np.array([0.6598, 13.8394, 0.9844])
CONF_BIAS = -2.3196
CONF_THRESHOLD = 0.3188  # probability


def group_margins(
    abstain: np.ndarray, clean: np.ndarray, structures: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For candidate rows ``rows``: (margin to the best-scoring structure outside the row's group, capped at
    GROUP_MARGIN_CAP; (len(rows), c) bool: candidates in the row's group). ``abstain`` (c,) abstain scores,
    ``clean`` (c, K, M) the candidates' clean reference spectra, ring-weighted (``ring_weighted``), ``structures``
    (c,) integer structure codes. A row's own structure is always in its group; no candidate outside it: the cap."""
    rows = np.asarray(rows, dtype=np.int64)
    c = len(abstain)
    if len(rows) == 0 or c == 0:
        return np.zeros(0), np.zeros((0, c), dtype=bool)
    structures = np.asarray(structures, dtype=np.int64)
    rr = _corr(np.asarray(clean)[rows], np.asarray(clean))  # (r, c)
    n_s = int(structures.max()) + 1
    in_group = np.zeros((len(rows), c), dtype=bool)
    margins = np.empty(len(rows))
    for k, i in enumerate(rows):
        best = np.full(n_s, -np.inf)
        np.maximum.at(best, structures, rr[k])
        grp = best >= GROUP_CORR
        grp[structures[i]] = True
        in_group[k] = grp[structures]
        out = abstain[~in_group[k]]
        other = float(out.max()) if len(out) else -np.inf
        margins[k] = min(GROUP_MARGIN_CAP, float(abstain[i]) - other)
    return margins, in_group


def confidence_features(abstain: np.ndarray, margins: np.ndarray, motif: np.ndarray | None) -> np.ndarray:
    """(r, len(CONF_FEATURES)) feature rows: abstain score, group margin, motif score (MOTIF_REF where NaN)."""
    m = np.full(len(abstain), MOTIF_REF) if motif is None else np.where(np.isfinite(motif), motif, MOTIF_REF)
    return np.column_stack([np.asarray(abstain, dtype=np.float64), np.asarray(margins, dtype=np.float64), m])


def confidence(x: np.ndarray) -> np.ndarray:
    """σ(x · CONF_COEF + CONF_BIAS) for feature rows ``x`` (``confidence_features``)."""
    z = np.asarray(x, dtype=np.float64) @ CONF_COEF + CONF_BIAS
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def candidate_confidence(
    abstain: np.ndarray, motif: np.ndarray | None, clean: np.ndarray, structures: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence of each of ``rows``, their in-group masks (``group_margins``)) among scored candidates:
    ``abstain`` / ``motif`` as in ``CandidateScores``, ``clean`` (c, K, M) the candidates' clean reference spectra as
    stored (ring-weighted here), ``structures`` (c,) integer structure codes."""
    rows = np.asarray(rows, dtype=np.int64)
    abstain = np.asarray(abstain, dtype=np.float64)
    structures = np.asarray(structures, dtype=np.int64)
    cols = np.arange(len(abstain))
    if len(rows) and len(abstain):
        # only candidates within GROUP_MARGIN_CAP of the lowest row, with every view of their structures, can bring
        # a margin below the cap: the others are not compared (the same margins, ~1/3 of the cost; group flags are
        # then False for them)
        near = np.isin(structures, structures[abstain >= float(abstain[rows].min()) - GROUP_MARGIN_CAP])
        near[rows] = True
        cols = np.nonzero(near)[0]
    margins, sub = group_margins(
        abstain[cols], ring_weighted(np.asarray(clean)[cols]), structures[cols], np.searchsorted(cols, rows)
    )
    in_group = np.zeros((len(rows), len(abstain)), dtype=bool)
    in_group[:, cols] = sub
    mot = None if motif is None else motif[rows]
    return confidence(confidence_features(abstain[rows], margins, mot)), in_group
