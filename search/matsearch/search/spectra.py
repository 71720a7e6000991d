"""Spectrum search: measured pattern → vector search in ``xrd`` → two-directional re-rank with per-candidate
refinement (``xrd_phase``) → mixture phases (up to 5) → calibrated confidence → abstain.

Used by ``POST /v1/search/spectrum`` and by the CLI when no server runs. Hits are dicts shaped like
``matsearch.core.schemas.Hit`` plus, per hit: ``phase`` (1…5 for the phases of the identified mixture, else
``None``), ``confidence`` (probability-like, calibrated; the abstain threshold applies to it), ``share`` (the
phase's share of the explained measured intensity), ``reflections`` ([{two_theta, d, intensity, hkl}] at the
query's wavelength, refined), ``explained_peaks`` / ``unexplained_peaks``, ``refined`` (strain, zero shift,
displacement, preferred orientation, scale, peak width) and ``fom`` (the figure-of-merit terms). Old fields
(``fit_score``, ``coverage``, ``explained_fraction``, ``strain``, ``vector_score``) keep their names. An empty
list means no confident match. docs/xrd.md describes the shape.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from matsearch.core.errors import BadInput, InvalidFilter
from matsearch.core.filters import FieldCondition, Filter, parse_filter
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.base import Encoder
from matsearch.encoders.xrd import GRID_2THETA, LIB_WAVELENGTH
from matsearch.encoders.xrd_pattern import Pattern, preprocess
from matsearch.search import xrd_phase as xp
from matsearch.search.common import check_limit, require_collection
from matsearch.store.base import ScoredHit, Store, VectorQuery, all_payloads
from matsearch.store.collections import VECTOR_ENCODERS

COLLECTION = "xrd"
VECTOR = "xrd"

ElementsMode = Literal["only", "all", "any"]
# Abstain threshold on ``confidence`` (a calibrated probability that the hit is the phase; see xrd_phase
# CONF_COEF), chosen by ``python -m bench.eval_xrd --calibrate`` on the calibration split of measured-looking
# synthetic queries (docs/xrd.md): below it, "no confident match". Mixture phases must reach it too.
DEFAULT_THRESHOLD = 0.271
MAX_PHASES = 5
MIXTURE_CANDIDATES = 40  # per vector query of a residual (masked) pattern: partial patterns embed less sharply
MIXTURE_FIT = 40  # new candidates per mixture round that get the full fit (best peak-index coverage first)
MIXTURE_MIN_RESIDUAL = 0.1  # stop looking for more phases when less than this share of peak weight is unexplained
MIXTURE_MIN_GAIN = 0.2  # a further phase must explain at least this share of the residual peak weight
MIXTURE_MIN_SCORE = 0.45  # fit score (on the residual) of a tentative further phase
MIXTURE_ACCEPT_SCORE = 0.6  # residual fit score that keeps a further phase below the threshold (see below)
# Session 11 (measured, not shipped): judging phase 1 on its own + the unexplained peaks only beside a credible further
# phase abstains on +5.4 points of absent calibration phases at the same operating point (0.679 vs 0.625; seven
# calibration groups, 1,276 absent queries of 1,160 structures) and on the real dev UiO-66, but turns wrong in-library
# top hits into empty answers, which the false-abstain line counts: by the threshold rule fixed before the study (≤ 3 %
# of the in-library calibration queries without a hit on every group) it needs +0.75 logits and then abstains less
# (0.607) than the shipped rule (0.629). docs/xrd.md, session 11.
OWN_PEAKS_NEED_CREDIBLE_PHASE = False
TWINS_LISTED = 5  # a hit's near-identical-pattern candidates listed with it ("twins", best first)
LIST_MIN_CONFIDENCE = 0.05  # further (non-phase) candidates listed after the identified phases
FEW_PEAKS = 12  # patterns with at most this many (non-Kα2) peaks also get peak-index candidates at once
CANDIDATES = 20  # per vector query (3 strain variants, so up to 60 candidates; xrd-cnn recall@20 ≈ 0.99–1.0)
_ALL_ELEMENTS: list[str] | None = None
_HIDDEN_PAYLOAD = ("peaks", "twin_group")
# A hit with library twins at least this similar (the twin table, ``indexer.xrd.twins``) is one of an isostructural
# group: the pattern cannot tell the members apart, so the answer names the group, not one confident phase
GROUP_SIM = 0.95
GROUP_LISTED = 10


def _all_elements() -> list[str]:
    global _ALL_ELEMENTS
    if _ALL_ELEMENTS is None:
        from pymatgen.core.periodic_table import Element

        _ALL_ELEMENTS = [e.symbol for e in Element]
    return _ALL_ELEMENTS


def normalize_elements(elements: Sequence[str] | str | None) -> list[str]:
    if elements is None:
        return []
    items = elements.split(",") if isinstance(elements, str) else list(elements)
    known = set(_all_elements())
    out = []
    for raw in items:
        sym = str(raw).strip()
        if not sym:
            continue
        sym = sym[:1].upper() + sym[1:].lower()
        if sym not in known:
            raise InvalidFilter(f"unknown element {raw!r}")
        out.append(sym)
    return sorted(set(out))


def elements_filter(elements: Sequence[str], mode: ElementsMode = "only") -> Filter | None:
    """``only``: phases made of these elements alone; ``all``: containing every one; ``any``: containing one."""
    if not elements:
        return None
    if mode == "all":
        return Filter(must=[FieldCondition(key="elements", all=list(elements))])
    if mode == "any":
        return Filter(must=[FieldCondition(key="elements", any=list(elements))])
    if mode == "only":
        others: list[str | int | bool] = [e for e in _all_elements() if e not in set(elements)]
        return Filter(must_not=[FieldCondition(key="elements", any=others)])
    raise InvalidFilter(f"unknown elements mode {mode!r} (use only, all or any)")


@dataclass
class SpectrumOptions:
    limit: int = 10
    max_phases: int = 5
    elements: list[str] = field(default_factory=list)
    elements_mode: ElementsMode = "only"
    filter: Filter | None = None
    score_threshold: float | None = None  # None: DEFAULT_THRESHOLD; 0 disables abstaining
    candidates: int = CANDIDATES

    def validate(self) -> None:
        if not 1 <= self.limit <= 200:
            raise BadInput(f"limit must be between 1 and 200 (got {self.limit})")
        if not 1 <= self.max_phases <= MAX_PHASES:
            raise BadInput(f"max_phases must be between 1 and {MAX_PHASES} (got {self.max_phases})")
        if self.score_threshold is not None and not 0 <= self.score_threshold <= 1:
            raise BadInput(f"score_threshold must be between 0 and 1 (got {self.score_threshold})")


@dataclass
class QueryPattern:
    """A preprocessed query: background-free max-1 intensities on the library grid, coverage mask, the measured
    peaks (``xrd_phase.Measured``) and the wavelength of the user's 2θ axis (for reporting positions)."""

    y: np.ndarray
    mask: np.ndarray
    measured: xp.Measured
    wavelength: float = LIB_WAVELENGTH
    wavelength_source: str = "default"
    format: str = "text"


