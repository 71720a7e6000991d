"""XRD readers, wavelengths, simulation and preprocessing: what a diffractometer writes, and what must be refused."""

from __future__ import annotations

import numpy as np
import pytest

from matsearch.core.errors import BadInput, UnsupportedMedia
from matsearch.encoders.xrd import GRID_2THETA, N_GRID
from matsearch.encoders.xrd_pattern import (
    WAVELENGTHS,
    find_peaks,
    preprocess,
    read_pattern_bytes,
    read_pattern_text,
    resolve_wavelength,
)
from matsearch.indexer.structures import load_cif_bytes
from matsearch.indexer.xrd.simulate import library_profile, simulate_peaks
from tests.test_structures import NACL_CIF


def _nacl_peaks_text(wavelength: float = 1.54056, sep: str = "\t", descending: bool = False) -> str:
    (entry,) = load_cif_bytes(NACL_CIF.encode(), "nacl.cif")
    peaks = simulate_peaks(entry.structure, wavelength=wavelength, two_theta_range=(10, 80))
    x = np.arange(10.0, 80.0, 0.013)
    y = 50 + 20 * np.exp(-x / 30)
    for t, i in zip(peaks.two_theta, peaks.intensity, strict=True):
        y = y + 10 * i * np.exp(-0.5 * ((x - t) / 0.05) ** 2)
    rows = list(zip(x, y, strict=True))
    if descending:
        rows = rows[::-1]
    return "\n".join(f"{a:.4f}{sep}{b:.2f}" for a, b in rows)


def test_wavelength_names() -> None:
    assert resolve_wavelength("Cu") == WAVELENGTHS["CuKa"]
    assert resolve_wavelength("Cu Kα1") == WAVELENGTHS["CuKa1"]
    assert resolve_wavelength("mo-ka") == WAVELENGTHS["MoKa"]
    assert resolve_wavelength("CoKb") == WAVELENGTHS["CoKb1"]
    assert resolve_wavelength(0.7093) == pytest.approx(0.7093)
    assert resolve_wavelength("1.5406") == pytest.approx(1.5406)
    with pytest.raises(BadInput, match="unknown wavelength"):
        resolve_wavelength("Unobtainium")
    with pytest.raises(BadInput, match="outside"):
        resolve_wavelength(42.0)


def test_simulated_nacl_main_peaks() -> None:
    (entry,) = load_cif_bytes(NACL_CIF.encode(), "nacl.cif")
    peaks = simulate_peaks(entry.structure)
    strongest = peaks.main_peaks(3)
    assert any(abs(p["two_theta"] - 31.7) < 0.1 and p["hkl"] == "200" for p in strongest)
    y = library_profile(peaks)
    assert y.shape == (N_GRID,) and y.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text_maker",
    [
        lambda: "# Bruker export\n# 2theta intensity\n" + _nacl_peaks_text(),
        lambda: "2Theta,Counts\n" + _nacl_peaks_text(sep=","),
        lambda: "; comment\n" + _nacl_peaks_text(sep=" ; "),
        lambda: _nacl_peaks_text(descending=True),
    ],
)
def test_reader_formats_find_the_same_peaks(text_maker: object) -> None:
    assert callable(text_maker)
    pattern = read_pattern_text(text_maker(), "nacl.xy", wavelength="CuKa1")
    y, mask = preprocess(pattern)
    peaks = find_peaks(y)
    strongest = peaks.two_theta[np.argmax(peaks.height)]
    assert abs(strongest - 31.7) < 0.1
    assert mask.sum() > 0 and not mask[GRID_2THETA < 9.9].any()


def test_three_columns_and_other_wavelength_land_on_the_library_grid() -> None:
    mo = _nacl_peaks_text(wavelength=0.70930)
    three = "\n".join(f"{line}\t1.0" for line in mo.splitlines())
    pattern = read_pattern_text("# wavelength = 0.70930\n" + three, "mo.xye")
    assert pattern.wavelength == pytest.approx(0.70930)
    peaks = find_peaks(preprocess(pattern)[0])
    assert abs(peaks.two_theta[np.argmax(peaks.height)] - 31.7) < 0.15  # (200) at Cu Kα1


