"""The STEM search's calibrated confidence (``stem_physics.candidate_confidence``, session 11): near-identical
projections are one group, the margin to the best structure of another group counts, and ``search_stem`` abstains
by the top candidate's confidence (an explicit score threshold keeps the score rule alone)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matsearch.core.settings import Settings
from matsearch.encoders.stem import lattice_harmonics, lattice_polar
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.build import build_stem_points, library_params, view_point_id
from matsearch.indexer.stem.simulate import SimParams, render
from matsearch.indexer.stem.views import compute_views
from matsearch.indexer.structures import StructureEntry, load_library
from matsearch.search import stem_physics as P
from matsearch.search.figures import search_image
from matsearch.server.service import Service


@pytest.fixture(scope="module")
def entries() -> list[StructureEntry]:
    return list(load_library(("ase", "cod", "dans_diffraction")))[:12]


def _clean_refs(entries: list[StructureEntry]) -> np.ndarray:
    views = [vs[0] for e in entries if (vs := compute_views([e]))]
    refs = []
    for v in views:
        img = render(v.projection, library_params(view_point_id(v.structure_id, v.zone)))
        refs.append(lattice_harmonics(lattice_polar(img, LIBRARY_PX)))
    return np.stack(refs)


def test_group_margin_skips_near_identical_projections(entries: list[StructureEntry]) -> None:
    """The top view's near-identical twin (another structure with the same projection) is in its group: the margin
    is taken to the best *unrelated* structure, not to the twin 0.005 behind; the confidence rises with it."""
    refs = _clean_refs(entries)
    rw = P.ring_weighted(refs)
    rr = P._corr(rw[:1], rw)[0]
    unrelated = [i for i in range(1, len(refs)) if rr[i] < 0.5][:4]
    assert len(unrelated) >= 2
    clean = np.concatenate([refs[:1], refs[:1], refs[unrelated]])  # top, its twin (same projection), the others
    structures = np.arange(len(clean))  # every candidate a different structure
    abstain = np.array([0.80, 0.795] + [0.72] + [0.60] * (len(unrelated) - 1))
    margins, in_group = P.group_margins(abstain, P.ring_weighted(clean), structures, np.array([0]))
    assert margins[0] == pytest.approx(0.08)  # 0.80 - 0.72, not 0.80 - 0.795
    assert in_group[0].tolist() == [True, True] + [False] * len(unrelated)
    motif = np.full(len(clean), np.nan)
    p, _ = P.candidate_confidence(abstain, motif, clean, structures, np.array([0]))
    plain = P.confidence(P.confidence_features(abstain[:1], np.array([0.005]), None))
    assert p[0] > plain[0]  # the same score with the twin counted as a competitor is weaker evidence
    # the twin's own margin is the same (the top is in its group); an unrelated candidate's is negative
    m2, _ = P.group_margins(abstain, P.ring_weighted(clean), structures, np.array([1, 2]))
    assert m2[0] == pytest.approx(0.075) and m2[1] == pytest.approx(0.72 - 0.80)


def test_confidence_is_monotone_in_its_evidence() -> None:
    assert (P.CONF_COEF >= 0).all() and len(P.CONF_COEF) == len(P.CONF_FEATURES)
    assert P.CONF_COEF[P.CONF_FEATURES.index("group_margin")] > 0
    x = P.confidence_features(np.array([0.8, 0.8, 0.9]), np.array([0.01, 0.08, 0.08]), np.array([np.nan, 0.9, 0.9]))
    p = P.confidence(x)
    assert ((0 < p) & (p < 1)).all() and p[0] < p[1] <= p[2]
    assert x[0, 2] == P.MOTIF_REF  # motif not compared: neutral


def test_fit_keeps_coefficients_non_negative() -> None:
    from bench.stem_confidence import _matching_threshold, fit_logistic_nonneg

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    z = 2.0 * x[:, 0] + 1.0 * x[:, 1] - 1.5 * x[:, 2] + 0.3
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(float)
    coef, bias = fit_logistic_nonneg(x, y, l2=1e-3)
    assert coef[2] == 0.0  # fitted negative: fixed at 0
    assert coef[0] > coef[1] > 0.3
    p = np.linspace(0, 1, 101)
    rows = np.column_stack([np.full(101, 0.9), np.ones(101)])  # abstain score, lattice measured
    t = _matching_threshold(rows, p, 0.67, 0.1)
    assert np.mean(p < t) <= 0.1 < np.mean(p <= t + 1e-9) + 0.02
    rows[:, 1] = 0.0  # no measured lattice: the score rule answers them all whatever the threshold
    assert _matching_threshold(rows, p, 0.67, 0.0) == 1.0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, entries: list[StructureEntry]) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("stemconf")
    svc = Service(Settings(data_dir=Path(data)))
    build_stem_points(svc, entries, cache_dir=Path(data) / "cache", workers=1)
    yield svc
    svc.close()


def test_search_abstains_by_the_top_candidates_confidence(
    service: Service, entries: list[StructureEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    view = next(vs[0] for e in entries if (vs := compute_views([e])))
    px = 0.2
    p = SimParams(size=(160, 160), px=px, mode="haadf", thickness=150.0, rotation=21.0, dose=400.0, seed=5)
    buf = io.BytesIO()
    np.save(buf, render(view.projection, p))
    data = buf.getvalue()

    def run(threshold: float | None) -> list:
        return search_image(
            service.store,
            service.settings,
            data,
            filename="q.npy",
            collection="stem",
            nm_per_px=px / 10,
            limit=5,
            score_threshold=threshold,
        )

    monkeypatch.setattr(P, "CONF_THRESHOLD", 0.0)
    hits = run(None)
    assert hits and hits[0].payload["structure_id"] == view.structure_id
    match = hits[0].payload["lattice_match"]
    assert 0.0 < match["confidence"] < 1.0 and isinstance(match["near_identical_hits"], list)
    monkeypatch.setattr(P, "CONF_THRESHOLD", 1.0)  # nothing is that confident: the default rule abstains ...
    assert run(None) == []
    assert run(0.5)  # ... an explicit score threshold applies the score rule alone


def test_eval_summary_reports_both_rules_and_the_ceiling() -> None:
    from bench.stem_abstain import summary

    rows = [
        {
            "confidence_in": 0.9,
            "confidence_absent": 0.1,
            "answered_in_library_conf": True,
            "answered_absent_conf": False,
            "answered_in_library": True,
            "answered_absent": True,
            "nearest_other_view": 0.5,
            "abstain_scores_absent": [0.7, 0.6],
            "true_abstain_score": 0.9,
        },
        {
            "confidence_in": 0.3,
            "confidence_absent": 0.6,
            "answered_in_library_conf": False,
            "answered_absent_conf": True,
            "answered_in_library": True,
            "answered_absent": True,
            "nearest_other_view": 0.97,
            "abstain_scores_absent": [0.8, 0.6],
            "true_abstain_score": 0.75,
        },
    ]
    s = summary(rows, 0.67)
    assert s["absent_abstained"] == 0.5 and s["false_reject"] == 0.5
    assert s["score_rule"] == {"threshold": 0.67, "absent_abstained": 0.0, "false_reject": 0.0}
    c = s["ceiling"]
    assert c["nearest_other_view_ge_0.95"] == 0.5 and c["absent_abstained_where_nearest_below_0.95"] == 1.0
    assert c["absent_top_scores_at_least_the_truth"] == 0.5
    assert sum(b["n"] for b in s["reliability"]) == 4


def test_confidence_compares_only_candidates_that_can_matter() -> None:
    """``candidate_confidence`` correlates the rows only with candidates within GROUP_MARGIN_CAP of them (and every
    view of their structures): the margins, hence the confidences, are those of the comparison with all of them."""
    rng = np.random.default_rng(1)
    c, k, m = 150, 12, 9
    clean = (rng.normal(size=(c, k, m)) + 1j * rng.normal(size=(c, k, m))).astype(np.complex64)
    clean[40:60] = clean[0] + 0.05 * clean[40:60]  # near-identical projections of view 0
    structures = rng.integers(0, 60, size=c)
    abstain = rng.uniform(0.3, 0.9, size=c)
    motif = np.where(rng.random(c) < 0.3, np.nan, rng.uniform(0.8, 1.0, size=c))
    rows = np.array([int(np.argmax(abstain)), 0, 5, 41])
    p, in_group = P.candidate_confidence(abstain, motif, clean, structures, rows)
    margins, full = P.group_margins(abstain, P.ring_weighted(clean), structures, rows)
    assert np.allclose(p, P.confidence(P.confidence_features(abstain[rows], margins, motif[rows])))
    assert np.array_equal(in_group[:, rows], full[:, rows])
