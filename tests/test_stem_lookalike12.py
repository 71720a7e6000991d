"""``bench/eval_stem._lookalike`` (session 12): a real crop's ceiling — is the top candidate the same view with its
compound present and removed, and how alike is the absent run's top view to the compound's best view (clean
references compared as the confidence's groups compare them)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bench.eval_stem import _lookalike
from matsearch.encoders.stem import lattice_harmonics, lattice_polar
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.build import library_params, view_point_id
from matsearch.indexer.stem.simulate import render
from matsearch.indexer.stem.views import compute_views
from matsearch.indexer.structures import load_library
from matsearch.search.stem_physics import ring_weighted


def _refs(n: int) -> np.ndarray:
    entries = list(load_library(("ase", "cod", "dans_diffraction")))[:8]
    views = [vs[0] for e in entries if (vs := compute_views([e]))][:n]
    imgs = [render(v.projection, library_params(view_point_id(v.structure_id, v.zone))) for v in views]
    return ring_weighted(np.stack([lattice_harmonics(lattice_polar(i, LIBRARY_PX)) for i in imgs]))


def _run(cand: list[int], abstain: list[float], n: int) -> dict:
    score = np.full(n, -np.inf)
    score[cand] = abstain
    return {"cand": np.array(cand), "sc": SimpleNamespace(abstain=np.array(abstain)), "score": score}


def test_lookalike_reports_the_same_top_and_its_similarity() -> None:
    g = _refs(4)
    n = len(g)
    g = np.concatenate([g, g[:1]])  # view 4: a copy of view 0's reference (a near-identical look-alike)
    mine = np.zeros(n + 1, dtype=bool)
    mine[0] = True  # the compound: view 0
    # present: the look-alike (view 4) ranks above the compound; absent: the same look-alike is the top
    present = _run([4, 0, 1], [0.9, 0.89, 0.5], n + 1)
    absent = _run([4, 1], [0.9, 0.5], n + 1)
    r = _lookalike(present, absent, mine, g)
    assert r["absent_top_same"] is True
    assert r["lookalike_corr"] is not None and r["lookalike_corr"] > 0.999
    # absent top an unrelated view: not the present top, and less alike than the copy
    absent2 = _run([1, 2], [0.9, 0.5], n + 1)
    r2 = _lookalike(present, absent2, mine, g)
    assert r2["absent_top_same"] is False
    assert r2["lookalike_corr"] < r["lookalike_corr"]
    # the compound never scored: no similarity
    r3 = _lookalike(_run([4, 1], [0.9, 0.5], n + 1), absent, mine, g)
    assert r3["lookalike_corr"] is None
