"""Spectrum search: measured pattern → vector search in ``xrd`` → physics-aware re-rank → mixture phases → abstain.

Used by ``POST /v1/search/spectrum`` and by the CLI when no server runs. Hits are dicts shaped like
``matsearch.core.schemas.Hit`` plus ``explained_peaks``, ``unexplained_peaks``, ``strain``, ``coverage``,
``explained_fraction``, ``vector_score`` and ``phase`` (1, 2, 3 for the phases of the identified mixture, else
``None``). An empty list means no confident match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from matsearch.core.errors import BadInput, InvalidFilter
from matsearch.core.filters import FieldCondition, Filter, parse_filter
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.base import Encoder
from matsearch.encoders.xrd_pattern import Pattern, find_peaks, preprocess
from matsearch.search.common import check_limit, require_collection
from matsearch.search.xrd_fit import PhaseFit, QueryPattern, fit_table, fits_from, peak_list
from matsearch.store.base import ScoredHit, Store, VectorQuery
from matsearch.store.collections import VECTOR_ENCODERS

COLLECTION = "xrd"
VECTOR = "xrd"

ElementsMode = Literal["only", "all", "any"]
# Abstain threshold on ``confidence`` (phase 1), calibrated by ``python -m bench.eval_xrd`` on the realistic tier's
# calibration split (largest threshold with ≤ 3% false abstains; bench/results/eval_xrd.log): below it, "no
# confident match".
DEFAULT_THRESHOLD = 0.677
MIXTURE_CANDIDATES = 40  # per vector query of a residual (masked) pattern: partial patterns embed less sharply
MIXTURE_PHASE_THRESHOLD = 0.66  # fit score a further mixture phase (or a mixture as a whole) must reach
LIST_MIN_SCORE = 0.5  # fit score of further (non-phase) candidates listed after the identified phases
MIXTURE_MIN_RESIDUAL = 0.12  # stop looking for more phases when less than this share of peak weight is unexplained
MIXTURE_MIN_GAIN = 0.25  # a further phase must explain at least this share of the residual peak weight
MIXTURE_MIN_PHASE_SCORE = 0.5  # √(coverage × residual share explained) of a further phase
CANDIDATES = 20  # per vector query (3 strain variants, so up to 60 candidates; xrd-cnn recall@20 ≈ 0.99–1.0)
_ALL_ELEMENTS: list[str] | None = None
_HIDDEN_PAYLOAD = ("peaks",)


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
    max_phases: int = 3
    elements: list[str] = field(default_factory=list)
    elements_mode: ElementsMode = "only"
    filter: Filter | None = None
    score_threshold: float | None = None  # None: DEFAULT_THRESHOLD; 0 disables abstaining
    candidates: int = CANDIDATES

    def validate(self) -> None:
        if not 1 <= self.limit <= 200:
            raise BadInput(f"limit must be between 1 and 200 (got {self.limit})")
        if not 1 <= self.max_phases <= 3:
            raise BadInput(f"max_phases must be 1, 2 or 3 (got {self.max_phases})")
        if self.score_threshold is not None and not 0 <= self.score_threshold <= 1:
            raise BadInput(f"score_threshold must be between 0 and 1 (got {self.score_threshold})")


def prepare_query(pattern: Pattern) -> QueryPattern:
    y, mask = preprocess(pattern)
    peaks = find_peaks(y)
    if peaks.two_theta.size == 0:
        raise BadInput(f"{pattern.name}: no peaks found above the noise")
    return QueryPattern(y=y, mask=mask, peaks=peaks)


# The vector stage queries the pattern as measured and as if its lattice were strained by these amounts
# (the embedding's blur covers ~±0.8%; measured lattices are typically 0–2% smaller than DFT ones).
QUERY_STRAINS = (0.0, -0.016, 0.008)


def _vector_queries(encoder: Encoder, y: np.ndarray, flt: Filter | None, limit: int) -> list[VectorQuery]:
    from matsearch.encoders.xrd import strain_variant

    vectors = encoder.encode([strain_variant(y, eps) for eps in QUERY_STRAINS])
    return [VectorQuery(vector=v, using=VECTOR, filter=flt, limit=limit) for v in vectors]


def _candidates(store: Store, queries: list[VectorQuery], into: dict[str, ScoredHit]) -> None:
    for hits in store.query_batch(COLLECTION, queries):
        for h in hits:
            if h.id not in into or into[h.id].score < h.score:
                into[h.id] = h


def vector_candidates(
    store: Store, encoder: Encoder, query: QueryPattern, flt: Filter | None = None, limit: int = CANDIDATES
) -> list[ScoredHit]:
    """The vector stage alone: the candidates the re-rank would see for ``query`` (best vector score per id)."""
    hits: dict[str, ScoredHit] = {}
    _candidates(store, _vector_queries(encoder, query.y, flt, limit), hits)
    return list(hits.values())


# Lattice strains (measured vs library d) that real data shows: DFT lattices ~0–2% too large, small thermal and
# solid-solution changes. A best fit that needs more is more likely an isostructural twin of an absent phase.
EXPECTED_STRAIN = (-0.02, 0.003)
STRAIN_PENALTY = 25.0  # confidence lost per unit of strain outside EXPECTED_STRAIN (0.004 beyond → −0.1)
# Confidence lost per unit of position residual (mean |offset| / tolerance of the explained peaks after the strain
# fit): the true phase lines up closely (median 0.16 on calibration), an isostructural twin with a different c/a
# or a related structure only within the tolerance (median 0.33).
# Measured and switched off: 0.3 raised the calibration split's abstain rate 0.59 → 0.64, but not the test split's
# (realistic 0.40 → 0.41, harsh 0.40 → 0.38; bench/results/eval_xrd_cnn_v2_residual.log).
RESIDUAL_PENALTY = 0.0


def confidence(fits: list[PhaseFit], order: list[int]) -> float:
    """How sure the best candidate is the phase (abstain below the calibrated threshold): its fit score, lowered
    when the fit needed a lattice strain outside ``EXPECTED_STRAIN`` and by its peak-position residual."""
    if not order:
        return 0.0
    best = fits[order[0]]
    lo, hi = EXPECTED_STRAIN
    excess = max(0.0, best.strain - hi) + max(0.0, lo - best.strain)
    return float(max(0.0, best.score - STRAIN_PENALTY * excess - RESIDUAL_PENALTY * best.residual))


def _mask_explained(query: QueryPattern, explained: np.ndarray) -> np.ndarray:
    """The query with the regions of explained peaks zeroed (what is left for the next phase's vector search)."""
    from matsearch.encoders.xrd import GRID_2THETA

    y = query.y.copy()
    for t in query.peaks.two_theta[explained]:
        y[np.abs(GRID_2THETA - t) <= 0.3] = 0.0
    return y


def search_spectrum(
    store: Store, encoder: Encoder, pattern: Pattern | QueryPattern, options: SpectrumOptions | None = None
) -> dict[str, Any]:
    """Identify the phases of ``pattern``. Returns ``{"hits": [...], "unexplained_peaks": [...], "peaks": n}``."""
    opts = options or SpectrumOptions()
    opts.validate()
    threshold = DEFAULT_THRESHOLD if opts.score_threshold is None else opts.score_threshold
    query = pattern if isinstance(pattern, QueryPattern) else prepare_query(pattern)
    flt = elements_filter(opts.elements, opts.elements_mode)
    if opts.filter is not None:
        flt = opts.filter.and_(flt) if flt is not None else opts.filter
    npk = query.peaks.two_theta.size
    base_weights = np.sqrt(query.peaks.height)

    hits_by_id: dict[str, ScoredHit] = {}
    _candidates(store, _vector_queries(encoder, query.y, flt, opts.candidates), hits_by_id)
    cands = list(hits_by_id.values())
    table = fit_table(query, [h.payload for h in cands], [h.id for h in cands])
    fits = fits_from(table, query)
    order = sorted(range(len(fits)), key=lambda i: -fits[i].score)
    conf1 = confidence(fits, order)

    # Phase 1 is the best single-phase fit; further phases are fitted on the peaks the earlier ones leave
    # unexplained. A lone phase must reach the threshold on its own; a mixture is accepted when every phase's
    # coverage and the share of peaks the phases explain together reach it (joint score √(min C · E_union)).
    tentative: list[tuple[int, float, Any]] = []  # (candidate index, phase score, fit)
    explained_so_far = np.zeros(npk, dtype=bool)
    if order:
        best = fits[order[0]]
        tentative.append((order[0], best.score, best))
        explained_so_far |= best.explained_mask
    while tentative and len(tentative) < opts.max_phases:
        residual_w = np.where(explained_so_far, 0.0, base_weights)
        if residual_w.sum() < MIXTURE_MIN_RESIDUAL * base_weights.sum():
            break
        _candidates(
            store,
            _vector_queries(
                encoder, _mask_explained(query, explained_so_far), flt, max(opts.candidates, MIXTURE_CANDIDATES)
            ),
            hits_by_id,
        )
        new = list(hits_by_id.values())[len(cands) :]  # insertion-ordered: earlier indices stay valid
        if new:
            table = table.extend(fit_table(query, [h.payload for h in new], [h.id for h in new]))
            cands = cands + new
            fits = fits_from(table, query)
        resid_fits = fits_from(table, query, peak_weights=residual_w)
        taken_ids = {cands[i].id for i, _, _ in tentative}
        best_i, best_score = -1, 0.0
        for i, f in enumerate(resid_fits):
            if cands[i].id in taken_ids:
                continue
            gain = f.explained  # share of the residual weight it explains
            score = float(np.sqrt(max(f.coverage, 0.0) * max(gain, 0.0)))
            if gain >= MIXTURE_MIN_GAIN and score > best_score:
                best_i, best_score = i, score
        if best_i < 0 or best_score < MIXTURE_MIN_PHASE_SCORE:
            break
        tentative.append((best_i, best_score, fits[best_i]))
        explained_so_far |= fits[best_i].explained_mask
        order = sorted(range(len(fits)), key=lambda i: -fits[i].score)

    phases: list[tuple[int, float, Any]] = []
    further = MIXTURE_PHASE_THRESHOLD if threshold > 0 else 0.0
    if tentative and conf1 >= threshold:
        phases = [tentative[0]] + [t for t in tentative[1:] if t[1] >= further]
    elif len(tentative) > 1:
        base_total = float(base_weights.sum()) or 1.0
        e_union = float(base_weights[explained_so_far].sum()) / base_total
        joint = float(np.sqrt(min(t[2].coverage for t in tentative) * e_union))
        if joint >= further:
            phases = [(i, max(sc, joint) if n == 0 else sc, f) for n, (i, sc, f) in enumerate(tentative)]
    explained_so_far = np.zeros(npk, dtype=bool)
    for _, _, f in phases:
        explained_so_far |= f.explained_mask

    results: list[dict[str, Any]] = []
    seen: set[str] = set()

    def emit(i: int, score: float, fit: Any, phase: int | None) -> None:
        h = cands[i]
        payload = {k: v for k, v in h.payload.items() if k not in _HIDDEN_PAYLOAD}
        results.append(
            {
                "id": h.id,
                "score": round(float(score), 4),
                "collection": COLLECTION,
                "payload": payload,
                "phase": phase,
                "confidence": round(conf1, 4) if phase == 1 else None,
                "fit_score": round(float(fit.score), 4),
                "vector_score": round(float(h.score), 4),
                "coverage": round(fit.coverage, 4),
                "explained_fraction": round(fit.explained, 4),
                "strain": fit.strain,
                "position_residual": round(fit.residual, 4),
                "profile_cosine": round(fit.profile_cos, 4),
                "explained_peaks": peak_list(query, fit.explained_mask, fit.matched_hkl()),
                "unexplained_peaks": peak_list(query, ~fit.explained_mask),
            }
        )
        seen.add(h.id)

    for n, (i, score, fit) in enumerate(phases, start=1):
        emit(i, score, fit, n)
    if phases:
        for i in order:
            if len(results) >= opts.limit:
                break
            if cands[i].id in seen or fits[i].score < (LIST_MIN_SCORE if threshold > 0 else 0.0):
                continue
            emit(i, fits[i].score, fits[i], None)
    return {
        "hits": results[: opts.limit],
        "unexplained_peaks": peak_list(query, ~explained_so_far) if phases else peak_list(query, np.ones(npk, bool)),
        "peaks": int(npk),
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
    max_phases: int = 3,
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
