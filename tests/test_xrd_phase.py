"""The two-directional figure of merit and its refinement (search/xrd_phase.py) on patterns rendered from real
simulated reflections: chance correction against dense cells, Kα2 satellites, March–Dollase texture, zero shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matsearch.encoders.xrd import GRID_2THETA
from matsearch.indexer.structures import load_library
from matsearch.indexer.xrd.simulate import simulate_peaks
from matsearch.search import xrd_phase as xp


@pytest.fixture(scope="module")
def cu() -> xp.Candidate:
    lib = load_library(("cod",))
    e = lib.get("cod-9008468")  # Cu, Fm-3m
    p = simulate_peaks(e.structure)
    return xp.candidate_from_payload(
        {
            "peaks": {"d": list(p.d), "intensity": list(p.intensity), "hkl": list(p.hkl)},
            "lattice": dict(e.lattice),
            "crystal_system": e.crystal_system,
            "source": e.source,
        }
    )


def _render(tt: np.ndarray, inten: np.ndarray, fwhm: float = 0.1, ka2: bool = False) -> np.ndarray:
    y = np.zeros(GRID_2THETA.size)
    lines = [(tt, inten)]
    if ka2:
        s = np.sin(np.radians(tt / 2)) * xp.KA2_RATIO
        lines.append((2 * np.degrees(np.arcsin(s)), 0.5 * inten))
    for t_arr, i_arr in lines:
        for t, a in zip(t_arr, i_arr, strict=True):
            y += a * np.exp(-4 * math.log(2) * ((GRID_2THETA - t) / fwhm) ** 2)
    return y / y.max()


def _measured(y: np.ndarray, lo: float = 20.0, hi: float = 90.0) -> xp.Measured:
    mask = (GRID_2THETA >= lo) & (GRID_2THETA <= hi)
    rng = np.random.default_rng(0)
    noisy = np.clip(y + rng.normal(0, 0.002, y.size), 0, None)
    return xp.measure(np.where(mask, noisy, 0.0), mask)


def _positions(c: xp.Candidate, eps: float = 0.0, shift: float = 0.0) -> np.ndarray:
    s = xp.LIB_WAVELENGTH / (2 * c.d * (1 + eps))
    return 2 * np.degrees(np.arcsin(s)) + shift


def test_dense_random_cell_is_chance_corrected(cu: xp.Candidate) -> None:
    m = _measured(_render(_positions(cu), cu.inten))
    rng = np.random.default_rng(1)
    extra = np.sort(rng.uniform(1.1, 4.5, 300))[::-1]  # 300 more reflections: a cell that "explains" anything
    d = np.concatenate([cu.d, extra])
    inten = np.concatenate([cu.inten, rng.uniform(0.03, 0.1, extra.size)])  # weak, yet above the noise floor
    dense = xp.Candidate(d=d, inten=inten, hkl=[""] * d.size, source="x", crystal_system="", lattice={})
    f = xp.fit(m, [cu, dense])
    assert f.explained_raw[1] > 0.9  # it has a reflection under every measured peak ...
    assert f.chance[1] > 0.4  # ... but its reflections cover half the window: a random peak would match too
    assert f.seen_raw[1] < 0.7  # and its many expected reflections are mostly not there
    assert f.score[0] > 0.9 and f.score[0] > f.score[1] + 0.3
    assert xp.confidence(f, 0, "cod") > xp.confidence(f, 1, "cod")


def test_missing_strong_reflections_count_against(cu: xp.Candidate) -> None:
    pos = _positions(cu)
    keep = cu.inten < 0.9  # the strongest reflection (111) is absent from the "measurement"
    m = _measured(_render(pos[keep], cu.inten[keep]))
    f = xp.fit(m, [cu])
    full = xp.fit(_measured(_render(pos, cu.inten)), [cu])
    assert f.seen_raw[0] < 0.8 and f.score[0] < full.score[0] - 0.1
    # outside the measured range a reflection is not expected: 2θ 38–47° leaves only 111 → full marks
    m2 = _measured(_render(pos, cu.inten), lo=38.0, hi=47.0)
    assert xp.fit(m2, [cu]).seen_raw[0] > 0.95


def test_kalpha2_satellites_carry_no_weight(cu: xp.Candidate) -> None:
    m = _measured(_render(_positions(cu), cu.inten, fwhm=0.06, ka2=True))
    sat = m.ka2_of >= 0
    assert sat.sum() >= 2 and np.all(m.weight[sat] == 0)  # the resolved high-angle doublets
    assert xp.fit(m, [cu]).explained[0] > 0.95


def test_march_dollase_texture_is_refined(cu: xp.Candidate) -> None:
    md = xp.march_dollase(cu, directions=[(1, 1, 1)], r_values=np.array([0.5]))[0, 0]
    textured = cu.inten * md
    m = _measured(_render(_positions(cu), textured / textured.max()))
    plain = xp.fit(m, [cu], texture_top=0)
    refined = xp.fit(m, [cu])
    assert refined.po_axis[0] == "111" and refined.po_r[0] <= 0.7
    assert refined.score[0] > plain.score[0] + 0.03


def test_zero_shift_and_strain_are_refined(cu: xp.Candidate) -> None:
    m = _measured(_render(_positions(cu, eps=-0.006, shift=0.08), cu.inten))
    f = xp.fit(m, [cu])
    # a constant shift and a strain are nearly collinear over five reflections: the refined positions must land
    # on the measured ones, however the offset is split between ε, the zero shift and the displacement
    truth = _positions(cu, eps=-0.006, shift=0.08)
    inside = (truth > 20) & (truth < 90)
    assert np.abs(f.positions[0, : cu.d.size][inside] - truth[inside]).max() < 0.05
    assert f.residual[0] < 0.3 and f.strain[0] == pytest.approx(-0.006, abs=0.003)


def test_broad_textured_two_line_film_gets_its_strain(cu: xp.Candidate) -> None:
    # a strongly ⟨111⟩-textured film with broad lines (FWHM 0.7°) and a +0.7 % lattice: only 111 and a weak 200
    # show. The coarse strain search sees a plateau of equally good strains (its middle is kept, not its lower
    # edge) and two matched peaks still refine the strain (no zero shift / displacement from two lines)
    md = xp.march_dollase(cu, directions=[(1, 1, 1)], r_values=np.array([0.42]))[0, 0]
    tex = cu.inten * md
    pos = _positions(cu, eps=0.007)
    keep = pos < 60.0  # 111 and 200 only
    m = _measured(_render(pos[keep], (tex / tex.max())[keep], fwhm=0.7), lo=30.0, hi=60.0)
    assert m.tt.size == 2 and 0.5 <= m.width <= 0.6
    f = xp.fit(m, [cu])
    assert f.strain[0] == pytest.approx(0.007, abs=0.0012)
    assert f.po_axis[0] == "111" and f.po_r[0] <= 0.6


def test_width_comes_from_the_clear_peaks(cu: xp.Candidate) -> None:
    y = _render(_positions(cu), cu.inten, fwhm=0.5)
    rng = np.random.default_rng(3)
    spikes = np.zeros(GRID_2THETA.size)
    spikes[rng.choice(GRID_2THETA.size, 12, replace=False)] = 0.04  # narrow noise spikes, one bin each
    m = _measured(np.clip(y + spikes, 0, None))
    assert (m.fwhm < 0.1).sum() >= 4  # the spikes are found as (narrow) peaks ...
    assert m.width > 0.4  # ... but the width is that of the real lines


def test_new_fit_terms_separate_the_true_phase(cu: xp.Candidate) -> None:
    m = _measured(_render(_positions(cu), cu.inten))
    # the same cell with its intensities scrambled (an isostructural twin with other atoms): same positions,
    # other ratios → a larger spread of ln(observed/expected) and a lower confidence
    twin_i = cu.inten[::-1].copy()
    twin = xp.Candidate(d=cu.d, inten=twin_i / twin_i.max(), hkl=cu.hkl, source="cod", crystal_system="cubic",
                        lattice=cu.lattice)  # fmt: skip
    f = xp.fit(m, [cu, twin], texture_top=0)
    assert f.intensity_log_sd[0] < 0.3 < f.intensity_log_sd[1]
    assert f.explained_height[0] > 0.95 and f.strong_unexplained[0] == 0.0
    assert xp.confidence(f, 0, "cod") > xp.confidence(f, 1, "cod")
    # log evidence: each matched peak weighs −ln(chance); a 4-line cell matching 4 peaks beats nothing matched
    assert xp.log_evidence(4, 0.02) > xp.log_evidence(4, 0.3) > xp.log_evidence(0, 0.02) == 0.0


def test_calibration_keeps_each_feature_acting_in_its_direction() -> None:
    from bench.eval_xrd import fit_logistic

    # two nearly collinear features: the label follows a; b = a + noise but its own effect is negative. An
    # unconstrained fit may give b a positive weight (trading with a); with signs (+, −) it cannot
    rng = np.random.default_rng(0)
    a = rng.normal(size=4000)
    b = a + 0.05 * rng.normal(size=a.size)
    c = rng.normal(size=a.size)
    logit = 3 * a + 1.5 * b - 1.0 * c  # b truly raises the odds here; forbidding that must zero it, not flip a
    y = (rng.random(a.size) < 1 / (1 + np.exp(-logit))).astype(float)
    x = np.c_[a, b, c]
    free, _ = fit_logistic(x, y)
    assert free[1] > 0  # the data want b positive
    signed, _ = fit_logistic(x, y, signs=np.array([1.0, -1.0, -1.0]))
    assert signed[1] == 0.0 and signed[0] > 0 and signed[2] < 0
    assert len(xp.CONF_SIGNS) == len(xp.CONF_FEATURES) == xp.CONF_COEF.size
    assert np.all(np.sign(xp.CONF_COEF) * np.asarray(xp.CONF_SIGNS) >= 0)  # the shipped model keeps its signs


def test_vectorised_confidences_equal_the_single_ones(cu: xp.Candidate) -> None:
    m = _measured(_render(_positions(cu, eps=-0.004), cu.inten))
    twin_i = cu.inten[::-1].copy()
    twin = xp.Candidate(d=cu.d * 1.01, inten=twin_i / twin_i.max(), hkl=cu.hkl, source="materials_project",
                        crystal_system="cubic", lattice=cu.lattice)  # fmt: skip
    f = xp.fit(m, [cu, twin])
    sources = ["cod", "materials_project"]
    for el in (False, True):
        one = [xp.confidence(f, i, sources[i], el) for i in range(2)]
        assert np.allclose(xp.confidences(f, sources, el), one, rtol=1e-9, atol=1e-12)


def _one_line_decoys(cu: xp.Candidate, n: int) -> list[xp.Candidate]:
    # cells with one strong reflection on Cu 111 and a weak one elsewhere: untextured they fit a ⟨111⟩ film better
    return [
        xp.Candidate(
            d=np.array([cu.d[0] * (1 + 0.001 * k), 1.5 + 0.05 * k]),
            inten=np.array([1.0, 0.02]),
            hkl=["111", "100"],
            source="cod",
            crystal_system="cubic",
            lattice=cu.lattice,
        )  # fmt: skip
        for k in range(n)
    ]


def test_strongly_textured_phase_gets_its_texture_refined_by_positions(cu: xp.Candidate) -> None:
    # a ⟨111⟩ film with r = 0.35: 200/220/311 at ~3 % instead of 27–47 %. Untextured, Cu scores below six
    # one-line decoys, so a texture refinement of the best scores alone never reaches it; its reflection positions
    # explain every peak, which puts it among the candidates that are refined with texture
    md = xp.march_dollase(cu, directions=[(1, 1, 1)], r_values=np.array([0.35]))[0, 0]
    tex = cu.inten * md
    m = _measured(_render(_positions(cu), tex / tex.max(), fwhm=0.3))
    cands = [cu, *_one_line_decoys(cu, 6)]
    plain = xp.fit(m, cands, texture_top=0)
    assert int((plain.score > plain.score[0]).sum()) >= xp.REFINE_TOP  # not among the best untextured scores
    by_score = xp.fit(m, cands, texture_explained=0)
    assert by_score.po_axis[0] == ""
    f = xp.fit(m, cands)
    assert f.po_axis[0] == "111" and f.po_r[0] <= 0.5
    conf = xp.confidences(f, ["cod"] * len(cands))
    assert int(np.argmax(conf)) == 0 and conf[0] > xp.confidences(by_score, ["cod"] * len(cands))[0] + 0.2


def test_peak_index_finds_a_textured_phase_by_its_positions(cu: xp.Candidate) -> None:
    from matsearch.search import spectra

    md = xp.march_dollase(cu, directions=[(1, 1, 1)], r_values=np.array([0.35]))[0, 0]
    tex = cu.inten * md
    m = _measured(_render(_positions(cu), tex / tex.max(), fwhm=0.3))
    phases = [cu, *_one_line_decoys(cu, spectra.PEAK_INDEX_CANDIDATES + 5)]
    payloads = [{"peaks": {"d": list(c.d), "intensity": list(c.inten), "hkl": list(c.hkl)}} for c in phases]
    ids = [f"p{i}" for i in range(len(phases))]
    index = spectra._PeakIndex.build(ids, payloads)
    denom = spectra._Denominators(index, m.mask)
    # the intensity-weighted coverage ranks the one-line cells first (Cu shows few of its expected lines) ...
    found, _ = spectra._peak_index_candidates(index, m, m.weight, set(), denom)
    assert "p0" not in found and len(found) == spectra.PEAK_INDEX_CANDIDATES
    # ... by positions alone (chance-corrected) Cu explains every peak and comes first
    found, _ = spectra._peak_index_candidates(index, m, m.weight, set(), denom, by_position=3)
    assert found[spectra.PEAK_INDEX_CANDIDATES] == "p0"
    # the line counts inside the measured range agree with a direct count
    inside = np.nonzero(m.mask)[0]
    direct = (index.ok & m.mask[index.bins] & (index.w[None] > 0)).sum(axis=2)
    assert inside.size and np.array_equal(index.counts(m.mask), direct)


def test_minor_phase_strain_is_not_pulled_onto_a_stronger_phase(cu: xp.Candidate) -> None:
    # a minor phase (12 % of the pattern) whose strongest line, 1.3 % strained, would sit on the Cu 111 peak: the
    # coarse strain must follow all of its lines, not put its strongest one on the other phase's strongest peak
    tt_minor = np.array([42.7, 55.0, 65.0])
    d = xp.LIB_WAVELENGTH / (2 * np.sin(np.radians(tt_minor / 2)))
    minor = xp.Candidate(d=d, inten=np.array([1.0, 0.5, 0.4]), hkl=["", "", ""], source="cod", crystal_system="",
                         lattice={})  # fmt: skip
    y = _render(_positions(cu), cu.inten) + 0.12 * _render(tt_minor, minor.inten)
    m = _measured(y / y.max())
    f = xp.fit(m, [cu, minor])
    assert abs(f.strain[1]) < 0.002
    assert f.n_matched[1] == 3


def test_confidence_models_keep_their_physical_signs() -> None:
    # both calibrated models (single phase, mixture phase) may only use a feature in its physical direction: more
    # agreement never lowers a confidence, window coverage or unexplained strong peaks never raise it
    signs = np.asarray(xp.CONF_SIGNS, dtype=np.float64)
    for coef in (xp.CONF_COEF, xp.MIX_COEF):
        assert coef.shape == signs.shape
        assert np.all(coef * signs >= 0.0)
    x = np.zeros((1, signs.size))
    x[0, xp.CONF_FEATURES.index("explained")] = 0.4  # a minor phase: explains little of the whole pattern
    x[0, xp.CONF_FEATURES.index("log_evidence")] = 3.0
    assert xp.probability(x, further=True)[0] != xp.probability(x)[0]  # the mixture model is its own


def test_margin_skips_twins_and_phases_beside_it(cu: xp.Candidate) -> None:
    """The competitor margin is taken to the best *different-pattern* candidate that explains the same peaks: an
    isostructural twin (the same lines 1.2 % apart, other ratios) joins the phase's group and does not count against
    it; a look-alike with extra strong lines does; a phase explaining other peaks (a mixture's other phase) does not."""
    rng = np.random.default_rng(3)
    twin = xp.Candidate(d=cu.d * 1.012, inten=cu.inten * np.exp(rng.normal(0, 0.15, cu.d.size)), hkl=cu.hkl,
                        source="materials_project", crystal_system=cu.crystal_system, lattice={})  # fmt: skip
    extra = np.array([2.9, 2.4, 1.6, 1.35])
    alike = xp.Candidate(d=np.concatenate([cu.d, extra]), inten=np.concatenate([cu.inten, np.full(4, 0.8)]),
                         hkl=cu.hkl + [""] * 4, source="materials_project", crystal_system="", lattice={})  # fmt: skip
    other = xp.Candidate(d=extra, inten=np.ones(4), hkl=[""] * 4, source="materials_project", crystal_system="",
                         lattice={})  # fmt: skip
    assert xp.pattern_similarity(cu, twin) >= xp.TWIN_SIM
    assert xp.pattern_similarity(cu, alike) < xp.TWIN_SIM
    m = _measured(_render(_positions(cu, -0.004), cu.inten))
    models = [cu, twin, alike, other]
    f = xp.fit(m, models)
    conf = xp.confidences(f, [c.source for c in models])
    mg = xp.Margins(conf, f.credit, m.weight, models)
    margin, twins = mg.get(0)
    assert twins == [1]
    z = np.log(conf / (1 - conf))
    assert margin == pytest.approx(min(z[0] - z[2], xp.MARGIN_CAP))
    # without the look-alike the only other candidate explains other peaks: no competitor, the cap
    mg2 = xp.Margins(conf[[0, 1, 3]], f.credit[[0, 1, 3]], m.weight, [cu, twin, other])
    assert mg2.get(0)[0] == xp.MARGIN_CAP
