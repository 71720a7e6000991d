"""XRD phase identification, evaluated end to end (reader → preprocess → encoder → store → re-rank → abstain).

    .venv/bin/python -m bench.eval_xrd                # ~4.8k-structure library, 1000 single-phase queries, ...
    .venv/bin/python -m bench.eval_xrd --quick        # smaller, for a smoke run

Protocol (seeded, deterministic; details and numbers in docs/xrd.md):
- library: the whole bundled structure library; a hash-chosen 5% of it is LEFT OUT of the index ("absent phases"),
  split by a second hash into a calibration half and a test half. The xrd-cnn never trained on any of them.
- two distortion tiers: "realistic" (``Distortion.realistic()``, as issue 4 describes: measured d 0–1.5% smaller
  than DFT) and "harsh" (``Distortion()``: −2…+0.6% strain + 0.2% anisotropic); both with zero shift, texture +
  preferred orientation, Kα2, broadening, background, impurity peaks, Poisson noise, cropped ranges. Queries are
  written as two-column text and read back by the reader.
- per tier, calibration first (own seed; in-library structures disjoint from the test ones + the calibration half
  of the left-out): threshold = the largest with ≤ --cal-false-abstain false abstains there (or --threshold).
- test: single phases (top-1, top-5, vector-stage recall, false abstain; also with elements=only its elements),
  2/3-phase mixtures (weights 0.3–1; every phase in the top 5), the test half of the left-out structures
  (abstain = empty answer), without and with the elements constraint.
Writes bench/results/eval_xrd.json and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _hash_fraction(salt: str, structure_id: str) -> float:
    return int(hashlib.sha256(f"{salt}:{structure_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _left_out(structure_id: str, fraction: float) -> bool:
    """The same hash as ``training.train_xrd.eval_left_out`` (the CNN never trains on these)."""
    return _hash_fraction("xrd-eval-leftout", structure_id) < fraction


_CANDS: dict[str, Any] = {}


def _make_query(phases: list[Any], peaks: dict[str, Any], rng: np.random.Generator, dist: Any) -> Any:
    from training.xrd_augment import experimental_like, pattern_range

    weights = [1.0] + [float(rng.uniform(0.3, 1.0)) for _ in phases[1:]]
    if dist == "measured":
        from bench.xrd_measured import candidate, measured_like

        for e in phases:
            if e.id not in _CANDS:
                _CANDS[e.id] = candidate(e, peaks[e.id])
        ym = measured_like([(_CANDS[e.id], w) for e, w in zip(phases, weights, strict=True)], rng)
        xm, ymm = pattern_range(ym)
        return _as_text(xm, ymm)
    y = experimental_like([(peaks[e.id], w) for e, w in zip(phases, weights, strict=True)], rng, dist)
    assert isinstance(y, np.ndarray)
    x, yy = pattern_range(y)
    return _as_text(x, yy)


def _features(terms: dict[str, Any], score: float, residual: float, strain: float, source: str) -> list[float]:
    """The confidence model's features (``xrd_phase.CONF_FEATURES``) from a figure of merit's reported terms."""
    from matsearch.search import xrd_phase as xp

    return [
        float(v)
        for v in xp.feature_vector(
            score,
            float(terms["explained"]),
            float(terms["seen"]),
            float(terms["intensity_cosine"]),
            residual,
            strain,
            source,
            float(terms["chance"]),
            float(terms["peaks_matched"]),
            float(terms["intensity_log_sd"]),
            float(terms["explained_height"]),
            float(terms["strong_unexplained"]),
        )
    ]


def hit_features(h: dict[str, Any]) -> list[float]:
    """The confidence model's features (``xrd_phase.CONF_FEATURES``) from a hit's reported fields."""
    f = h["fom"]
    source = str(h["payload"].get("source", ""))
    return _features(f, float(h["fit_score"]), float(h["position_residual"]), float(h["strain"]), source)


def hit_margin(h: dict[str, Any]) -> float:
    """A hit's competitor margin (``fom.margin``, base logits; ``xrd_phase.Margins``); the cap when not reported."""
    from matsearch.search import xrd_phase as xp

    return float(h.get("fom", {}).get("margin", xp.MARGIN_CAP))


def own_features(h: dict[str, Any]) -> list[float] | None:
    """A mixture phase's features on its own + the unexplained peaks (``fom.own``, what ``xrd_phase.MIX_COEF``
    judges), or None for a hit that was not judged as a phase beside others."""
    f = h.get("fom", {}).get("own")
    if not f:
        return None
    source = str(h["payload"].get("source", ""))
    return _features(f, float(f["score"]), float(f["position_residual"]), float(f["strain"]), source)


def _mixture_rows(hits: list[dict[str, Any]], present: set[str]) -> tuple[list[list[float]], list[float]]:
    """(features, label) of every hit judged as a phase beside others; label 1 when it is one of ``present``."""
    xs, ys = [], []
    for h in hits:
        x = own_features(h)
        # phase 1 also reports its own-peak terms since session 11 (fom.tentative 0); the mixture-phase model
        # judges further phases only
        if x is not None and h.get("fom", {}).get("tentative", 1) != 0:
            xs.append(x)
            ys.append(float(h["payload"].get("structure_id") in present))
    return xs, ys


