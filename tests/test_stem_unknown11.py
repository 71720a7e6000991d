"""Unknown pixel size, stage 1 -> re-rank set (session 11, ``stem_physics.prefilter_unknown``): the views re-ranked
are those whose clean reference spectrum fits the query's at some scale of its fallback grid, wherever the
descriptor's cosine put them; ``PairCosts`` can rank the spot pairings by lattice order as well as shape."""

from __future__ import annotations

import numpy as np

from matsearch.encoders.stem import lattice_harmonics, lattice_polar
from matsearch.encoders.stem_lattice import PairCosts, Spots
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.build import library_params, view_point_id
from matsearch.indexer.stem.simulate import SimParams, render
from matsearch.indexer.stem.views import compute_views
from matsearch.indexer.structures import load_library
from matsearch.search import stem as Q
from matsearch.search import stem_physics as P


def test_unknown_size_prefilter_keeps_the_true_view_placed_last() -> None:
    entries = list(load_library(("ase", "cod", "dans_diffraction")))[:30]
    views = [vs[0] for e in entries if (vs := compute_views([e]))]  # one view per structure
    refs = []
    for v in views:
        img = render(v.projection, library_params(view_point_id(v.structure_id, v.zone)))
        refs.append(lattice_harmonics(lattice_polar(img, LIBRARY_PX)))
    clean = np.stack(refs)
    # hcp Co [001]; without a pixel size the [001] views of the cubic metals here are one square pattern at
    # different scales (a tie the spectrum cannot break, nor should it), so a hexagonal view is the query
    true = next(i for i, v in enumerate(views) if v.structure_id == "ase-Co")
    px = 0.31  # Å/px, not told to the search
    p = SimParams(size=(200, 200), px=px, mode="haadf", thickness=150.0, rotation=33.0, dose=300.0, seed=3)
    arr = render(views[true].projection, p)
    work, factor, fallback = Q.unknown_work(arr)
    qf = P.unknown_features(work, factor, fallback)
    order = [i for i in range(len(views)) if i != true] + [true]  # stage 1 ranked the true view last
    keep = 5
    kept = np.asarray(order)[P.prefilter_unknown(qf, clean[order], keep)]
    assert len(kept) == keep
    assert true in kept.tolist()  # the first `keep` by stage-1 order would not hold it
    # nothing to choose, or a known-size query: every candidate is kept, in stage-1 order
    assert P.prefilter_unknown(qf, clean[:keep], keep).tolist() == list(range(keep))
    qk = P.known_features(render(views[true].projection, SimParams(size=(160, 160), seed=1)), LIBRARY_PX)
    assert P.prefilter_unknown(qk, clean, keep).tolist() == list(range(len(clean)))
    # search_stem fetches a larger pool per hypothesis than it re-ranks
    assert Q.UNKNOWN_POOL * Q.UNKNOWN_HYPOTHESES > Q.UNKNOWN_RERANK_K >= Q.UNKNOWN_K * Q.UNKNOWN_HYPOTHESES


def _hex(a: float, n: int, rot: float = 0.0, stretch: float = 0.0) -> np.ndarray:
    """The n shortest half-plane reciprocal vectors of order 1 of a hexagonal lattice (|g| = 2/(√3 a))."""
    g = 2.0 / (np.sqrt(3.0) * a)
    ang = np.radians(rot + np.array([0.0, 60.0, 120.0]))[:n]
    v = np.stack([np.cos(ang), np.sin(ang)], axis=1) * g
    v[0] *= 1.0 + stretch
    return v


def test_pairings_by_lattice_order_as_well_as_shape() -> None:
    """A perfectly regular hexagonal query pair against a reference whose strongest ({100}) spots are 3 % irregular
    (as a simulated reference is) and whose weaker {110} spots (√3 further out) are regular: by shape alone the {110}
    pairing wins and its scale (√3 off) is the one scored first; by order as well, the {100} pairing."""
    query = Spots(_hex(1.0, 3)[:2], np.array([100.0, 90.0]), "1/px")
    a0 = 3.16
    g100 = _hex(a0, 3, stretch=0.03)
    g110 = _hex(a0 / np.sqrt(3.0), 3, rot=30.0)  # the {110} ring: |g| √3 larger, rotated 30°
    ref = np.vstack([g100, g110])  # strongest first, as the library stores them
    f100 = float(np.linalg.norm(query.g[0]) / np.linalg.norm(g100[1]))
    f110 = float(np.linalg.norm(query.g[0]) / np.linalg.norm(g110[0]))
    shape = PairCosts(query, [ref], 0.08, 7.0, order_weight=0.0)
    order = PairCosts(query, [ref], 0.08, 7.0, order_weight=0.2)
    s_shape = shape.scales(np.array([0]), 2)[0]
    s_order = order.scales(np.array([0]), 2)[0]
    assert abs(s_shape[0] / f110 - 1) < 0.02  # shape alone: the regular (higher-order) pair first
    assert abs(s_order[0] / f100 - 1) < 0.04  # by order too: the strong low-order pair first
    # the best pairing (the implied pixel size) follows the same order
    assert abs(order.match()[0, 2] / f100 - 1) < 0.04 and abs(shape.match()[0, 2] / f110 - 1) < 0.02


def test_unknown_size_query_spots_are_snapped_and_pairings_ranked_by_order() -> None:
    """Without a pixel size the query's indexed spots sit on its fitted lattice (as with a known size), which is safe
    only because the pairings are ranked by lattice order too (test_stem_motif's unknown-size MoS2 case)."""
    from matsearch.encoders import stem_lattice as L
    from matsearch.indexer.stem.simulate import project_structure
    from tests.test_stem_motif import mos2_1h

    proj = project_structure(mos2_1h(), (0, 0, 1))
    p = SimParams(size=(200, 200), px=0.31, rotation=23.0, thickness=7.0, probe_fwhm=1.0, dose=200.0, seed=3)
    work, factor, fallback = Q.unknown_work(render(proj, p))
    qf = P.unknown_features(work, factor, fallback)
    assert qf.cell is not None and qf.cell.basis is not None and qf.spots is not None
    recip = np.linalg.inv(np.asarray(qf.cell.basis)).T
    g1, g2 = qf.spots.top_pair()  # type: ignore[misc]
    for g in (g1, g2):
        hk = g @ np.linalg.inv(recip)
        assert np.allclose(hk, np.round(hk), atol=1e-6)  # exactly on a lattice point: snapped
    assert L.PAIR_ORDER_WEIGHT > 0