def prepare_query(pattern: Pattern) -> QueryPattern:
    y, mask = preprocess(pattern, adaptive_background=True)
    m = xp.measure(y, mask)
    if m.tt.size == 0:
        raise BadInput(f"{pattern.name}: no peaks found above the noise")
    return QueryPattern(
        y=y,
        mask=mask,
        measured=m,
        wavelength=pattern.wavelength,
        wavelength_source=pattern.wavelength_source,
        format=pattern.format,
    )


# The vector stage queries the pattern as measured and as if its lattice were strained by these amounts
# (the embedding's blur covers ~±0.8%; measured lattices are typically 0–2% smaller than DFT ones).
QUERY_STRAINS = (0.0, -0.016, 0.008)


def _vector_queries(encoder: Encoder, y: np.ndarray, flt: Filter | None, limit: int) -> list[VectorQuery]:
    from matsearch.encoders.xrd import strain_variant

    vectors = encoder.encode([strain_variant(y, eps) for eps in QUERY_STRAINS])
    return [VectorQuery(vector=v, using=VECTOR, filter=flt, limit=limit, with_payload=False) for v in vectors]


def _candidates(store: Store, lib: _Library, queries: list[VectorQuery], into: dict[str, ScoredHit]) -> None:
    """Best vector score per id into ``into``; payloads come from the cached library."""
    best: dict[str, float] = {}
    for hits in store.query_batch(COLLECTION, queries):
        for h in hits:
            if h.id not in best or best[h.id] < h.score:
                best[h.id] = h.score
    fresh = [i for i in best if i not in into or into[i].score < best[i]]
    for pid, pl in zip(fresh, _payloads(store, lib, fresh), strict=True):
        into[pid] = ScoredHit(id=pid, score=best[pid], payload=pl)


def vector_candidates(
    store: Store, encoder: Encoder, query: QueryPattern, flt: Filter | None = None, limit: int = CANDIDATES
) -> list[ScoredHit]:
    """The vector stage alone: the candidates the re-rank would see for ``query`` (best vector score per id)."""
    hits: dict[str, ScoredHit] = {}
    _candidates(store, library(store), _vector_queries(encoder, query.y, flt, limit), hits)
    return list(hits.values())


def _mask_explained(query: QueryPattern, explained: np.ndarray) -> np.ndarray:
    """The query with the regions of explained peaks zeroed (what is left for the next phase's vector search)."""
    y = query.y.copy()
    for t in query.measured.tt[explained]:
        y[np.abs(GRID_2THETA - t) <= 0.3] = 0.0
    return y


def _confidences(fits: xp.Fits, sources: list[str], elements_given: bool = False, further: bool = False) -> np.ndarray:
    return xp.confidences(fits, sources, elements_given, further)


def _same_phase(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a.get("formula") == b.get("formula") and a.get("spacegroup_number") == b.get("spacegroup_number"))


