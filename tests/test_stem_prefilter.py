"""Stage-1 pool -> re-rank set (``stem_physics.prefilter``, session 10): the views re-ranked are those whose clean
reference spectrum fits the query's at the nominal scale, wherever the descriptor's cosine put them."""

from __future__ import annotations

import numpy as np

from matsearch.encoders.stem import lattice_harmonics, lattice_polar
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.build import library_params, view_point_id
from matsearch.indexer.stem.simulate import SimParams, render
from matsearch.indexer.stem.views import compute_views
from matsearch.indexer.structures import load_library
from matsearch.search import stem as Q
from matsearch.search import stem_physics as P


def test_prefilter_keeps_the_true_view_placed_last() -> None:
    entries = list(load_library(("ase", "cod", "dans_diffraction")))[:30]
    views = [vs[0] for e in entries if (vs := compute_views([e]))]  # one view per structure
    refs = []
    for v in views:
        img = render(v.projection, library_params(view_point_id(v.structure_id, v.zone)))
        refs.append(lattice_harmonics(lattice_polar(img, LIBRARY_PX)))
    clean = np.stack(refs)
    true = 7
    p = SimParams(size=(160, 160), mode="haadf", thickness=250.0, rotation=33.0, dose=300.0, read_noise=0.02, seed=3)
    qf = P.known_features(render(views[true].projection, p), LIBRARY_PX)
    order = [i for i in range(len(views)) if i != true] + [true]  # stage 1 ranked the true view last
    keep = 5
    kept = np.asarray(order)[P.prefilter(qf, clean[order], keep)]
    assert len(kept) == keep
    assert true in kept.tolist()  # the first `keep` by stage-1 order would not hold it
    # nothing to choose: every candidate is kept, in stage-1 order
    assert P.prefilter(qf, clean[:keep], keep).tolist() == list(range(keep))
    assert Q.RERANK_POOL > Q.RERANK_K