def _compact(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every listed hit of a query as the feature dump keeps it: id, phase, confidence, the model's features and the
    refined parameters / figure-of-merit terms (for feature studies)."""
    return [
        {
            "structure_id": h["payload"].get("structure_id"),
            "formula": h["payload"].get("formula"),
            "spacegroup_number": h["payload"].get("spacegroup_number"),
            "source": h["payload"].get("source"),
            "phase": h.get("phase"),
            "confidence": h.get("confidence"),
            "features": hit_features(h),
            "own_features": own_features(h),
            "refined": h.get("refined"),
            "fom": h.get("fom"),
            "vector_score": h.get("vector_score"),
        }
        for h in hits
    ]


def xp_twin_sim() -> float:
    from matsearch.search import xrd_phase as xp

    return float(xp.TWIN_SIM)


def _similarity(peaks: dict[str, Any], a: str, b: str) -> float:
    """``xrd_phase.pattern_similarity`` of two library structures' simulated patterns (0 when one is unknown)."""
    from matsearch.search import xrd_phase as xp

    if a not in peaks or b not in peaks:
        return 0.0
    ca, cb = (
        xp.candidate_from_payload({"peaks": {"d": list(peaks[k].d), "intensity": list(peaks[k].intensity)}})
        for k in (a, b)
    )
    return xp.pattern_similarity(ca, cb)


SIM_BINS = ((0.95, "near_identical_indexed"), (0.80, "similar_0.80_0.95"), (-1.0, "distinct_below_0.80"))


def best_library_similarity(absent: list[Any], inside: list[Any], peaks: dict[str, Any]) -> dict[str, float]:
    """Per absent structure, the largest ``xrd_phase.pattern_similarity`` to any indexed structure (the same
    profiles and ±3 % shift window, as one matrix product per absent structure): ≥ TWIN_SIM means the library holds
    a near-identical pattern, which the search cannot tell from the absent phase (docs/xrd.md, session 9)."""
    from matsearch.encoders.xrd_sticks import TWIN_MAX_SHIFT
    from matsearch.search import xrd_phase as xp

    def cand(k: str) -> Any:
        return xp.candidate_from_payload({"peaks": {"d": list(peaks[k].d), "intensity": list(peaks[k].intensity)}})

    if not absent or not inside:
        return {}
    lib = np.stack([cand(e.id).profile() for e in inside]).astype(np.float32)
    s = TWIN_MAX_SHIFT
    out: dict[str, float] = {}
    for e in absent:
        a = cand(e.id).profile()
        shifted = np.zeros((2 * s + 1, a.size), np.float32)
        for k, sh in enumerate(range(-s, s + 1)):
            if sh >= 0:
                shifted[k, sh:] = a[: a.size - sh]
            else:
                shifted[k, :sh] = a[-sh:]
        out[e.id] = float((shifted @ lib.T).max())
    return out


def _sim_bin(sim: float) -> str:
    return next(name for lo, name in SIM_BINS if sim >= lo)


def _oracle(data: bytes, e: Any, peaks: dict[str, Any]) -> dict[str, Any]:
    """For a study of absent phases: the absent structure's own fit to its query (as if it were in the library) —
    its features, confidence and refined parameters, to compare with the look-alike the search returned."""
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.indexer.xrd.build import xrd_payload
    from matsearch.search import spectra as xsearch
    from matsearch.search import xrd_phase as xp

    qp = xsearch.prepare_query(read_pattern_bytes(data, "q.xy", wavelength="CuKa1"))
    pl = xrd_payload(e, peaks[e.id])
    f = xp.fit(qp.measured, [xp.candidate_from_payload(pl)])
    src = str(pl.get("source", ""))
    return {
        "features": [float(v) for v in xp.confidence_features(f, 0, src)],
        "confidence": xp.confidence(f, 0, src),
        "strain": float(f.strain[0]),
        "po_r": float(f.po_r[0]),
        "n_window": int(f.n_window[0]),
    }


def _fit_logistic_free(x: np.ndarray, y: np.ndarray, l2: float, iters: int) -> tuple[np.ndarray, float]:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    reg = np.r_[np.full(z.shape[1] - 1, l2), 0.0]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        g = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(hess, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    coef = w[:-1] / sd
    return coef, float(w[-1] - (coef * mu).sum())


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50, signs: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton steps (features standardised inside, returned raw). ``signs``
    (+1 / −1 / 0 per feature): the direction each feature must act in (more explained peaks never lower the
    confidence, more window coverage never raises it, ...); a feature fitted against its sign — correlated
    features trade weight, and a wrong sign is what out-of-distribution inputs such as dense organic cells would
    exploit — is fixed at 0 and the rest refitted (active set), until every sign holds."""
    free = np.ones(x.shape[1], dtype=bool)
    while True:
        coef_f, bias = _fit_logistic_free(x[:, free], y, l2, iters)
        coef = np.zeros(x.shape[1])
        coef[free] = coef_f
        if signs is None:
            return coef, bias
        bad = free & (signs != 0) & (np.sign(coef) == -np.sign(signs)) & (coef != 0)
        if not bad.any():
            return coef, bias
        worst = int(np.argmax(np.where(bad, np.abs(coef * x.std(axis=0)), -1.0)))
        free[worst] = False


def run_tier(
    tier: str,
    dist: Any,
    args: argparse.Namespace,
    service: Any,
    encoder: Any,
    peaks: dict[str, Any],
    inside: list[Any],
    cal_out: list[Any],
    test_out: list[Any],
    threshold_fixed: float | None,
) -> dict[str, Any]:
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.search import spectra as xsearch

    lat: list[float] = []

    def query(data: bytes, threshold: float | None, elements: list[str] | None = None, timed: bool = True) -> list[Any]:
        t = time.perf_counter()
        pattern = read_pattern_bytes(data, "q.xy", wavelength="CuKa1")
        opts = xsearch.SpectrumOptions(limit=10, max_phases=5, score_threshold=threshold, elements=elements or [])
        result = xsearch.search_spectrum(service.store, encoder, pattern, opts)
        if timed:
            lat.append((time.perf_counter() - t) * 1000.0)
        hits: list[Any] = result["hits"]
        return hits

    def conf(hits: list[Any]) -> float:
        return float(hits[0]["confidence"]) if hits else 0.0

    # ---- calibration: in-library structures disjoint from the test queries + the calibration half of the
    # left-out structures; its own seed. Threshold = largest with ≤ args.cal_false_abstain false abstains.
    rng = np.random.default_rng(args.seed + 1000 * (tier == "harsh") + 1)
    perm = rng.permutation(len(inside))
    test_pool = [inside[i] for i in perm[args.calib :]]
    # a further test draw in the same process (--test-seeds) runs no calibration queries: the threshold is given and
    # the test draw depends only on the test seed and the split (``perm``), not on the calibration queries
    cal_in = [] if getattr(args, "skip_calibration_queries", False) else [inside[i] for i in perm[: args.calib]]
    fold_out = getattr(args, "fold_out", None)
    if fold_out is not None:
        # --calib-fold: this fold's structures are held out of the index (main) and are its absent calibration
        # phases; the in-library calibration queries are the usual ones less those
        gone = {e.id for e in fold_out}
        cal_in = [e for e in cal_in if e.id not in gone]
        cal_out = list(fold_out)
    if not cal_in:
        cal_out = []
    cal_feats: dict[str, list[Any]] = {"in": [], "out": [], "elements": []}
    feats: list[list[float]] = []
    labels: list[float] = []
    margin_rows: list[float] = []  # the top hit's competitor margin (``fom.margin``), row by row with ``feats``
    in_hits = []
    mix_x: list[list[float]] = []  # the mixture-phase model's rows (``xrd_phase.MIX_COEF``)
    mix_y: list[float] = []

    def add_mix(hits: list[Any], present: set[str]) -> None:
        xs, ys = _mixture_rows(hits, present)
        mix_x.extend(xs)
        mix_y.extend(ys)

    # --calib-draws: the calibration queries again with other distortions (same structures, own streams): a model
    # fitted on several draws, and its threshold checked on each, shifts less with the draw (docs/xrd.md, session 10)
    draws = [int(x) for x in str(getattr(args, "calib_draws", "0")).split(",")]
    cal_in_rows: list[Any] = []  # (draw, structure) of every in-library calibration row, in order
    out_hits = []
    out_draw: list[int] = []
    for draw in draws:
        qrng = rng if draw == 0 else np.random.default_rng([args.seed, 1000 * (tier == "harsh") + 1, draw])
        for e in cal_in:
            hits = query(_make_query([e], peaks, qrng, dist), 0.0, timed=False)
            if draw == 0:
                add_mix(hits, {e.id})
            in_hits.append(hits[0] if hits else None)
            cal_in_rows.append((draw, e))
            cal_feats["in"].append({"truth": e.id, "draw": draw, "hits": _compact(hits)})
            if hits:
                feats.append(hit_features(hits[0]))
                margin_rows.append(hit_margin(hits[0]))
                labels.append(float(hits[0]["payload"]["structure_id"] == e.id))
        for _rep in range(args.calib_out_reps):
            for e in cal_out:
                data = _make_query([e], peaks, qrng, dist)
                hits = query(data, 0.0, timed=False)
                if draw == 0:
                    add_mix(hits, set())
                out_hits.append(hits[0] if hits else None)
                out_draw.append(draw)
                row: dict[str, Any] = {"truth": e.id, "draw": draw, "hits": _compact(hits)}
                if args.dump_features and args.oracle:
                    row["oracle"] = _oracle(data, e, peaks)
                cal_feats["out"].append(row)
                if hits:
                    feats.append(hit_features(hits[0]))
                    margin_rows.append(hit_margin(hits[0]))
                    labels.append(0.0)
    # measured-looking 2–3-phase mixtures of calibration structures, a third with an absent (left-out) component:
    # the phases the search judges beside others, right or wrong, for the mixture-phase model
    mrng = np.random.default_rng(args.seed + 31)
    for _ in range(args.calib_mix if args.calibrate else 0):
        k = int(mrng.integers(2, 4))
        parts = [cal_in[int(i)] for i in mrng.choice(len(cal_in), size=k, replace=False)]
        if cal_out and mrng.random() < 1 / 3:
            parts[int(mrng.integers(k))] = cal_out[int(mrng.integers(len(cal_out)))]
        hits = query(_make_query(parts, peaks, mrng, dist), 0.0, timed=False)
        add_mix(hits, {e.id for e in parts if e not in cal_out})
        cal_feats.setdefault("mix", []).append({"truth": [e.id for e in parts], "hits": _compact(hits)})
    n_plain = len(feats)
    # the same kinds of query with the user's elements (fits the elements prior, ``ELEMENTS_PRIOR_LOGIT``)
    el_in = cal_in[: args.calib_elements]
    for e in el_in + cal_out:
        hits = query(_make_query([e], peaks, rng, dist), 0.0, elements=list(e.elements), timed=False)
        cal_feats["elements"].append({"truth": e.id, "in_library": e in el_in, "hits": _compact(hits)})
        if hits:
            feats.append(hit_features(hits[0]))
            margin_rows.append(hit_margin(hits[0]))
            labels.append(float(e in el_in and hits[0]["payload"]["structure_id"] == e.id))
    with_el = np.r_[np.zeros(n_plain), np.ones(len(feats) - n_plain)]
    if args.dump_features:
        Path(f"{args.dump_features}.{tier}.json").write_text(json.dumps(cal_feats, default=str))
    calibrated: dict[str, Any] = {}
    if args.calibrate and feats:
        from matsearch.search import xrd_phase as xp

        signs = np.r_[np.asarray(xp.CONF_SIGNS, dtype=np.float64), 1.0]  # the elements prior only raises it
        coef, bias = fit_logistic(np.c_[np.asarray(feats), with_el], np.asarray(labels), signs=signs)
        # this process: test with the freshly fitted model
        xp.CONF_COEF, xp.CONF_BIAS, xp.ELEMENTS_PRIOR_LOGIT = coef[:-1], bias, float(coef[-1])
        calibrated = {
            "features": list(xp.CONF_FEATURES),
            "coef": [round(float(c), 4) for c in coef[:-1]],
            "bias": round(bias, 4),
            "elements_prior_logit": round(float(coef[-1]), 4),
        }
        if mix_x and 0 < sum(mix_y) < len(mix_y):
            mcoef, mbias = fit_logistic(np.asarray(mix_x), np.asarray(mix_y), signs=signs[:-1])
            xp.MIX_COEF, xp.MIX_BIAS = mcoef, mbias
            calibrated["mixture_phase_model"] = {
                "coef": [round(float(c), 4) for c in mcoef],
                "bias": round(mbias, 4),
                "rows": len(mix_y),
                "positives": int(sum(mix_y)),
            }
        print(f"[{tier}] confidence model: {json.dumps(calibrated)}", flush=True)
    if args.calibrate_margin and feats:
        # the final model (xrd_phase.FINAL_COEF): a · the single-phase logit + w · min(margin, cap) + b, both weights
        # ≥ 0. The single-phase model (CONF_COEF) is kept: the margins are taken in its logits and it ranks the
        # candidates; a joint refit of all its features with the margin was less robust (docs/xrd.md, session 8)
        from matsearch.search import xrd_phase as xp

        zb = np.asarray(feats) @ xp.CONF_COEF + xp.CONF_BIAS + with_el * xp.ELEMENTS_PRIOR_LOGIT
        xm = np.c_[zb, np.minimum(np.asarray(margin_rows), xp.MARGIN_CAP)]
        (a, w), b = fit_logistic(xm, np.asarray(labels), signs=np.array([1.0, 1.0]))
        xp.FINAL_COEF = np.r_[a * xp.CONF_COEF, w]
        xp.FINAL_BIAS, xp.FINAL_ELEMENTS_PRIOR_LOGIT = a * xp.CONF_BIAS + b, a * xp.ELEMENTS_PRIOR_LOGIT
        calibrated["final_model"] = {
            "logit_scale": round(float(a), 4),
            "margin_weight": round(float(w), 4),
            "bias": round(float(b), 4),
            "coef": [round(float(c), 4) for c in xp.FINAL_COEF],
            "final_bias": round(float(xp.FINAL_BIAS), 4),
            "elements_prior_logit": round(float(xp.FINAL_ELEMENTS_PRIOR_LOGIT), 4),
        }
        print(f"[{tier}] final model: {json.dumps(calibrated['final_model'])}", flush=True)

    if args.calibrate_joint and feats:
        # every feature refitted together with the competitor margin (taken in the single-phase model's logits,
        # which keeps ranking the candidates), pooled over the calibration draws: xrd_phase.FINAL_COEF
        from matsearch.search import xrd_phase as xp

        signs = np.r_[np.asarray(xp.CONF_SIGNS, dtype=np.float64), 1.0, 1.0]
        xm = np.c_[np.asarray(feats), np.minimum(np.asarray(margin_rows), xp.MARGIN_CAP), with_el]
        coef, bias = fit_logistic(xm, np.asarray(labels), signs=signs)
        xp.FINAL_COEF, xp.FINAL_BIAS, xp.FINAL_ELEMENTS_PRIOR_LOGIT = coef[:-1], bias, float(coef[-1])
        calibrated["final_model"] = {
            "joint": True,
            "coef": [round(float(c), 4) for c in xp.FINAL_COEF],
            "final_bias": round(float(xp.FINAL_BIAS), 4),
            "elements_prior_logit": round(float(xp.FINAL_ELEMENTS_PRIOR_LOGIT), 4),
            "margin_twin_sim": xp.MARGIN_TWIN_SIM,
            "rows": len(labels),
        }
        print(f"[{tier}] final model (joint): {json.dumps(calibrated['final_model'])}", flush=True)

    def conf_of(h: Any) -> float:
        from matsearch.search import xrd_phase as xp

        if h is None:
            return 0.0
        return float(xp.final_probability(np.asarray(hit_features(h))[None, :], np.array([hit_margin(h)]))[0])

    # a true-phase hit counts as "in" only when it is correct (a wrong confident hit is a false accept)
    ic = np.asarray(
        [
            conf_of(h) if h is not None and h["payload"]["structure_id"] == e.id else 0.0
            for h, (_, e) in zip(in_hits, cal_in_rows, strict=True)
        ]
    )
    oc = np.asarray([conf_of(h) for h in out_hits])
    correct = np.asarray(
        [
            h is not None and h["payload"]["structure_id"] == e.id
            for h, (_, e) in zip(in_hits, cal_in_rows, strict=True)
        ],
        dtype=bool,
    )
    # the top hit's confidence whatever it is: below the threshold the query abstains — the test's "false abstain"
    # counts every in-library query left without a hit (a wrong top hit under the threshold too), and a wrong top
    # hit above it is a wrong phase accepted
    tc = np.asarray([conf_of(h) for h in in_hits])
    if threshold_fixed is not None:
        threshold, source = threshold_fixed, "given"
    elif (args.calibrate or args.calibrate_margin or args.calibrate_joint) and args.cal_count_all:
        # largest threshold whose abstains on in-library queries (as the test counts them: wrong top hits below
        # the threshold too) stay within the budget — on every calibration draw
        cands_t = np.unique(np.round(np.concatenate([tc, [0.0]]) - 1e-6, 6))
        in_draw = np.asarray([d for d, _ in cal_in_rows])
        ok = [t for t in cands_t if max(np.mean(tc[in_draw == d] < t) for d in draws) <= args.cal_false_abstain]
        threshold = float(max(ok))
        source = f"calibrated: ≤ {args.cal_false_abstain:.1%} of in-library abstain on each of {len(draws)} draw(s)"
    elif args.calibrate or args.calibrate_margin or args.calibrate_joint:
        # largest threshold whose false rejects (right top hits below it) stay within the budget; the test's
        # "false abstain" also counts wrong top hits below the threshold, so it runs above this budget
        cands_t = np.unique(np.round(np.concatenate([ic[correct], [0.0]]) - 1e-6, 6))
        ok = [t for t in cands_t if np.mean(correct & (ic < t)) <= args.cal_false_abstain]
        threshold, source = float(max(ok)), f"calibrated: ≤ {args.cal_false_abstain:.0%} right hits rejected"
    else:
        threshold, source = float(xsearch.DEFAULT_THRESHOLD), "shipped default"
    print(
        f"[{tier}] threshold {threshold:.3f} ({source}): calibration false abstain {np.mean(tc < threshold):.3f} "
        f"(of them right top hits {np.mean(correct & (ic < threshold)):.3f}), wrong accepted "
        f"{np.mean(~correct & (tc >= threshold)):.3f}, left-out abstained {np.mean(oc < threshold):.3f}",
        flush=True,
    )

    in_draw_a = np.asarray([d for d, _ in cal_in_rows])
    out_draw_a = np.asarray(out_draw)
    per_draw = {}
    for d in draws:
        sel, osel = in_draw_a == d, out_draw_a == d
        per_draw[str(d)] = {
            "false_abstain": float(np.mean(tc[sel] < threshold)),
            "right_rejected": float(np.mean(correct[sel] & (ic[sel] < threshold))),
            "wrong_accepted": float(np.mean(~correct[sel] & (tc[sel] >= threshold))),
            "left_out_abstained": float(np.mean(oc[osel] < threshold)) if osel.any() else float("nan"),
        }
        if len(draws) > 1:
            print(f"[{tier}]   calibration draw {d}: {json.dumps(per_draw[str(d)])}", flush=True)
    if args.calib_only:
        return {"threshold": threshold, "calibration_only": True, "calibration_draws": per_draw}
    # ---- test --------------------------------------------------------------------------------------------------
    test_seed = args.seed if args.test_seed is None else args.test_seed  # another draw of the test queries
    rng = np.random.default_rng(test_seed + 1000 * (tier == "harsh"))
    single = [test_pool[i] for i in rng.choice(len(test_pool), size=min(args.singles, len(test_pool)), replace=False)]
    top1 = top5 = abstained = in_cands = 0
    group_top = group_top_right = 0
    top1_el = abstained_el = n_el = 0
    misses: list[dict[str, Any]] = []
    for n, e in enumerate(single):
        data = _make_query([e], peaks, rng, dist)
        hits = query(data, threshold)
        ids = [h["payload"]["structure_id"] for h in hits]
        abstained += not hits
        # the group reading (session 10): a top hit with library twins (hit["group"]) names an isostructural group,
        # not one phase — counted apart, as "not identified as one phase"
        group_top += bool(hits and hits[0].get("group", {}).get("size", 1) > 1)
        group_top_right += bool(hits and hits[0].get("group", {}).get("size", 1) > 1 and ids[0] == e.id)
        top1 += ids[:1] == [e.id]
        top5 += e.id in ids[:5]
        if e.id not in ids[:5] and len(misses) < 25:
            misses.append(
                {"truth": e.id, "formula": e.formula, "got": [(h["payload"]["formula"], h["score"]) for h in hits[:3]]}
            )
        # vector stage: is the true phase among the candidates handed to the re-rank?
        qp = xsearch.prepare_query(read_pattern_bytes(data, "q.xy", wavelength="CuKa1"))
        vcands = xsearch.vector_candidates(service.store, encoder, qp)
        in_cands += e.id in {h.payload.get("structure_id") for h in vcands}
        if n < args.elements_n:
            n_el += 1
            hits_el = query(data, threshold, elements=list(e.elements), timed=False)
            abstained_el += not hits_el
            top1_el += [h["payload"]["structure_id"] for h in hits_el][:1] == [e.id]
    ns = len(single)

    def mixture_rate(k: int, count: int) -> float:
        ok = 0
        for _ in range(count):
            phases = [test_pool[i] for i in rng.choice(len(test_pool), size=k, replace=False)]
            ids = [h["payload"]["structure_id"] for h in query(_make_query(phases, peaks, rng, dist), threshold)[:5]]
            ok += all(p.id in ids for p in phases)
        return ok / count if count else float("nan")

    mix2 = mixture_rate(2, args.mix2)
    mix3 = mixture_rate(3, args.mix3)
    mix4 = mixture_rate(4, args.mix4)
    mix5 = mixture_rate(5, args.mix5)
    # textured films (dev set: the family the broad-line / few-line refinements were developed on): single-element
    # fcc/bcc/hcp library phases, strong texture, broad lines; right = a single-element phase of the same space
    # group at rank 1 (isostructural elements with nearly the same cell cannot be told apart from 2–5 lines)
    films = [e for e in test_pool if len(e.elements) == 1 and e.spacegroup_number in (225, 229, 194)]
    film_rank1 = film_accepted = 0
    n_films = min(args.films, len(films)) if films else 0
    frng = np.random.default_rng(args.seed + 77)  # its own stream: the other test queries stay as they were
    for e in [films[i] for i in frng.choice(len(films), size=n_films, replace=True)] if n_films else []:
        from bench.xrd_measured import candidate, textured_film
        from training.xrd_augment import pattern_range

        if e.id not in _CANDS:
            _CANDS[e.id] = candidate(e, peaks[e.id])
        xf, yf = pattern_range(textured_film(_CANDS[e.id], frng))
        fhits = query(_as_text(xf, yf), 0.0, timed=False)
        top: dict[str, Any] = fhits[0]["payload"] if fhits else {}
        film_ok = bool(len(top.get("elements", [])) == 1 and top.get("spacegroup_number") == e.spacegroup_number)
        film_rank1 += int(film_ok)
        film_accepted += int(film_ok and float(fhits[0]["confidence"]) >= threshold)
    abst = abst_el = abst_group = 0
    # the false accepts of absent phases, by kind: every left-out structure stays in the test, its near-twins stay in
    # the index (the hard case the issue names). "same phase indexed": another entry of the same formula and space
    # group is indexed (a polytype or a duplicate cell; the phase is then arguably not absent) — counted apart
    indexed_phases = {(x.formula, x.spacegroup_number) for x in inside}
    kinds = {"same_phase_indexed": 0, "isostructural_same_spacegroup": 0, "other": 0}
    # and apart from the kinds: how many of the accepted hits have a near-identical pattern to the absent phase's own
    # (xrd_phase.pattern_similarity ≥ TWIN_SIM: within ±3 % strain, the pattern alone cannot tell them apart)
    near_identical = 0
    same_phase_n = same_phase_abst = 0
    # by the absent structure's best pattern similarity to the indexed library (the search plays no part in it)
    best_sim = best_library_similarity(test_out, inside, peaks)
    by_sim: dict[str, dict[str, int]] = {name: {"n": 0, "abstained": 0} for _, name in SIM_BINS}
    for e in test_out:
        data = _make_query([e], peaks, rng, dist)
        hits_out = query(data, threshold, timed=False)
        abst += not hits_out
        abst_group += bool(not hits_out or hits_out[0].get("group", {}).get("size", 1) > 1)
        sim_bin = by_sim[_sim_bin(best_sim.get(e.id, 0.0))]
        sim_bin["n"] += 1
        sim_bin["abstained"] += not hits_out
        same = (e.formula, e.spacegroup_number) in indexed_phases
        same_phase_n += same
        same_phase_abst += same and not hits_out
        if hits_out:
            top = hits_out[0]["payload"]
            if top.get("formula") == e.formula and top.get("spacegroup_number") == e.spacegroup_number:
                kinds["same_phase_indexed"] += 1
            elif top.get("spacegroup_number") == e.spacegroup_number:
                kinds["isostructural_same_spacegroup"] += 1
            else:
                kinds["other"] += 1
            near_identical += _similarity(peaks, e.id, str(top.get("structure_id"))) >= xp_twin_sim()
        abst_el += not query(data, threshold, elements=list(e.elements), timed=False)
    nt = max(len(test_out), 1)
    return {
        "distortion": dist if isinstance(dist, str) else dist.__dict__,
        "threshold": threshold,
        "threshold_source": source,
        "single_phase": {
            "n": ns,
            "top1": top1 / ns,
            "top5": top5 / ns,
            "vector_recall": in_cands / ns,
            "false_abstain": abstained / ns,
            "top_hit_is_a_group": group_top / ns,
            "top_hit_is_a_group_and_right": group_top_right / ns,
            "n_elements": n_el,
            "top1_elements": top1_el / max(n_el, 1),
            "false_abstain_elements": abstained_el / max(n_el, 1),
        },
        "mixtures": {
            "two": mix2,
            "n2": args.mix2,
            "three": mix3,
            "n3": args.mix3,
            "four": mix4,
            "n4": args.mix4,
            "five": mix5,
            "n5": args.mix5,
        },
        "left_out_phases": {
            "n": len(test_out),
            "abstain_rate": abst / nt,
            "abstain_rate_elements": abst_el / nt,
            "abstained_or_group_answer": abst_group / nt,
            "false_accepts_by_kind": kinds,
            "false_accepts_near_identical_pattern": near_identical,
            "same_phase_indexed": same_phase_n,
            "abstain_rate_without_same_phase_indexed": (abst - same_phase_abst) / max(nt - same_phase_n, 1),
            "by_best_library_similarity": by_sim,
            # the most any method could abstain if the near-identical ones stay as they are (the pattern cannot
            # tell them from their indexed twin) and every other absent phase were abstained on
            "ceiling_near_identical_as_is": (
                by_sim["near_identical_indexed"]["abstained"] + nt - by_sim["near_identical_indexed"]["n"]
            )
            / nt,
        },
        "films": {
            "n": n_films,
            "rank1": film_rank1 / max(n_films, 1),
            "rank1_accepted": film_accepted / max(n_films, 1),
        },
        "calibration": {
            "n_in": len(cal_in),
            "n_out": len(cal_out),
            "false_abstain": float(np.mean(tc < threshold)),
            "false_abstain_right_top_hit": float(np.mean(correct & (ic < threshold))),
            "wrong_accepted": float(np.mean(~correct & (tc >= threshold))),
            "left_out_abstained": float(np.mean(oc < threshold)),
        },
        "query_ms": {
            "p50": round(statistics.median(lat), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "note": "single-phase queries: read text + preprocess + encode + search + re-rank + mixtures; CPU shared",
        },
        "misses": misses,
        "confidence_model": calibrated,
    }


def test_singles(inside: list[Any], args: argparse.Namespace, seeds: list[int], tier: str = "measured") -> set[str]:
    """The in-library structures the test draws of ``seeds`` query as single phases (``run_tier``'s first draws:
    the calibration / test split of ``inside``, then each test seed's choice of singles)."""
    rng = np.random.default_rng(args.seed + 1000 * (tier == "harsh") + 1)
    perm = rng.permutation(len(inside))
    pool = [inside[i] for i in perm[args.calib :]]
    out: set[str] = set()
    for seed in seeds:
        r = np.random.default_rng(seed + 1000 * (tier == "harsh"))
        out |= {pool[i].id for i in r.choice(len(pool), size=min(args.singles, len(pool)), replace=False)}
    return out


def calibration_fold(inside: list[Any], args: argparse.Namespace) -> list[Any]:
    """Calibration fold k (``--calib-fold``, session 11): more absent structures for the calibration than the
    116 of the left-out calibration half, without touching the test. A hash (its own salt) assigns each indexed
    structure to fold k ∈ 1…1/frac with probability ``--calib-fold-frac``; the fold's structures are held out of that
    run's index and queried as absent, against the fold's own library (as the eval holds its left-out phases out).
    Never in a fold: the test singles of the test seeds ``--calib-fold-exclude-seeds`` (so no test query's
    structure is ever a calibration query in another role). The left-out test half is not in ``inside`` at all."""
    frac = float(args.calib_fold_frac)
    k = int(args.calib_fold)
    seeds = [int(x) for x in str(args.calib_fold_exclude_seeds).split(",") if x]
    excluded = test_singles(inside, args, seeds)
    lo, hi = (k - 1) * frac, k * frac
    return [e for e in inside if lo <= _hash_fraction("xrd-calib-fold", e.id) < hi and e.id not in excluded]


def _as_text(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = ["# simulated measurement, 2theta (deg, Cu Ka1) intensity (counts)"]
    lines += [f"{a:.3f}\t{b:.0f}" for a, b in zip(x, y, strict=True)]
    return "\n".join(lines).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller query sets")
    ap.add_argument("--singles", type=int, default=1000)
    ap.add_argument("--mix2", type=int, default=200)
    ap.add_argument("--mix3", type=int, default=100)
    ap.add_argument("--calib", type=int, default=300, help="in-library calibration queries")
    ap.add_argument("--mix4", type=int, default=0)
    ap.add_argument("--mix5", type=int, default=0)
    ap.add_argument("--tier", choices=["measured", "realistic", "harsh", "both", "all"], default="measured")
    ap.add_argument("--calibrate", action="store_true", help="fit the confidence model on the calibration split")
    ap.add_argument(
        "--calibrate-margin",
        action="store_true",
        help="fit the final model (features + competitor margin, xrd_phase.FINAL_COEF) on the calibration split",
    )
    ap.add_argument(
        "--calibrate-joint",
        action="store_true",
        help="fit the final model jointly (every feature + the competitor margin + elements, xrd_phase.FINAL_COEF), "
        "pooled over --calib-draws",
    )
    ap.add_argument(
        "--calib-draws",
        default="0",
        help="comma-separated calibration draws (0 = the usual one; others: the same calibration structures with "
        "other distortions); with --cal-count-all the threshold keeps the budget on every draw",
    )
    ap.add_argument(
        "--margin-twin-sim",
        type=float,
        default=None,
        help="the competitor margin's twin line (xrd_phase.MARGIN_TWIN_SIM) for this process",
    )
    ap.add_argument(
        "--base-model",
        action="store_true",
        help="report the single-phase model alone (final model = CONF_COEF, margin weight 0; shipped since session 8)",
    )
    ap.add_argument("--threshold", type=float, default=None, help="use this abstain threshold (no calibration)")
    ap.add_argument("--cal-false-abstain", type=float, default=0.03, help="false-abstain budget on calibration")
    ap.add_argument(
        "--cal-count-all",
        action="store_true",
        help="the budget counts every in-library abstain (wrong top hits too, as the test does), not right hits only",
    )
    ap.add_argument("--elements-n", type=int, default=200, help="single queries repeated with elements=only")
    ap.add_argument("--calib-out-reps", type=int, default=2, help="calibration queries per absent structure")
    ap.add_argument("--films", type=int, default=0, help="textured-film queries (dev set, single-element phases)")
    ap.add_argument("--calib-elements", type=int, default=100, help="calibration in-library queries with elements")
    ap.add_argument("--calib-only", action="store_true", help="stop after calibration (feature studies)")
    ap.add_argument("--calib-mix", type=int, default=150, help="mixture calibration queries (with --calibrate)")
    ap.add_argument(
        "--dump-features",
        type=Path,
        default=None,
        help="write every calibration query's listed hits (ids, features) here",
    )
    ap.add_argument(
        "--oracle",
        action="store_true",
        help="with --dump-features: also fit each absent calibration phase's own structure to its query (study)",
    )
    ap.add_argument(
        "--calib-fold",
        type=int,
        default=0,
        help="calibration fold k ≥ 1 (with --calib-only): hold this fold's structures out of the index and use them as "
        "the absent calibration phases (session 11; see calibration_fold)",
    )
    ap.add_argument("--calib-fold-frac", type=float, default=0.05, help="share of the indexed structures per fold")
    ap.add_argument(
        "--calib-fold-exclude-seeds",
        default="20261121,20261201,20261202,20261209",
        help="test seeds whose single-phase structures never enter a calibration fold",
    )
    ap.add_argument("--leftout", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--test-seed", type=int, default=None, help="seed of the test draws only (default: --seed)")
    ap.add_argument(
        "--test-seeds",
        default=None,
        help="comma-separated test seeds run one after the other on the same index (needs --threshold; the "
        "calibration queries run with the first only); results under tiers['<tier>@<seed>']",
    )
    ap.add_argument("--encoder", default=None, help="encoder for the xrd vector (default: the collection's)")
    ap.add_argument("--data-dir", type=Path, default=None, help="where the peak cache lives (default: settings)")
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_xrd.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.singles, args.mix2, args.mix3, args.calib, args.elements_n = 200, 40, 20, 100, 100

    import warnings

    warnings.filterwarnings("ignore")
    from matsearch.core.settings import Settings, get_settings
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd import build as xbuild
    from matsearch.indexer.xrd.simulate import cache_dir
    from matsearch.server.service import Service
    from training.xrd_augment import Distortion

    if args.encoder:  # an alternative encoder: the collection spec follows its vector size (this process only)
        import dataclasses

        from matsearch.encoders import get_encoder
        from matsearch.store import collections as colls

        xbuild.ENCODER = args.encoder
        spec = colls.COLLECTIONS["xrd"]
        vec = dataclasses.replace(spec.vectors[0], size=get_encoder(args.encoder, Settings()).dim)
        colls.COLLECTIONS["xrd"] = dataclasses.replace(spec, vectors=(vec,))
        colls.VECTOR_ENCODERS[("xrd", "xrd")] = args.encoder
    main_settings = get_settings() if args.data_dir is None else Settings(data_dir=args.data_dir)
    if args.margin_twin_sim is not None:
        from matsearch.search import xrd_phase as xp

        xp.MARGIN_TWIN_SIM = args.margin_twin_sim
    if args.base_model:
        from matsearch.search import xrd_phase as xp

        xp.FINAL_COEF = np.r_[xp.CONF_COEF, 0.0]
        xp.FINAL_BIAS, xp.FINAL_ELEMENTS_PRIOR_LOGIT = xp.CONF_BIAS, xp.ELEMENTS_PRIOR_LOGIT
    t0 = time.time()
    lib = load_library(cache_dir=main_settings.data_dir / "cache")
    print(f"library: {len(lib)} structures ({time.time() - t0:.1f} s)", flush=True)
    entries = list(lib)
    peaks, errors = xbuild.simulate_entries(entries, main_settings.data_dir, workers=2, progress=True)
    entries = [e for e in entries if e.id in peaks]
    inside = [e for e in entries if not _left_out(e.id, args.leftout)]
    outside = [e for e in entries if _left_out(e.id, args.leftout)]
    print(f"indexed {len(inside)}, left out {len(outside)}, simulation errors {len(errors)}", flush=True)
    if args.calib_fold:
        fold = calibration_fold(inside, args)
        args.fold_out = fold
        gone = {e.id for e in fold}
        # ``run_tier`` draws the calibration / test split from this (unchanged) list; the index leaves the fold out
        index_entries = [e for e in inside if e.id not in gone]
        print(f"calibration fold {args.calib_fold}: {len(fold)} more structures held out of the index", flush=True)
    else:
        index_entries = inside

    tmp = Path(tempfile.mkdtemp(prefix="xrd-eval-"))
    (tmp / "cache").mkdir()
    os.symlink(cache_dir(main_settings.data_dir).resolve(), cache_dir(tmp))
    service = Service(Settings(data_dir=tmp))
    t0 = time.time()
    xbuild.ingest_entries(service, index_entries, progress=False)
    index_s = time.time() - t0
    print(f"index built in {index_s:.1f} s", flush=True)
    encoder = service.encoder(xbuild.ENCODER)
    threshold_fixed = args.threshold
    tiers = {"both": ["realistic", "harsh"], "all": ["measured", "realistic", "harsh"]}.get(args.tier, [args.tier])
    cal_out = [e for e in outside if _hash_fraction("xrd-eval-leftout-split", e.id) < 0.5]
    test_out = [e for e in outside if _hash_fraction("xrd-eval-leftout-split", e.id) >= 0.5]
    result: dict[str, Any] = {
        "library_structures": len(entries),
        "indexed": len(inside),
        "left_out": len(outside),
        "left_out_calibration": len(cal_out),
        "left_out_test": len(test_out),
        "encoder": xbuild.ENCODER,
        "index_build_s": round(index_s, 1),
        "seed": args.seed,
        "tiers": {},
    }
    rows: list[tuple[str, str]] = [
        ("library (indexed / left out: calibration + test)", f"{len(inside)} / {len(cal_out)} + {len(test_out)}"),
        ("encoder", xbuild.ENCODER),
    ]
    seeds: list[int | None] = [args.test_seed]
    if args.test_seeds:
        if threshold_fixed is None:
            ap.error("--test-seeds needs --threshold")
        seeds = [int(x) for x in args.test_seeds.split(",")]
    runs = [(tier, seed) for tier in tiers for seed in seeds]
    for n_run, (tier_name, seed) in enumerate(runs):
        dist: Any = {"realistic": Distortion.realistic(), "harsh": Distortion(), "measured": "measured"}[tier_name]
        args.test_seed = seed
        args.skip_calibration_queries = n_run > 0 and args.test_seeds is not None
        tier = tier_name if len(seeds) == 1 else f"{tier_name}@{seed}"
        result["tiers"][tier] = res = run_tier(
            tier_name, dist, args, service, encoder, peaks, inside, cal_out, test_out, threshold_fixed
        )
        if args.calib_only:
            continue
        sp, lo = res["single_phase"], res["left_out_phases"]
        rows += [
            (f"[{tier}] abstain threshold", f"{res['threshold']:.3f} ({res['threshold_source']})"),
            (f"[{tier}] single phase top-1 (n={sp['n']})", f"{sp['top1']:.3f}   target ≥ 0.90"),
            (f"[{tier}] single phase top-5 (n={sp['n']})", f"{sp['top5']:.3f}   target ≥ 0.98"),
            (f"[{tier}] vector stage recall (true phase among candidates)", f"{sp['vector_recall']:.3f}"),
            (f"[{tier}] false abstain (in-library)", f"{sp['false_abstain']:.3f}   target ≤ 0.05"),
            (f"[{tier}]   ... with elements=only its elements", f"{sp['false_abstain_elements']:.3f}"),
            (f"[{tier}] top-1 with elements=only its elements", f"{sp['top1_elements']:.3f}"),
            (f"[{tier}] 2-phase mixtures, both in top-5 (n={res['mixtures']['n2']})", f"{res['mixtures']['two']:.3f}"),
            (f"[{tier}] 3-phase mixtures, all in top-5 (n={res['mixtures']['n3']})", f"{res['mixtures']['three']:.3f}"),
            (f"[{tier}] 4-phase mixtures, all in top-5 (n={res['mixtures']['n4']})", f"{res['mixtures']['four']:.3f}"),
            (f"[{tier}] 5-phase mixtures, all in top-5 (n={res['mixtures']['n5']})", f"{res['mixtures']['five']:.3f}"),
            (
                f"[{tier}] textured films (dev), same-type element rank 1 / and accepted (n={res['films']['n']})",
                f"{res['films']['rank1']:.3f} / {res['films']['rank1_accepted']:.3f}",
            ),
            (f"[{tier}] left-out phases abstained (n={lo['n']})", f"{lo['abstain_rate']:.3f}   target ≥ 0.90"),
            (f"[{tier}]   ... abstained or answered by a group", f"{lo['abstained_or_group_answer']:.3f}"),
            (
                f"[{tier}] in-library top hit is an isostructural group (of them right)",
                f"{sp['top_hit_is_a_group']:.3f} ({sp['top_hit_is_a_group_and_right']:.3f})",
            ),
            (f"[{tier}]   ... with elements=only its elements", f"{lo['abstain_rate_elements']:.3f}"),
            (f"[{tier}]   false accepts by kind (top hit)", json.dumps(lo["false_accepts_by_kind"])),
            (
                f"[{tier}]   ... of them a near-identical pattern (similarity ≥ TWIN_SIM)",
                str(lo["false_accepts_near_identical_pattern"]),
            ),
            (
                f"[{tier}]   ... abstained, less the {lo['same_phase_indexed']} with formula + space group indexed",
                f"{lo['abstain_rate_without_same_phase_indexed']:.3f}",
            ),
            (
                f"[{tier}]   ... abstained by the absent phase's best pattern similarity to the index",
                ", ".join(f"{k} {v['abstained']}/{v['n']}" for k, v in lo["by_best_library_similarity"].items()),
            ),
            (
                f"[{tier}]   ... ceiling with the near-identical ones as they are",
                f"{lo['ceiling_near_identical_as_is']:.3f}",
            ),
            (f"[{tier}] query p50 / p95 (ms)", f"{res['query_ms']['p50']} / {res['query_ms']['p95']}"),
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {args.out}")
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