def test_d_spacing_column() -> None:
    x = np.linspace(1.2, 6.0, 800)
    y = 5 + 100 * np.exp(-0.5 * ((x - 2.82) / 0.005) ** 2) + 40 * np.exp(-0.5 * ((x - 1.994) / 0.004) ** 2)
    text = "d (Å)\tintensity\n" + "\n".join(f"{a:.5f}\t{b:.3f}" for a, b in zip(x, y, strict=True))
    pattern = read_pattern_text(text, "d.txt")
    assert pattern.two_theta.min() > 10 and pattern.two_theta.max() < 90
    peaks = find_peaks(preprocess(pattern)[0])
    assert abs(peaks.two_theta[np.argmax(peaks.height)] - 31.7) < 0.15


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "e.xy", "empty"),
        (b"# only a header\n", "h.xy", "no numeric data"),
        (b"1\n2\n3\n", "one.xy", "one column"),
        (b"10,5\n11,abc\n", "nan.xy", "not numeric"),
        (("\n".join(f"{10 + i * 0.02},nan" for i in range(100))).encode(), "nan2.xy", "NaN"),
        (("\n".join(f"{10 + i * 0.02},1" for i in range(10))).encode(), "few.xy", "too few points"),
        (("\n".join(f"{10 + i * 0.02},0" for i in range(200))).encode(), "zero.xy", "all zero"),
        (("\n".join(f"{120 + i * 0.02},{i % 7}" for i in range(2000))).encode(), "far.xy", "library range"),
    ],
)
def test_bad_patterns_are_named(data: bytes, name: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        pattern = read_pattern_bytes(data, name)
        preprocess(pattern)


def test_unsupported_files() -> None:
    with pytest.raises(UnsupportedMedia):
        read_pattern_bytes(b"\x89PNG\r\n\x1a\n\x00\x00", "plot.png")
    with pytest.raises(UnsupportedMedia):
        read_pattern_bytes(b"\x00\x01\x02binary", "raw.dat")
    with pytest.raises(BadInput, match="unknown wavelength"):
        read_pattern_text(_nacl_peaks_text(), "x.xy", wavelength="Kryptonite")


def _rows(sep: str) -> str:
    return "\n".join(f"{10 + 0.02 * i:.2f}{sep}{5 + (i % 7)}" for i in range(80)) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "# Cu Ka1\n2theta, counts\n" + _rows(", "),
        _rows("\t").replace("\n", "\n\n", 3),
        "'header\n" + _rows(";") + "# trailing comment\n",  # comment after data: the line-by-line path
    ],
)
def test_fast_reader_matches_line_reader(text: str) -> None:
    from matsearch.encoders.xrd_pattern import _read_lines

    p = read_pattern_text(text, "t.xy")
    _, x, y = _read_lines(text, "t.xy")
    assert np.allclose(p.two_theta, x) and np.allclose(p.intensity, y)


def test_adaptive_background_keeps_an_amorphous_hump_out_of_the_peaks() -> None:
    from matsearch.encoders.xrd_pattern import (
        background_width,
        pattern_from_arrays,
        strongest_peak_fwhm,
        to_library_grid,
    )

    x = np.arange(5.0, 90.0, 0.02)
    rng = np.random.default_rng(0)
    lines = [(32.0, 1.0, 0.1), (45.0, 0.4, 0.1), (60.0, 0.3, 0.7)]  # two sharp lines and a broad one (FWHM 0.7°)
    clean = sum(a * np.exp(-4 * np.log(2) * ((x - t) / w) ** 2) for t, a, w in lines)
    hump = 0.25 * np.exp(-0.5 * ((x - 24.0) / 4.0) ** 2)  # a glass / amorphous hump, σ 4°
    y = rng.poisson(3000 * (0.3 + hump + clean)).astype(float)
    pat = pattern_from_arrays(x, y, name="hump.xy", wavelength="CuKa1")
    grid, gmask = to_library_grid(pat)
    assert strongest_peak_fwhm(grid, gmask) < 0.2
    fixed, mask = preprocess(pat)
    adaptive, _ = preprocess(pat, adaptive_background=True)
    under = (GRID_2THETA > 18) & (GRID_2THETA < 30)  # no real line there
    assert fixed[under].mean() > 0.05  # the fixed 2° window erodes the hump into a broad pseudo-peak
    assert adaptive[under].mean() < 0.02
    for t, a, _w in lines:  # every real line keeps its height (relative to the strongest) within 20 %
        near = np.abs(GRID_2THETA - t) < 0.3
        assert adaptive[near].max() == pytest.approx(a, rel=0.2)
    assert 0.6 <= background_width(grid, gmask) < 0.7
