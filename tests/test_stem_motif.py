"""The column motif (cell average of the query vs a view's projected columns): it tells structures apart that share
a projected lattice (the power spectrum's blind spot), whatever the in-plane rotation, mirror or contrast."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.encoders.stem_motif import ABF_EXP, HAADF_EXP, ViewMotif, motif_scores, view_motif
from matsearch.indexer.stem.simulate import SimParams, project_structure, render
from matsearch.search import stem_physics as P

A = 3.16  # Å, MoS2


def mos2_1h() -> Structure:
    """One MoS2 layer per cell (P-6m2): Mo and S2 on different columns along [001]."""
    return Structure(
        Lattice.hexagonal(A, 12.3),
        ["Mo", "S", "S"],
        [[1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.373], [2 / 3, 1 / 3, 0.627]],
    )


def mos2_2h() -> Structure:
    """Bulk 2H (P6_3/mmc): along [001] every column holds Mo + S2 (an even honeycomb)."""
    z = 0.621
    return Structure(
        Lattice.hexagonal(A, 12.3),
        ["Mo", "Mo", "S", "S", "S", "S"],
        [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75], [1 / 3, 2 / 3, z], [2 / 3, 1 / 3, z - 0.5],
         [2 / 3, 1 / 3, 1 - z], [1 / 3, 2 / 3, 1.5 - z]],
    )  # fmt: skip


def triangular() -> Structure:
    """A plain triangular lattice of Mo columns with the same spacing (the power spectrum's look-alike)."""
    return Structure(Lattice.hexagonal(A, 2.8), ["Mo"], [[0, 0, 0]])


def motif_of(s: Structure) -> ViewMotif:
    proj = project_structure(s, (0, 0, 1))
    vm = view_motif(proj.basis, proj.col_frac, proj.column_weights(HAADF_EXP), proj.column_weights(ABF_EXP))
    assert vm is not None
    return vm


def query(mode: str = "haadf", rotation: float = 23.0, mirror: bool = False, scale: float = 1.0) -> P.QueryFeatures:
    proj = project_structure(mos2_1h(), (0, 0, 1))
    params = SimParams(
        size=(200, 200),
        px=LIBRARY_PX * scale,
        mode=mode,  # type: ignore[arg-type]
        rotation=rotation,
        thickness=7.0,
        probe_fwhm=1.0,
        dose=200.0,
        read_noise=0.05,
        drift=(0.01, 0.0),
        seed=3,
    )
    img = render(proj, params)
    if mirror:
        img = img[:, ::-1]
    # the given pixel size is the nominal one: a miscalibration by ``scale`` is what real files have
    return P.known_features(np.ascontiguousarray(img, dtype=np.float32), LIBRARY_PX)


@pytest.mark.parametrize(
    ("mode", "rotation", "mirror", "scale"),
    [("haadf", 23.0, False, 1.0), ("haadf", 71.0, True, 1.0), ("haadf", 5.0, False, 0.94), ("abf", 40.0, False, 1.0)],
)
def test_motif_tells_monolayer_mos2_from_its_lattice_look_alikes(
    mode: str, rotation: float, mirror: bool, scale: float
) -> None:
    qf = query(mode, rotation, mirror, scale)
    assert qf.cell is not None and qf.motif is not None
    assert abs(qf.cell.a - A / scale) < 0.05 * A and abs(qf.cell.gamma - 60) < 4
    right, bulk, tri = motif_scores(qf.motif, [motif_of(mos2_1h()), motif_of(mos2_2h()), motif_of(triangular())])
    assert right > 0.9 and right > tri + 0.05
    if mode == "haadf":  # in ABF, Mo (Z^0.6 ≈ 9.4) and S2 (≈ 10.6) columns look alike: 1H ≈ an even honeycomb
        assert right > bulk + 0.05


def test_no_motif_when_the_cells_do_not_map_or_the_view_repeats_less_often() -> None:
    qf = query()
    assert qf.motif is not None
    square = Structure(Lattice.tetragonal(A, 3.0), ["Mo"], [[0, 0, 0]])  # square cell: no map onto a 60° cell
    assert np.isnan(motif_scores(qf.motif, [motif_of(square), None])).all()
    # a 2x2 supercell of one column per cell would show superlattice spots the query does not: low score
    big = Structure(Lattice.hexagonal(2.1 * A, 3.0), ["Mo"], [[0, 0, 0]])
    (s_big,) = motif_scores(qf.motif, [motif_of(big)])
    assert s_big < 0.6


def test_payload_round_trip_and_limits() -> None:
    vm = motif_of(mos2_1h())
    back = ViewMotif.from_payload(vm.to_payload())
    assert back is not None and np.allclose(back.basis, vm.basis, atol=1e-3) and len(back.frac) == 2
    assert np.isclose(back.w_haadf.sum(), 1.0, atol=1e-2)  # weights normalised per cell
    assert ViewMotif.from_payload({"basis": [[1, 0], [2, 0]], "columns": [[0, 0, 1, 1]]}) is None  # degenerate cell
    assert ViewMotif.from_payload({"columns": []}) is None


def test_rerank_uses_the_motif() -> None:
    """score_candidates adds the motif term: with the same spectrum, the view with the right columns ranks first."""
    qf = query()
    harm = np.repeat(qf.harmonics[len(qf.scales) // 2][None], 3, axis=0)  # identical spectra for all three views
    sc = P.score_candidates(qf, harm, [None, None, None], [motif_of(triangular()), motif_of(mos2_1h()), None])
    assert sc.motif is not None and np.isnan(sc.motif[2])
    assert int(np.argmax(sc.score)) == 1 and sc.score[1] > sc.spectrum[1]
    assert np.isclose(sc.spectrum[0], sc.spectrum[1])
    plain = P.score_candidates(qf, harm, [None, None, None])  # no stored motifs: the spectrum score as before
    assert plain.motif is None and np.allclose(plain.score, plain.spectrum)


def test_motif_score_does_not_depend_on_the_views_origin_or_cell_choice() -> None:
    """The same columns written with another origin or another basis of the same lattice score the same."""
    qf = query(rotation=47.0)
    assert qf.motif is not None
    vm = motif_of(mos2_1h())
    shifted = ViewMotif(vm.basis, (vm.frac + [0.17, 0.41]) % 1.0, vm.w_haadf, vm.w_abf)
    m = np.array([[0.0, 1.0], [-1.0, 1.0]])  # (a, b) -> (b, b - a): the same hexagonal lattice
    other = ViewMotif(m @ vm.basis, (vm.frac @ np.linalg.inv(m)) % 1.0, vm.w_haadf, vm.w_abf)
    base, s1, s2 = motif_scores(qf.motif, [vm, shifted, other])
    assert base > 0.9 and abs(s1 - base) < 0.01 and abs(s2 - base) < 0.01


def test_motif_skipped_only_where_it_cannot_change_the_top_hits() -> None:
    """With the hits wanted (``keep``), views that cannot reach them even with the largest bonus are not compared;
    the best structures and their scores stay the same."""
    qf = query()
    mid = len(qf.scales) // 2
    rng = np.random.default_rng(0)
    noise = (rng.normal(size=qf.harmonics[mid].shape) + 1j * rng.normal(size=qf.harmonics[mid].shape)).astype(
        np.complex64
    )
    noise /= np.sqrt((np.abs(noise) ** 2).sum())  # a spectrum unrelated to the query's
    harm = np.stack([qf.harmonics[mid], qf.harmonics[mid], noise])
    motifs: list[ViewMotif | None] = [motif_of(triangular()), motif_of(mos2_1h()), motif_of(mos2_1h())]
    full = P.score_candidates(qf, harm, [None] * 3, motifs)
    pruned = P.score_candidates(qf, harm, [None] * 3, motifs, groups=["tri", "mos2", "other"], keep=1)
    assert full.motif is not None and pruned.motif is not None
    assert np.isfinite(full.motif[2]) and np.isnan(pruned.motif[2])  # far below: not compared
    assert int(np.argmax(pruned.score)) == int(np.argmax(full.score)) == 1
    assert np.allclose(pruned.score[:2], full.score[:2])


def test_motif_skipped_below_the_abstain_floor() -> None:
    """With ``floor`` (the caller's abstain threshold), a view that cannot reach it even with the largest motif bonus
    is not compared; views that can are scored exactly as without the floor."""
    qf = query()
    mid = len(qf.scales) // 2
    rng = np.random.default_rng(1)
    noise = (rng.normal(size=qf.harmonics[mid].shape) + 1j * rng.normal(size=qf.harmonics[mid].shape)).astype(
        np.complex64
    )
    noise /= np.sqrt((np.abs(noise) ** 2).sum())
    harm = np.stack([qf.harmonics[mid], qf.harmonics[mid], noise])
    motifs: list[ViewMotif | None] = [motif_of(triangular()), motif_of(mos2_1h()), motif_of(mos2_1h())]
    full = P.score_candidates(qf, harm, [None] * 3, motifs)
    assert full.motif is not None and np.isfinite(full.motif).all()
    floor = float(full.abstain[2] + P.MOTIF_WEIGHT * (1.0 - P.MOTIF_REF)) + 0.01  # out of reach for view 2 only
    assert floor < float(full.abstain[:2].min())
    cut = P.score_candidates(qf, harm, [None] * 3, motifs, floor=floor)
    assert cut.motif is not None and np.isnan(cut.motif[2]) and cut.abstain[2] < floor
    assert np.allclose(cut.score[:2], full.score[:2]) and np.allclose(cut.abstain[:2], full.abstain[:2])


def test_motif_also_ranks_without_a_pixel_size() -> None:
    """No pixel size: each view is compared at the pixel size its own lattice match implies, so the same spectrum
    and spots still leave the view with the right columns first (before, the motif ran only with a known size)."""
    from matsearch.encoders.stem import lattice_harmonics, lattice_polar
    from matsearch.encoders.stem_lattice import measure
    from matsearch.indexer.stem.build import library_params
    from matsearch.search.stem import unknown_work

    proj = project_structure(mos2_1h(), (0, 0, 1))
    ref = render(proj, library_params("mos2-1h"))  # the clean reference image a library point is built from
    harm = np.repeat(lattice_harmonics(lattice_polar(ref, LIBRARY_PX))[None], 3, axis=0)
    spots = measure(ref, LIBRARY_PX)[1].g
    params = SimParams(size=(200, 200), px=0.31, rotation=23.0, thickness=7.0, probe_fwhm=1.0, dose=200.0, seed=3)
    work, factor, fallback = unknown_work(render(proj, params))
    qf = P.unknown_features(work, factor, fallback)
    assert not qf.known and qf.cell_avg is not None
    motifs = [motif_of(triangular()), motif_of(mos2_1h()), None]
    sc = P.score_candidates(qf, harm, [spots] * 3, motifs)
    assert sc.motif is not None and np.isnan(sc.motif[2]) and np.isfinite(sc.motif[:2]).all()
    assert np.allclose(sc.spectrum[0], sc.spectrum[1:])
    assert int(np.argmax(sc.score)) == 1 and sc.motif[1] > sc.motif[0] + 0.05
    est = float(sc.scale[1]) * factor  # Å per raw px, from the lattice match
    assert abs(est - 0.31) < 0.05 * 0.31
