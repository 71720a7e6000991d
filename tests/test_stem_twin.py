"""The twin step of the STEM re-rank (``stem_physics.twin_spectra``) on images from the real simulator: a query made
of two domains mirrored across a lattice plane fits its view's twin template better than the view's plain reference
spectrum; a single-domain query does not, and the fast template construction equals the per-bin reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from scipy import ndimage

from matsearch.encoders.stem import LAT_NTHETA, lattice_harmonics, lattice_polar
from matsearch.encoders.stem_lattice import measure
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.simulate import Projection, SimParams, project_structure, render
from matsearch.search import stem_physics as P

REF_ROTATION = 20.0


@pytest.fixture(scope="module")
def view() -> tuple[Projection, np.ndarray, np.ndarray]:
    """An oblique projected cell (no mirror line in projection, so a twin's mirrored domain adds new spots): its
    projection, clean reference spectrum (1, 1, K, M) and reference spots, made as the library builder makes them."""
    st = Structure(
        Lattice.from_parameters(3.9, 5.1, 6.0, 90, 90, 107),
        ["Sr", "Ti", "O"],
        np.array([[0, 0, 0], [0.31, 0.42, 0.5], [0.63, 0.18, 0.5]]),
    )
    proj = project_structure(st, (0, 0, 1))
    ref = render(proj, SimParams(rotation=REF_ROTATION, seed=1))
    _, spots = measure(ref, LIBRARY_PX)
    harm = P.ring_weighted(lattice_harmonics(lattice_polar(ref, LIBRARY_PX)))  # as score_candidates weighs it
    return proj, harm[None, None], np.asarray(spots.g[:24])


@pytest.fixture(scope="module")
def stored(view: tuple[Projection, np.ndarray, np.ndarray]) -> np.ndarray:
    """The same reference spectrum as the library stores it (score_candidates weighs it itself)."""
    ref = render(view[0], SimParams(rotation=REF_ROTATION, seed=1))
    return lattice_harmonics(lattice_polar(ref, LIBRARY_PX))[None, None]


def twinned(img: np.ndarray, beta: float) -> np.ndarray:
    """``img`` with its right part replaced by its mirror image across the line through the centre perpendicular to
    the in-plane direction ``beta`` (radians, plane x right / y up): two domains sharing a lattice plane."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    nrm = np.array([-math.sin(beta), math.cos(beta)])  # (row, col) components of (cos β, sin β)
    dist = np.stack([yy - h / 2, xx - w / 2], axis=-1) @ nrm
    refl = np.stack([yy, xx], axis=-1) - 2.0 * dist[..., None] * nrm
    mirrored = ndimage.map_coordinates(img, [refl[..., 0], refl[..., 1]], order=1, mode="reflect")
    return np.where(dist > 0, mirrored, img)


def plain_and_twin(img: np.ndarray, harm: np.ndarray, spots: np.ndarray) -> tuple[float, float]:
    qf = P.known_features(img, LIBRARY_PX)
    grid = np.log(qf.scales)
    mid = len(grid) // 2
    prior = P.SCALE_PRIOR * np.abs(grid[mid - 1 : mid + 2])[:, None]
    plain = float((P._corr(qf.harmonics[mid - 1 : mid + 2], harm[:, 0]) - prior).max())
    return plain, float(P.twin_spectra(qf, harm, [spots])[0])


@pytest.mark.parametrize("rotation", [20.0, 57.0, 131.0])
def test_twinned_query_fits_the_twin_template(
    view: tuple[Projection, np.ndarray, np.ndarray], stored: np.ndarray, rotation: float
) -> None:
    proj, harm, spots = view
    img = render(proj, SimParams(size=(256, 256), rotation=rotation, thickness=150.0, dose=2000.0, seed=11))
    g = spots[0]  # the twin plane: normal along the reference's strongest spot, turned with the query
    beta = math.atan2(g[1], g[0]) + math.radians(rotation - REF_ROTATION)
    single_plain, single_twin = plain_and_twin(img, harm, spots)
    twin_plain, twin_twin = plain_and_twin(twinned(img, beta), harm, spots)
    assert twin_twin > twin_plain + 0.03  # the two domains' spots are the template's
    assert single_twin < single_plain  # a single domain does not fit the union of it and its mirror
    # the re-rank's spectrum score takes the twin reading only for the twinned query
    qf = P.known_features(twinned(img, beta), LIBRARY_PX)
    with_twin = P.score_candidates(qf, stored, [spots]).spectrum[0]
    assert with_twin == pytest.approx(max(twin_twin, P.score_candidates(qf, stored, [None]).spectrum[0]))


def test_fast_templates_equal_the_per_bin_mirror(view: tuple[Projection, np.ndarray, np.ndarray]) -> None:
    """``twin_templates`` (strided windows of the reversed spectrum) against the mirror written bin by bin."""
    _, harm, spots = view
    rng = np.random.default_rng(3)
    h0 = np.concatenate([harm[:, 0], harm[:, 0] * rng.uniform(0.5, 1.5, harm.shape[2:]).astype(np.float32)])
    sp = [spots, rng.normal(0, 0.4, (2, 2))]  # a second view with only two spots: the first repeats
    fast = P.twin_templates(h0, sp)
    pol = np.fft.irfft(h0, n=LAT_NTHETA, axis=-1)
    want = []
    for t in range(len(h0)):
        s = np.asarray(sp[t])[: P.TWIN_SPOTS]
        s = np.vstack([s, np.repeat(s[:1], P.TWIN_SPOTS - len(s), axis=0)])
        for gx, gy in s:
            x = (2.0 * (math.atan2(gy, gx) % math.pi) * LAT_NTHETA / math.pi - np.arange(LAT_NTHETA)) % LAT_NTHETA
            j0, fr = np.floor(x).astype(int) % LAT_NTHETA, x - np.floor(x)
            m = (1 - fr) * pol[t][:, j0] + fr * pol[t][:, (j0 + 1) % LAT_NTHETA]
            want.append(np.maximum(pol[t], m))
    np.testing.assert_allclose(fast, lattice_harmonics(np.stack(want)), atol=2e-6)