def _user_two_theta(d: np.ndarray, wavelength: float) -> np.ndarray:
    s = wavelength / (2.0 * np.asarray(d, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.where((s > 0) & (s < 1), 2.0 * np.degrees(np.arcsin(np.clip(s, 0, 1))), np.nan)


def _lib_d(two_theta: np.ndarray) -> np.ndarray:
    return LIB_WAVELENGTH / (2.0 * np.sin(np.radians(np.asarray(two_theta, dtype=np.float64) / 2.0)))


def _peak_items(query: QueryPattern, which: np.ndarray, hkl: list[str] | None = None) -> list[dict[str, Any]]:
    """Measured peaks (positions at the query's own wavelength) as dicts."""
    m = query.measured
    d = _lib_d(m.tt)
    tt = _user_two_theta(d, query.wavelength)
    out = []
    for i in np.nonzero(which)[0]:
        item: dict[str, Any] = {
            "two_theta": round(float(tt[i]), 3),
            "d": round(float(d[i]), 4),
            "intensity": round(float(m.h[i]) * 100.0, 1),
        }
        if hkl is not None and hkl[i]:
            item["hkl"] = hkl[i]
        if m.ka2_of[i] >= 0:
            item["kalpha2_of"] = round(float(tt[m.ka2_of[i]]), 3)
        out.append(item)
    return out


def _explained_mask(query: QueryPattern, credit: np.ndarray) -> np.ndarray:
    """Peaks a phase explains (credit ≥ 0.5); a Kα2 satellite goes with its Kα1 parent."""
    ex = credit >= 0.5
    ka2 = query.measured.ka2_of
    return np.where(ka2 >= 0, ex[np.maximum(ka2, 0)], ex)


# The library as the re-rank needs it, read once per process and store: every phase's payload (its simulated
# reflections are the bulk: transferring them costs ~0.3 ms per hit, so vector queries ask for ids only) and a
# peak index (every phase's strongest reflections at a few strains). Mixtures use the peak index when the vector
# stage finds no further phase: partial (residual) patterns embed poorly, while a coarse coverage scan over all
# reflections is cheap. Points added later are fetched on first sight (and join the peak index); a point count
# below the cache's size (deletions) rebuilds it. Point ids carry the structure's content hash, so a changed
# structure is a new id.
PEAK_INDEX_REFLECTIONS = 20
PEAK_INDEX_CANDIDATES = 30
PEAK_INDEX_BY_POSITION = 15  # few-peak patterns: more peak-index phases by reflection positions alone
_PEAK_INDEX_STRAINS = xp.STRAINS[::5]


class _Denominators:
    """Per query: the peak index's per-phase intensity inside the measured range (computed on first use)."""

    def __init__(self, index: _PeakIndex, mask: np.ndarray) -> None:
        self.index, self.mask = index, mask
        self.values: np.ndarray | None = None
        self.line_counts: np.ndarray | None = None
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._bounds_known = False

    def bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``range_bounds`` of the mask, once for the denominators and the line counts."""
        if not self._bounds_known:
            self._bounds, self._bounds_known = self.index.range_bounds(self.mask), True
        return self._bounds

    def get(self, rows: np.ndarray) -> np.ndarray:
        if self.values is None:
            self.values = self.index.denominators_at(self.mask, self.bounds())
        return self.values[:, rows]

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """(S, len(rows)): how many of each phase's indexed reflections fall inside the measured range."""
        if self.line_counts is None:
            self.line_counts = self.index.counts_at(self.mask, self.bounds())
        return self.line_counts[:, rows]


@dataclass
class _PeakIndex:
    """Every phase's strongest reflections (N phases × R) at S scan strains, as grid bins: ``bins`` (S, N, R)
    and, for the sparse scan, the (strain, bin) → (phase, weight) entries sorted by key."""

    ids: list[str]
    row: dict[str, int]
    bins: np.ndarray  # S,N,R int32 (0 where out of range)
    ok: np.ndarray  # S,N,R in range
    w: np.ndarray  # N,R relative intensity (max 1)
    keys: np.ndarray  # sorted s·NG + bin of the in-range entries
    phase: np.ndarray  # their phase row
    weight: np.ndarray  # their weight
    sorted_bins: np.ndarray  # (R, S·N) each phase's bins in ascending order (NG where out of range)
    sorted_cum: np.ndarray  # (R+1, S·N) cumulative weights in that order, leading 0

    @classmethod
    def build(cls, ids: list[str], payloads: list[dict[str, Any]]) -> _PeakIndex:
        dd = np.full((len(ids), PEAK_INDEX_REFLECTIONS), np.nan)
        ww = np.zeros((len(ids), PEAK_INDEX_REFLECTIONS))
        for i, pl in enumerate(payloads):
            pk = pl.get("peaks", {})
            d = np.asarray(pk.get("d", []), dtype=np.float64)
            w = np.asarray(pk.get("intensity", []), dtype=np.float64)
            top = np.argsort(-w)[:PEAK_INDEX_REFLECTIONS]
            dd[i, : top.size] = d[top]
            ww[i, : top.size] = w[top] / max(float(w.max(initial=0.0)), 1e-9)
        idx, ok = xp._grid_index(xp._two_theta(dd[None, :, :], _PEAK_INDEX_STRAINS[:, None, None]))
        s_i, n_i, r_i = np.nonzero(ok & (ww[None] > 0))
        keys = s_i.astype(np.int64) * xp.NG + idx[s_i, n_i, r_i]
        order = np.argsort(keys, kind="stable")
        valid = ok & (ww[None] > 0)
        sb = np.where(valid, idx, xp.NG).astype(np.int32)
        so = np.argsort(sb, axis=2, kind="stable")
        sorted_w = np.take_along_axis(np.where(valid, ww[None], 0.0), so, axis=2)
        n_rows = sb.shape[0] * sb.shape[1]
        cum_rows = np.cumsum(sorted_w, axis=2).reshape(n_rows, -1).T  # (R, S·N)
        return cls(
            ids=ids,
            row={pid: i for i, pid in enumerate(ids)},
            bins=idx.astype(np.int32),
            ok=ok,
            w=ww,
            keys=keys[order],
            phase=n_i[order].astype(np.int32),
            weight=ww[n_i, r_i][order],
            sorted_bins=np.ascontiguousarray(np.take_along_axis(sb, so, axis=2).reshape(-1, sb.shape[2]).T),
            sorted_cum=np.ascontiguousarray(np.concatenate([np.zeros((1, n_rows)), cum_rows])),
        )

    def range_bounds(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """For a measured range that is one contiguous run of bins: per (strain, phase) column, how many of its
        sorted bins lie below the range and how many up to its end (``None`` for a range with gaps)."""
        inside = np.nonzero(mask)[0]
        if inside.size and inside[-1] - inside[0] + 1 == inside.size:
            return (self.sorted_bins < inside[0]).sum(axis=0), (self.sorted_bins <= inside[-1]).sum(axis=0)
        return None

    def denominators(self, mask: np.ndarray) -> np.ndarray:
        """(S, N): each phase's indexed intensity inside the measured range."""
        return self.denominators_at(mask, self.range_bounds(mask))

    def denominators_at(self, mask: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """``denominators`` with ``bounds`` = ``range_bounds(mask)`` already known."""
        if bounds is not None:  # one contiguous range: prefix sums
            lo, hi = bounds
            cols = np.arange(lo.size)
            d = self.sorted_cum[hi, cols] - self.sorted_cum[lo, cols]
            return d.reshape(_PEAK_INDEX_STRAINS.size, len(self.ids))
        return np.where(self.ok & mask[self.bins], self.w[None], 0.0).sum(axis=2)

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """(S, N): how many of each phase's indexed reflections fall inside the measured range."""
        return self.counts_at(mask, self.range_bounds(mask))

    def counts_at(self, mask: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """``counts`` with ``bounds`` = ``range_bounds(mask)`` already known."""
        if bounds is not None:  # one contiguous range (bins sorted)
            lo, hi = bounds
            return (hi - lo).reshape(_PEAK_INDEX_STRAINS.size, len(self.ids)).astype(np.float64)
        return (self.ok & mask[self.bins] & (self.w[None] > 0)).sum(axis=2).astype(np.float64)

    def coverage(self, y: np.ndarray, denom: _Denominators) -> np.ndarray:
        """(S, N): Σ_r min(y[bin_r], w_r) / Σ_r w_r (in range) per strain and phase, for a sparse map ``y``."""
        nz = np.nonzero(y > 0)[0]
        n_s = _PEAK_INDEX_STRAINS.size
        q = (np.arange(n_s)[:, None] * xp.NG + nz[None, :]).ravel()
        lo = np.searchsorted(self.keys, q, side="left")
        hi = np.searchsorted(self.keys, q, side="right")
        lens = hi - lo
        total = int(lens.sum())
        out = np.zeros((n_s, len(self.ids)))
        if total:
            ends = np.cumsum(lens)
            rows = np.arange(total) - np.repeat(ends - lens, lens) + np.repeat(lo, lens)
            yk = np.repeat(y[np.tile(nz, n_s)], lens)
            sk = np.repeat(np.repeat(np.arange(n_s), nz.size), lens)
            num = np.bincount(
                sk * len(self.ids) + self.phase[rows],
                weights=np.minimum(yk, self.weight[rows]),
                minlength=n_s * len(self.ids),
            ).reshape(n_s, len(self.ids))
            touched = np.nonzero(num.any(axis=0))[0]  # the others cover nothing: no denominator needed
            out[:, touched] = num[:, touched] / np.maximum(denom.get(touched), 1e-9)
        return out

    def explained(self, lo: np.ndarray, hi: np.ndarray, w: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(S, len(cols)): for the phases ``cols``, the share of the peak weight ``w`` (per measured peak, grid
        window [lo, hi)) that falls on at least one of their indexed reflections — the other direction of
        ``coverage``."""
        n_s, n_c = _PEAK_INDEX_STRAINS.size, cols.size
        live = np.nonzero(w > 0)[0]
        if live.size == 0 or n_c == 0:
            return np.zeros((n_s, n_c))
        col_of = np.full(len(self.ids), -1, dtype=np.int64)
        col_of[cols] = np.arange(n_c)
        base = (np.arange(n_s, dtype=np.int64) * xp.NG)[:, None]  # S,1
        a = np.searchsorted(self.keys, (base + lo[live][None, :]).ravel(), side="left")
        b = np.searchsorted(self.keys, (base + hi[live][None, :]).ravel(), side="left")
        lens = b - a
        total = int(lens.sum())
        if not total:
            return np.zeros((n_s, n_c))
        ends = np.cumsum(lens)
        rows = np.arange(total) - np.repeat(ends - lens, lens) + np.repeat(a, lens)
        sq = np.repeat(np.arange(n_s * live.size), lens)  # (strain, peak) pair of each entry
        c = col_of[self.phase[rows]]
        keep = c >= 0
        mark = np.zeros((n_s * live.size, n_c), dtype=np.float32)
        mark[sq[keep], c[keep]] = 1.0  # each phase once per (strain, peak), however many lines it has there
        out = np.einsum("sqn,q->sn", mark.reshape(n_s, live.size, n_c), w[live].astype(np.float32))
        return out.astype(np.float64) / max(float(w.sum()), 1e-12)


@dataclass
class _Library:
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False  # every point of the collection is in ``payloads`` (read by one scroll)
    index: _PeakIndex | None = None


_LIBRARIES: weakref.WeakKeyDictionary[Any, _Library] = weakref.WeakKeyDictionary()
_LIBRARY_LOCK = threading.Lock()


def library(store: Store) -> _Library:
    """The cached library of ``store``'s ``xrd`` collection: payloads as they are first needed, all of them (one
    scroll, 2–4 s for 5,000 phases) once a mixture needs the peak index. Deleted points drop the cache, added
    ones make it incomplete again (point ids carry the structure's content hash: a changed structure is a new id)."""
    with _LIBRARY_LOCK:
        lib = _LIBRARIES.get(store)
        n = store.count(COLLECTION)
        if lib is None or len(lib.payloads) > n:
            lib = _LIBRARIES[store] = _Library()
        elif lib.complete and len(lib.payloads) < n:
            lib.complete, lib.index = False, None
        return lib


def warm(store: Store) -> int:
    """Read the whole ``xrd`` library into this process's cache now (what the first mixture query would do) and
    prepare every phase's fit tables (``xp.Candidate``: reflections, 2θ at the coarse strains, March–Dollase
    factors — query-independent, ~0.4 ms per phase otherwise paid by the first query that fits it; ~4 s and ~40 MB
    for 5,000 phases); returns the number of phases. For long-running processes and benches."""
    lib = library(store)
    index = _peak_index(store, lib)
    for c in xp.candidates_for([lib.payloads.get(i, {}) for i in index.ids], index.ids):
        c.md()
        c.coarse_two_theta()
    return len(index.ids)


def _payloads(store: Store, lib: _Library, ids: Sequence[str]) -> list[dict[str, Any]]:
    missing = [i for i in ids if i not in lib.payloads]
    if missing:
        records = store.retrieve(COLLECTION, missing)
        with _LIBRARY_LOCK:
            for rec in records:
                lib.payloads[rec.id] = rec.payload
    return [lib.payloads.get(i, {}) for i in ids]


def _peak_index(store: Store, lib: _Library) -> _PeakIndex:
    with _LIBRARY_LOCK:
        if not lib.complete:
            lib.payloads, lib.complete, lib.index = all_payloads(store, COLLECTION), True, None
        if lib.index is None:
            ids = list(lib.payloads)
            lib.index = _PeakIndex.build(ids, [lib.payloads[i] for i in ids])
        return lib.index


def _peak_index_candidates(
    index: _PeakIndex,
    m: xp.Measured,
    residual_w: np.ndarray,
    exclude: set[str],
    denom: _Denominators,
    by_position: int = 0,
) -> tuple[list[str], np.ndarray]:
    """Ids of the library phases whose strongest reflections best cover the measured peaks left unexplained
    (``denom``: ``_Denominators(index, m.mask)``), and that score for every indexed phase. ``by_position``: so many
    more phases ranked by the peak weight their reflection positions explain, chance-corrected for the window
    share their lines cover — whatever their intensities (a strongly textured phase shows few of its strong
    lines, so its indexed intensity on the peaks is low)."""
    if not index.ids:
        return [], np.zeros(0)
    # the residual as a peak-height map on the grid (the highest peak wins where windows overlap)
    half = max(0.6 * m.width, 0.06)
    lo = np.searchsorted(GRID_2THETA, m.tt - half - 1e-9)
    hi = np.searchsorted(GRID_2THETA, m.tt + half + 1e-9)
    y = np.zeros(GRID_2THETA.size)
    live = np.nonzero(residual_w > 0)[0]
    for q in live[np.argsort(m.h[live])]:
        y[lo[q] : hi[q]] = m.h[q]
    y = np.where(m.mask, y, 0.0)
    # a further phase's scale is unknown: its strongest line may be a small peak of the pattern. The residual map is
    # taken relative to its own strongest peak, so a minor phase whose lines are all there covers them fully
    # (session 7: 3C-SiC at 12 % beside Zn covered 0.1 of its indexed intensity and never became a candidate)
    y = y / max(float(y.max(initial=0.0)), 1e-12)
    # both directions, per scan strain: the phase's indexed intensity on unexplained peaks (a phase with two strong
    # lines covers them easily) and the unexplained peak weight on its reflections (a dense cell explains much)
    seen = index.coverage(y, denom)
    cols = np.nonzero(seen.any(axis=0))[0]  # a phase that covers nothing scores 0 either way
    best = np.zeros(len(index.ids))
    expl = index.explained(lo, hi, residual_w, cols)
    best[cols] = np.sqrt(seen[:, cols] * expl).max(axis=0)
    n = min(PEAK_INDEX_CANDIDATES + len(exclude), best.size)
    order = np.argpartition(-best, n - 1)[:n] if n < best.size else np.arange(best.size)
    order = order[np.argsort(-best[order], kind="stable")]
    found = [index.ids[i] for i in order if index.ids[i] not in exclude][:PEAK_INDEX_CANDIDATES]
    if by_position > 0 and cols.size:
        chance = np.minimum(denom.counts(cols) * 2.0 * half / max(m.hi - m.lo, 1e-6), 0.95)
        pos_score = ((expl - chance) / (1.0 - chance)).max(axis=0)
        taken = exclude | set(found)
        extra = [index.ids[cols[j]] for j in np.argsort(-pos_score, kind="stable")[: by_position + len(taken)]]
        found += [pid for pid in extra if pid not in taken][:by_position]
    return found, best


def _best_further(rf: xp.Fits, cands: list[ScoredHit], tentative: list[int], residual_w: np.ndarray) -> int:
    """The best-scoring candidate on the residual weights, if it is a new phase that explains enough of it."""
    taken = [cands[i].payload for i in tentative]
    for raw in np.argsort(-rf.score):
        j = int(raw)
        if j in tentative or any(_same_phase(cands[j].payload, t) for t in taken):
            continue
        if rf.score[j] < MIXTURE_MIN_SCORE:
            return -1  # scores only fall from here
        gain = float((rf.credit[j] * residual_w).sum() / max(float(residual_w.sum()), 1e-12))
        if gain >= MIXTURE_MIN_GAIN:
            return j
    return -1


def accept_phases(
    conf: Sequence[float],
    first_whole: float,
    first_mix: float | None,
    mix: Sequence[float],
    residual: Sequence[float],
    seen_own: Sequence[float],
    threshold: float,
) -> list[tuple[int, float]]:
    """The abstain rule over the tentative phases (in the order the greedy search found them): which are kept, with
    their reported confidence. ``conf``: each phase's final confidence (for a phase beside others, the larger of it
    on the whole pattern and on its own + the unexplained peaks); ``first_whole``: phase 1's on the whole pattern;
    ``first_mix``: phase 1's by the mixture-phase model on its own + the unexplained peaks (None alone); ``mix``,
    ``residual``, ``seen_own``: per phase its mixture-phase confidence, fit score on the residual and seen share
    on its own peaks (used for further phases).

    Phase 1 must reach the threshold. With ``OWN_PEAKS_NEED_CREDIBLE_PHASE`` it is judged on its own + the
    unexplained peaks only when the peaks it leaves out belong to a credible further phase (one reaching the
    threshold by either model), else on the whole pattern (measured in session 11, not shipped: see the constant).
    A phase 1 under the threshold beside a further phase that the mixture-phase model accepts is
    judged by that model too (a 4-phase mixture leaves each phase a small share). Beside an accepted phase 1 a
    further phase is kept when either model rates it above the threshold (the single-phase model under-rates minor
    phases) or it fits the leftover peaks well (residual score ≥ MIXTURE_ACCEPT_SCORE, ≥ 80 % of its expected
    intensity seen)."""
    if not conf:
        return []
    c = [float(v) for v in conf]
    credible = any(c[n] >= threshold or mix[n] >= threshold for n in range(1, len(c)))
    if OWN_PEAKS_NEED_CREDIBLE_PHASE and len(c) > 1 and not credible:
        c[0] = float(first_whole)
    first_ok = c[0] >= threshold
    if not first_ok and any(v >= threshold for v in mix[1:]) and first_mix is not None and first_mix >= threshold:
        c[0] = float(first_mix)
        first_ok = True
    if first_ok:
        c = [c[0]] + [max(v, float(mv)) for v, mv in zip(c[1:], mix[1:], strict=True)]
    return [
        (n, v)
        for n, v in enumerate(c)
        if v >= threshold or (n > 0 and first_ok and residual[n] >= MIXTURE_ACCEPT_SCORE and seen_own[n] >= 0.8)
    ]


def search_spectrum(
    store: Store, encoder: Encoder, pattern: Pattern | QueryPattern, options: SpectrumOptions | None = None
) -> dict[str, Any]:
    """Identify the phases of ``pattern``. Returns ``{"hits": [...], "unexplained_peaks": [...], "peaks": n,
    "wavelength": Å, "wavelength_source": ...}``."""
    opts = options or SpectrumOptions()
    opts.validate()
    threshold = DEFAULT_THRESHOLD if opts.score_threshold is None else opts.score_threshold
    query = pattern if isinstance(pattern, QueryPattern) else prepare_query(pattern)
    m = query.measured
    flt = elements_filter(opts.elements, opts.elements_mode)
    if opts.filter is not None:
        flt = opts.filter.and_(flt) if flt is not None else opts.filter
    npk = m.tt.size
    base_w = m.weight

    lib = library(store)
    hits_by_id: dict[str, ScoredHit] = {}
    denom: _Denominators | None = None  # the peak index's per-phase intensity inside the measured range
    _candidates(store, lib, _vector_queries(encoder, query.y, flt, opts.candidates), hits_by_id)
    if flt is None and int((m.weight > 0).sum()) <= FEW_PEAKS:
        # a pattern with few lines (a textured film, a metal) embeds with little to go on: the phases whose strongest
        # reflections cover its peaks join the candidates from the start (the peak-index scan is cheap for few peaks)
        index = _peak_index(store, lib)
        denom = _Denominators(index, m.mask)
        found, _ = _peak_index_candidates(index, m, base_w, set(hits_by_id), denom, by_position=PEAK_INDEX_BY_POSITION)
        for pid, pl in zip(found, _payloads(store, lib, found), strict=True):
            if pl:
                hits_by_id[pid] = ScoredHit(id=pid, score=0.0, payload=pl)
    cands = list(hits_by_id.values())
    models = xp.candidates_for([h.payload for h in cands], [h.id for h in cands])
    sources = [str(h.payload.get("source", "")) for h in cands]
    fits = xp.fit(m, models)
    conf = _confidences(fits, sources, bool(opts.elements))
    order = [int(i) for i in np.argsort(-conf, kind="stable")]

    # Tentative phases: the most confident single phase, then (greedy) the candidate that best explains the peak
    # weight the earlier ones leave; each is then re-judged on its own peaks plus the unexplained ones, so that a
    # phase of a mixture is not penalised for the peaks of the others.
    tentative: list[int] = [order[0]] if order else []
    residual_score: dict[int, float] = {}  # further phases: fit score on the peak weight the others leave
    claimed = fits.credit[order[0]].copy() if order else np.zeros(npk)
    last_rescore: tuple[xp.Fits, np.ndarray, xp.Fits] | None = None  # (fits, weights, their rescore)
    while tentative and len(tentative) < opts.max_phases:
        residual_w = base_w * (1.0 - np.clip(claimed, 0.0, 1.0))
        if residual_w.sum() < MIXTURE_MIN_RESIDUAL * max(float(base_w.sum()), 1e-12):
            break
        # candidates for the rest: the residual (masked) pattern's vector search, and — without a filter — the
        # phases whose strongest reflections cover the unexplained peaks (and, once, the whole pattern: the first
        # phase of a mixture may itself have been missed by the vector stage)
        keep = claimed < 0.5
        _candidates(
            store,
            lib,
            _vector_queries(encoder, _mask_explained(query, ~keep), flt, max(opts.candidates, MIXTURE_CANDIDATES)),
            hits_by_id,
        )
        if flt is None:
            # and once the whole pattern: the vector stage may have missed phase 1 itself (mixtures embed poorly)
            index = _peak_index(store, lib)
            if denom is None:
                denom = _Denominators(index, m.mask)
            covs = []
            for weights in [residual_w] + ([base_w] if len(tentative) == 1 else []):
                found, cov = _peak_index_candidates(index, m, weights, set(hits_by_id), denom)
                covs.append(cov)
                for pid, pl in zip(found, _payloads(store, lib, found), strict=True):
                    if pl:  # (a point deleted since the index was read has none)
                        hits_by_id[pid] = ScoredHit(id=pid, score=0.0, payload=pl)
        new = list(hits_by_id.values())[len(cands) :]  # insertion-ordered: earlier indices stay valid
        if flt is None and len(new) > MIXTURE_FIT:
            # only the new candidates whose strongest reflections best cover the unexplained (or, once, all)
            # peaks get the full fit; the others are dropped (a later round may bring them back)
            best_cov = np.max(np.stack(covs), axis=0)
            rows = [index.row.get(h.id, -1) for h in new]
            sc = np.array([best_cov[r] if r >= 0 else np.inf for r in rows])
            keep_new = np.sort(np.argsort(-sc, kind="stable")[:MIXTURE_FIT])
            kept = set(keep_new.tolist())
            for j, h in enumerate(new):
                if j not in kept:
                    del hits_by_id[h.id]
            new = [new[j] for j in keep_new]
        if new:
            cands = cands + new
            models = models + xp.candidates_for([h.payload for h in new], [h.id for h in new])
            sources = sources + [str(h.payload.get("source", "")) for h in new]
            extra = xp.fit(m, models[-len(new) :])
            fits = xp.concat(fits, extra)
            conf = np.concatenate([conf, _confidences(extra, sources[-len(new) :], bool(opts.elements))])
            order = [int(i) for i in np.argsort(-conf, kind="stable")]
            if len(tentative) == 1 and order[0] != tentative[0]:  # a better first phase turned up
                tentative = [order[0]]
                claimed = fits.credit[order[0]].copy()
                continue
        rfits = xp.rescore(m, models, fits, residual_w)
        last_rescore = (fits, residual_w, rfits)
        best_i = _best_further(rfits, cands, tentative, residual_w)
        if best_i < 0:
            break
        residual_score[best_i] = float(rfits.score[best_i])
        tentative.append(best_i)
        claimed = np.maximum(claimed, fits.credit[best_i])

    # each phase's competitor margin (the best different-pattern candidate that explains the same peaks; its
    # near-identical twins — from the library's twin table when it has one — form its group and do not count against
    # it, xp.Margins) is reported as fom.margin and, since session 10, weighs in the final confidence (xp.FINAL_*)
    tables = [_twin_map(h.payload) for h in cands]
    margins = xp.Margins(conf, fits.credit, base_w, models, tables, [h.id for h in cands])
    el_given = bool(opts.elements)
    base_final = xp.final_is_base()  # margin weight 0 (sessions 8-9): margins only for the listed hits' fom.margin

    def margin_of(i: int) -> float:
        return 0.0 if base_final else margins.get(i)[0]

    phases: list[tuple[int, float, xp.Fits, int]] = []  # (candidate index, confidence, fit, row in fit)
    own_fits: dict[int, xp.Fits] = {}  # further phases: their fit on their own + the unexplained peaks
    first_own: dict[int, xp.Fits] = {}  # phase 1 beside further phases: the same (reported as fom.own, session 11)
    tentative_rank = {i: n for n, i in enumerate(tentative)}
    first_whole = 0.0  # phase 1's confidence on the whole pattern (beside further phases)
    mix_conf: dict[int, float] = {}  # and their confidence by the mixture-phase model
    for n_t, i in enumerate(tentative):
        others = [j for j in tentative if j != i]
        if others:
            # judged on its own peaks + the unexplained ones: phase 1 by the single-phase model, a further phase by
            # the mixture-phase model (xp.MIX_COEF; it is kept only beside an accepted phase 1, below)
            other_credit = np.max(np.stack([fits.credit[j] for j in others]), axis=0)
            own_w = base_w * (1.0 - np.clip(other_credit, 0.0, 1.0))
            f1 = xp.fit(m, [models[i]], weights=own_w)
            mi = margin_of(i)
            c1 = xp.final_confidence(f1, 0, sources[i], mi, el_given)
            if n_t > 0:
                own_fits[i] = f1
                mix_conf[i] = xp.confidence(f1, 0, sources[i], el_given, further=True)
            else:
                first_own[i] = f1
            c0 = float(conf[i]) if base_final else xp.final_confidence(fits, i, sources[i], mi, el_given)
            if n_t == 0:
                first_whole = c0
            phases.append((i, max(c1, c0), f1, 0))
        else:
            c0 = float(conf[i]) if base_final else xp.final_confidence(fits, i, sources[i], margin_of(i), el_given)
            phases.append((i, c0, fits, i))
    if threshold > 0 and phases:
        first_mix = (
            xp.confidence(phases[0][2], 0, sources[phases[0][0]], el_given, further=True)
            if len(phases) > 1 and phases[0][2] is not fits
            else None
        )
        accepted = accept_phases(
            [c for _, c, _, _ in phases],
            first_whole,
            first_mix,
            [mix_conf.get(i, 0.0) for i, _, _, _ in phases],
            [residual_score.get(i, 0.0) for i, _, _, _ in phases],
            [float(f.seen_raw[r]) for _, _, f, r in phases],
            threshold,
        )
        phases = [(phases[n][0], c, phases[n][2], phases[n][3]) for n, c in accepted]
    phases.sort(key=lambda p: -p[1])

    # shares of the explained measured intensity (peak heights; overlapping credit is split)
    share_raw = [float((fits.credit[i] * m.h).sum()) for i, _, _, _ in phases]
    share_tot = sum(share_raw) or 1.0
    explained_any = np.zeros(npk, dtype=bool)
    for i, _, _, _ in phases:
        explained_any |= _explained_mask(query, fits.credit[i])

    results: list[dict[str, Any]] = []
    seen: set[str] = set()

    def emit(i: int, confidence: float, phase: int | None, share: float | None) -> None:
        h = cands[i]
        c = models[i]
        payload = {k: v for k, v in h.payload.items() if k not in _HIDDEN_PAYLOAD}
        ex = _explained_mask(query, fits.credit[i])
        margin, twins = margins.get(i)
        group = _group(h.payload)
        near = fits.nearest[i]
        labels = [c.hkl[j] if 0 <= j < len(c.hkl) else "" for j in near.tolist()]
        for q in range(npk):  # Kα2 satellites take their parent's label
            if m.ka2_of[q] >= 0 and ex[q]:
                parent = labels[m.ka2_of[q]]
                labels[q] = f"{parent} (Kα2)" if parent else ""
        pos = fits.positions[i, : c.d.size]
        eps = float(fits.strain[i])
        d_ref = c.d * (1.0 + eps)
        tt_user = _user_two_theta(d_ref, query.wavelength)
        if abs(query.wavelength - LIB_WAVELENGTH) < 0.01:  # zero shift / displacement are fitted in Cu Kα1 2θ
            tt_user = pos
        expected = fits.expected[i, : c.d.size]
        inten = np.where(np.isfinite(expected), expected, fits.scale[i] * c.inten)
        inside = np.isfinite(tt_user) & (pos >= m.lo - 0.5) & (pos <= m.hi + 0.5)
        pick = np.nonzero(inside)[0][np.argsort(-inten[inside])][:100]
        pick = pick[np.argsort(tt_user[pick], kind="stable")]
        reflections = [
            {"two_theta": t, "d": dv, "intensity": iv, "hkl": c.hkl[j]}
            for t, dv, iv, j in zip(
                np.round(tt_user[pick], 3).tolist(),
                np.round(d_ref[pick], 4).tolist(),
                np.round(inten[pick] * 100.0, 2).tolist(),
                pick.tolist(),
                strict=True,
            )
        ]
        results.append(
            {
                "id": h.id,
                "score": round(float(confidence), 4),
                "collection": COLLECTION,
                "payload": payload,
                "phase": phase,
                "confidence": round(float(confidence), 4),
                "share": None if share is None else round(share, 4),
                "fit_score": round(float(fits.score[i]), 4),
                "vector_score": round(float(h.score), 4),
                "coverage": round(float(fits.seen_raw[i]), 4),
                "explained_fraction": round(float(fits.explained_raw[i]), 4),
                "strain": round(eps, 5),
                "position_residual": round(float(fits.residual[i]), 4),
                "refined": {
                    "strain": round(eps, 5),
                    "zero_shift": round(float(fits.zero_shift[i]), 4),
                    "displacement": round(float(fits.displacement[i]), 4),
                    "preferred_orientation": (
                        {"axis": fits.po_axis[i], "r": round(float(fits.po_r[i]), 3)} if fits.po_axis[i] else None
                    ),
                    "scale": round(float(fits.scale[i]), 4),
                    "peak_fwhm": round(float(m.width), 4),
                },
                "fom": {
                    "explained": round(float(fits.explained[i]), 4),
                    "seen": round(float(fits.seen[i]), 4),
                    "explained_raw": round(float(fits.explained_raw[i]), 4),
                    "seen_raw": round(float(fits.seen_raw[i]), 4),
                    "chance": round(float(fits.chance[i]), 4),
                    "intensity_cosine": round(float(fits.icos[i]), 4),
                    "reflections_in_window": int(fits.n_window[i]),
                    "peaks_matched": int(fits.n_matched[i]),
                    "log_evidence": round(xp.log_evidence(float(fits.n_matched[i]), float(fits.chance[i])), 4),
                    "intensity_log_sd": round(float(fits.intensity_log_sd[i]), 4),
                    "explained_height": round(float(fits.explained_height[i]), 4),
                    "strong_unexplained": round(float(fits.strong_unexplained[i]), 4),
                    "margin": round(float(margin), 4),
                    **({"group_size": int(group["size"])} if group is not None else {}),
                    **({"own": _own_terms(own_fits[i])} if i in own_fits else {}),
                    **({"own": _own_terms(first_own[i])} if i in first_own else {}),
                    # where the greedy search found it (0: phase 1) and, for a further phase, its fit score on the
                    # peak weight the earlier phases left: with ``own`` these are every input of the accept rule
                    # below, so that a calibration can replay it offline (bench.eval_xrd, session 11)
                    **({"tentative": tentative_rank[i]} if i in tentative_rank else {}),
                    **({"residual_score": round(residual_score[i], 4)} if i in residual_score else {}),
                },
                "twins": [
                    {
                        "structure_id": cands[j].payload.get("structure_id"),
                        "formula": cands[j].payload.get("formula"),
                        "spacegroup_symbol": cands[j].payload.get("spacegroup_symbol"),
                    }
                    for j in twins[:TWINS_LISTED]
                ],
                **({"group": group} if group is not None else {}),
                "reflections": reflections,
                "explained_peaks": _peak_items(query, ex, labels),
                "unexplained_peaks": _peak_items(query, ~ex),
            }
        )
        seen.add(h.id)

    for n, (i, c_i, _, _) in enumerate(phases, start=1):
        emit(i, c_i, n, share_raw[n - 1] / share_tot)
    if phases:
        # further candidates are listed with the largest of their single-phase confidence and their confidence as
        # a further phase, judged on the peak weight that phase 1 leaves (a minor phase of a mixture that the
        # greedy search missed, or mistook for a look-alike, explains little of the whole pattern but most of what
        # phase 1 leaves) and on the weight all identified phases leave
        list_conf = conf
        lefts = [fits.credit[phases[0][0]]]
        if len(phases) > 1:
            lefts.append(np.max(np.stack([fits.credit[i] for i, _, _, _ in phases]), axis=0))
        for claimed_by in lefts:
            left_w = base_w * (1.0 - np.clip(claimed_by, 0.0, 1.0))
            if left_w.sum() > 0:
                rescored = None
                if last_rescore is not None and last_rescore[0] is fits and np.array_equal(last_rescore[1], left_w):
                    rescored = last_rescore[2]  # the loop's last rescore had these very weights (a common case)
                if rescored is None:
                    rescored = xp.rescore(m, models, fits, left_w)
                rest = _confidences(rescored, sources, bool(opts.elements), further=True)
                list_conf = np.maximum(list_conf, rest)
        n_phases = len(results)
        for i in [int(j) for j in np.argsort(-list_conf, kind="stable")]:
            if len(results) >= opts.limit:
                break
            if cands[i].id in seen:
                continue
            # the single-phase confidence with its margin, or its confidence as a further phase if that is larger
            as_further = float(list_conf[i]) if list_conf[i] > conf[i] else 0.0
            c_single = (
                float(conf[i]) if base_final else xp.final_confidence(fits, i, sources[i], margin_of(i), el_given)
            )
            c_i = max(c_single, as_further)
            if c_i < (LIST_MIN_CONFIDENCE if threshold > 0 else -1.0):
                continue
            emit(i, c_i, None, None)
        results[n_phases:] = sorted(results[n_phases:], key=lambda h: -float(h["confidence"]))
    return {
        "hits": results[: opts.limit],
        "unexplained_peaks": _peak_items(query, ~explained_any),
        "peaks": int(npk),
        "wavelength": query.wavelength,
        "wavelength_source": query.wavelength_source,
        "format": query.format,
    }


def _twin_map(payload: dict[str, Any]) -> dict[str, float] | None:
    """A phase's library twins from the twin table in its payload: {point id: similarity}; None when the library was
    built without one (the search then compares the candidates' patterns itself)."""
    tg = payload.get("twin_group")
    if not isinstance(tg, dict):
        return None
    return {str(t[0]): float(t[4]) for t in tg.get("twins", [])}


def _group(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The hit's isostructural group from the library's twin table: its members (the library phases whose patterns
    are near-identical to its own, similarity ≥ GROUP_SIM, most similar first) and how the hit reads — ``"phase"``
    when it has none, ``"isostructural group"`` when the pattern cannot tell it from them (with the user's elements
    most members drop out of the candidates, not out of the group). None without a twin table."""
    tg = payload.get("twin_group")
    if not isinstance(tg, dict):
        return None
    members = [t for t in tg.get("twins", []) if float(t[4]) >= GROUP_SIM]
    return {
        "size": 1 + len(members),
        "identification": "isostructural group" if members else "phase",
        "members": [
            {"structure_id": t[1], "formula": t[2], "spacegroup_symbol": t[3], "similarity": round(float(t[4]), 3)}
            for t in members[:GROUP_LISTED]
        ],
    }


def _own_terms(f: xp.Fits) -> dict[str, float]:
    """A mixture phase's figure-of-merit terms on its own + the unexplained peaks (what its confidence is from)."""
    return {
        "score": round(float(f.score[0]), 4),
        "explained": round(float(f.explained[0]), 4),
        "seen_raw": round(float(f.seen_raw[0]), 4),
        "seen": round(float(f.seen[0]), 4),
        "intensity_cosine": round(float(f.icos[0]), 4),
        "position_residual": round(float(f.residual[0]), 4),
        "strain": round(float(f.strain[0]), 5),
        "chance": round(float(f.chance[0]), 4),
        "peaks_matched": int(f.n_matched[0]),
        "intensity_log_sd": round(float(f.intensity_log_sd[0]), 4),
        "explained_height": round(float(f.explained_height[0]), 4),
        "strong_unexplained": round(float(f.strong_unexplained[0]), 4),
    }


def identify_phases(
    store: Store, settings: Settings, pattern: Pattern | QueryPattern, options: SpectrumOptions | None = None
) -> dict[str, Any]:
    """``search_spectrum`` over the ``xrd`` collection with the encoder that filled it (HTTP and CLI entry)."""
    opts = options or SpectrumOptions()
    check_limit(settings, opts.limit)
    require_collection(store, COLLECTION)
    return search_spectrum(store, get_encoder(VECTOR_ENCODERS[(COLLECTION, VECTOR)], settings), pattern, opts)


def options_from_request(
    *,
    limit: int = 10,
    max_phases: int = 5,
    elements: Sequence[str] | str | None = None,
    elements_mode: str = "only",
    filter: str | dict[str, Any] | None = None,
    score_threshold: float | None = None,
) -> SpectrumOptions:
    if elements_mode not in ("only", "all", "any"):
        raise InvalidFilter(f"unknown elements mode {elements_mode!r} (use only, all or any)")
    mode: ElementsMode = elements_mode  # type: ignore[assignment]
    opts = SpectrumOptions(
        limit=limit,
        max_phases=max_phases,
        elements=normalize_elements(elements),
        elements_mode=mode,
        filter=parse_filter(filter),
        score_threshold=score_threshold,
    )
    opts.validate()
    return opts
