"""STEM simulator: projection geometry, pixel size, Z-contrast, determinism, acquisition options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matsearch.indexer.stem.simulate import SimParams, project_structure, random_params, render, simulate
from matsearch.indexer.stem.zones import select_zones

REPO = Path(__file__).resolve().parents[1]


def srtio3() -> Structure:
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]],
    )


def silicon() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])


def test_projection_geometry_srtio3() -> None:
    p001 = project_structure(srtio3(), (0, 0, 1))
    assert p001.period == pytest.approx(3.905)
    assert abs(np.linalg.det(p001.basis)) == pytest.approx(3.905**2)
    assert p001.n_columns == 4  # Sr, Ti-O, O, O
    p110 = project_structure(srtio3(), (1, 1, 0))
    assert p110.period == pytest.approx(3.905 * np.sqrt(2))
    assert p110.n_columns == 3  # Sr, Ti-O, O per primitive 2-D cell (area a * a*sqrt(2) / 2)
    assert abs(np.linalg.det(p110.basis)) == pytest.approx(3.905**2 / np.sqrt(2))
    # Scale-invariant multiples of a zone are the same zone.
    assert project_structure(srtio3(), (2, 2, 0)).period == pytest.approx(p110.period)


def test_silicon_110_dumbbells() -> None:
    p = project_structure(silicon(), (1, 1, 0))
    assert p.min_column_spacing() == pytest.approx(5.431 / 4, abs=0.01)  # the 1.36 Å dumbbell


def _period_px(img: np.ndarray) -> float:
    """Lattice period along x from the autocorrelation (first strong maximum after lag 0)."""
    f = np.fft.fft2(img - img.mean())
    ac = np.real(np.fft.ifft2(f * np.conj(f)))[0]
    lags = np.arange(6, img.shape[1] // 2)
    k = int(lags[np.argmax(ac[lags])])
    # parabolic refinement
    y0, y1, y2 = ac[k - 1], ac[k], ac[k + 1]
    return k + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)


@pytest.mark.parametrize("px", [0.2, 0.25, 0.3])
def test_pixel_size_is_honoured(px: float) -> None:
    img = simulate(srtio3(), (0, 0, 1), SimParams(size=(128, 128), px=px))
    assert _period_px(img) == pytest.approx(3.905 / px, rel=0.03)


def test_z_contrast_sr_brighter_than_ti_and_abf_inverts() -> None:
    proj = project_structure(srtio3(), (0, 0, 1))
    # Sr column at the origin -> image centre with zero shift and rotation.
    img = render(proj, SimParams(size=(64, 64), px=0.2))
    c = (64 - 1) / 2
    sr = img[int(round(c)), int(round(c))]
    ti = img[int(round(c - 3.905 / 2 / 0.2)), int(round(c + 3.905 / 2 / 0.2))]  # (a/2, a/2) is Ti-O
    assert sr > ti > 0.1
    abf = render(proj, SimParams(size=(64, 64), px=0.2, mode="abf"))
    assert abf[int(round(c)), int(round(c))] < np.median(abf)  # columns dark in ABF


def test_deterministic_with_seed_and_options_change_image() -> None:
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    pa, pb = random_params(rng_a, "query"), random_params(rng_b, "query")
    proj = project_structure(srtio3(), (1, 1, 0))
    a, b = render(proj, pa), render(proj, pb)
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (96, 96) and 0.0 <= a.min() and a.max() <= 1.0
    other = render(proj, SimParams(seed=pa.seed + 1, dose=pa.dose, mode=pa.mode))
    assert not np.array_equal(a, other)
    clean = render(proj, SimParams())
    thick = render(proj, SimParams(thickness=500))
    assert not np.allclose(clean, thick)  # channelling changes the relative column contrast


def test_non_square_and_bad_parameters() -> None:
    img = simulate(srtio3(), (0, 0, 1), SimParams(size=(40, 100)))
    assert img.shape == (40, 100)
    with pytest.raises(ValueError):
        simulate(srtio3(), (0, 0, 1), SimParams(px=0.0))
    with pytest.raises(ValueError):
        simulate(srtio3(), (0, 0, 0))


def test_select_zones_distinct_by_symmetry() -> None:
    conv, views = select_zones(srtio3())
    zones = [v.zone for v in views]
    assert zones[:3] == [(0, 0, 1), (1, 1, 0), (1, 1, 1)]
    assert (1, 0, 0) not in zones  # equivalent to [001] in a cubic crystal
    # A cubic [100] image equals the [001] one up to an in-plane rotation: same column arrangement.
    assert project_structure(conv, (1, 0, 0)).n_columns == project_structure(conv, (0, 0, 1)).n_columns


def test_cli_simulate_and_zones(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from matsearch.cli.main import cli

    cif = next((REPO / "indexer" / "matsearch" / "indexer" / "structures" / "data" / "cod").glob("*.cif"))
    out = tmp_path / "sim.png"
    runner = CliRunner()
    res = runner.invoke(
        cli, ["stem", "simulate", str(cif), "--zone", "1,1,0", "--size", "64", "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert Image.open(out).mode.startswith("I") and Image.open(out).size == (64, 64)  # 16-bit PNG
    res = runner.invoke(cli, ["stem", "zones", str(cif), "--json"])
    assert res.exit_code == 0 and '"zone_axis"' in res.output
    res = runner.invoke(cli, ["stem", "simulate", str(cif), "--zone", "0,0,0", "-o", str(out)])
    assert res.exit_code == 1 and "error:" in res.output


def test_lattice_score_rotation_mirror_and_scale() -> None:
    """The lattice-spectrum score is ~1 for the same lattice rotated/mirrored, lower for another lattice; without a
    pixel size the scale search recovers a rescaled image."""
    from matsearch.encoders.stem import lattice_harmonics, lattice_polar, lattice_polar_scales
    from matsearch.search.stem import lattice_scores

    yy, xx = np.mgrid[0:192, 0:192] * 0.25  # Å

    def lattice(a: float, gamma: float, rot: float, px_scale: float = 1.0) -> np.ndarray:
        g = np.radians(gamma)
        b1 = np.array([1.0, 0.0])
        b2 = np.array([np.cos(g), np.sin(g)])
        rec = np.linalg.inv(np.stack([b1, b2]) * a).T  # rows: reciprocal vectors
        r = np.radians(rot)
        rm = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
        pts = np.stack([xx, yy], -1) * px_scale
        img = sum(np.cos(2 * np.pi * pts @ (rm @ (i * rec[0] + j * rec[1]))) for i, j in ((1, 0), (0, 1), (1, 1)))
        return np.asarray(img)

    ref = lattice_harmonics(lattice_polar(lattice(3.9, 75, 0), 0.25))[None]
    same = lattice_harmonics(lattice_polar(np.fliplr(lattice(3.9, 75, 33)), 0.25))
    other = lattice_harmonics(lattice_polar(lattice(3.9, 60, 10), 0.25))
    s = lattice_scores(ref, np.stack([same, other]))
    assert s[0] > 0.9 and s[0] > s[1] + 0.2
    scaled = lattice(3.9, 75, 20, px_scale=1.3)  # the same lattice seen at 1.3x the pixel size
    hyps = lattice_polar_scales(scaled, 0.25, [1.0, 1.3])
    s2 = lattice_scores(lattice_harmonics(hyps), ref[0][None])
    assert s2[0] > 0.9
