"""The library's twin table (session 10): near-identical library patterns found at build time, stored in the payloads,
used by the competitor margin and reported with every hit as its isostructural group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from matsearch.core.settings import Settings
from matsearch.encoders.xrd_pattern import Pattern
from matsearch.indexer.context import BuildOptions
from matsearch.indexer.structures import load_library
from matsearch.indexer.xrd import twins
from matsearch.indexer.xrd.build import COLLECTION, build_xrd, simulate_entries
from matsearch.search import spectra as xsearch
from matsearch.search import xrd_phase as xp
from matsearch.server.service import Service


def _payload(d: np.ndarray, inten: np.ndarray, sid: str) -> dict[str, Any]:
    return {"structure_id": sid, "formula": sid, "peaks": {"d": d.tolist(), "intensity": inten.tolist()}}


def _random_library(n: int, twins_of: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for k in range(n):
        m = int(rng.integers(4, 40))
        d = np.sort(rng.uniform(1.0, 8.0, m))[::-1]
        out[f"p{k}"] = _payload(d, rng.uniform(1, 100, m), f"p{k}")
    for k in range(twins_of):  # isostructural twins: the same lines, a 0.5–2.5 % other cell, other intensities
        src = out[f"p{k}"]["peaks"]
        d = np.asarray(src["d"]) * (1 + rng.uniform(0.005, 0.025))
        inten = np.asarray(src["intensity"]) * rng.uniform(0.6, 1.4, d.size)
        out[f"t{k}"] = _payload(d, inten, f"t{k}")
    return out


def test_twin_table_is_the_search_similarity_and_the_coarse_pass_misses_no_pair() -> None:
    payloads = _random_library(160, 25)
    table, checked = twins.twin_table(payloads)
    ids = list(payloads)
    cands = {i: xp.candidate_from_payload(payloads[i]) for i in ids}
    # brute force: every pair at or above the table's line, by the search's own pattern_similarity
    expected = set()
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            if xp.pattern_similarity(cands[ids[a]], cands[ids[b]]) >= twins.TABLE_MIN:
                expected.add((ids[a], ids[b]))
    found = {(a, b) for a in table for b, _ in table[a] if ids.index(a) < ids.index(b)}
    assert found == expected and len(expected) >= 20
    assert checked < len(ids) * (len(ids) - 1) // 2 / 4  # the coarse pass correlates a small share of the pairs
    sims = dict(table["p0"])
    assert abs(sims["t0"] - xp.pattern_similarity(cands["p0"], cands["t0"])) < 1e-5
    assert ("p0", sims["t0"]) in table["t0"]  # both ways


def _margins(tables: list[dict[str, float] | None] | None) -> xp.Margins:
    # two candidates that explain the same peaks with different patterns: a confident one and one 2 logits below
    c1 = xp.candidate_from_payload(_payload(np.array([3.0, 2.0]), np.array([100.0, 50.0]), "a"))
    c2 = xp.candidate_from_payload(_payload(np.array([2.5, 1.5]), np.array([100.0, 50.0]), "b"))
    conf = 1.0 / (1.0 + np.exp(-np.array([3.0, 1.0])))
    credit = np.ones((2, 4))
    return xp.Margins(conf, credit, np.ones(4), [c1, c2], tables, ["a", "b"])


def test_margin_groups_by_the_library_twin_table_when_there_is_one() -> None:
    assert abs(_margins(None).get(0)[0] - 2.0) < 1e-9  # no table: the patterns differ, so b is a competitor
    as_twins: list[dict[str, float] | None] = [{"b": 0.97}, {"a": 0.97}]
    margin, group = _margins(as_twins).get(0)
    assert margin == xp.MARGIN_CAP and group == [1]  # the table says twins: b does not count against a
    apart: list[dict[str, float] | None] = [{}, {}]
    assert abs(_margins(apart).get(0)[0] - 2.0) < 1e-9


def _ag_pattern(peaks: Any) -> Pattern:
    x = np.arange(10.0, 90.0, 0.02)
    y = np.full(x.size, 20.0)
    for t, i in zip(peaks.two_theta, peaks.intensity, strict=True):
        y += 1000.0 * i / 100.0 * np.exp(-0.5 * ((x - t) / 0.05) ** 2)
    return Pattern(two_theta=x, intensity=y, wavelength=1.54056, name="ag.xy")


def test_build_stores_the_twin_table_and_a_hit_reports_its_isostructural_group(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lib = load_library(("ase",), cache_dir=settings.data_dir / "cache")
    ids = ["ase-Ag", "ase-Au", "ase-Cu", "ase-Si", "ase-Fe", "ase-Mg"]
    opts = BuildOptions(workers=1, progress=False, sources=("ase",))
    service = Service(settings)
    try:
        build_xrd(service, lib.subset(ids), opts)
        recs = {r.payload["structure_id"]: r for r in service.store.scroll(COLLECTION, limit=100)[0]}
        ag = recs["ase-Ag"].payload[twins.PAYLOAD_KEY]["twins"]
        assert [t[1] for t in ag if t[4] >= xsearch.GROUP_SIM] == ["ase-Au"]  # fcc, a within 0.3 %
        assert recs["ase-Si"].payload[twins.PAYLOAD_KEY]["twins"] == []
        assert twins.update_twins(service.store).updated == 0  # nothing changed: nothing written
        peaks, _ = simulate_entries([lib.get("ase-Ag")], settings.data_dir, workers=1, progress=False)
        encoder = service.encoder("xrd-cnn")
        out = xsearch.search_spectrum(service.store, encoder, _ag_pattern(peaks["ase-Ag"]))
        top = out["hits"][0]
        assert top["payload"]["formula"] in ("Ag", "Au") and "twin_group" not in top["payload"]
        assert top["group"]["identification"] == "isostructural group" and top["group"]["size"] == 2
        assert top["fom"]["group_size"] == 2
        # Au leaves the library: Ag's group is itself alone again (the full build rewrites the table)
        build_xrd(service, lib.subset([i for i in ids if i != "ase-Au"]), opts)
        recs = {r.payload["structure_id"]: r for r in service.store.scroll(COLLECTION, limit=100)[0]}
        assert "ase-Au" not in recs and recs["ase-Ag"].payload[twins.PAYLOAD_KEY]["twins"] == []
    finally:
        service.close()


def test_shipped_final_model_puts_its_calibrated_operating_point_at_the_threshold() -> None:
    """Session 10: the joint fit's threshold (≤ 3 % of in-library calibration queries without a hit on each of three
    draws) is moved onto the shipped threshold by a bias shift; more margin never lowers the confidence."""
    assert not xp.final_is_base() and xp.MARGIN_TWIN_SIM == 0.90
    x = np.zeros((1, len(xp.CONF_FEATURES)))
    z_fit = np.log(xp._FINAL_FIT_THRESHOLD / (1 - xp._FINAL_FIT_THRESHOLD))
    x[0, 1] = (z_fit - xp._FINAL_FIT_BIAS) / xp.FINAL_COEF[1]  # a fit exactly at the calibrated operating point
    p = float(xp.final_probability(x, np.array([0.0]))[0])
    # session 11: the rule on the replayed accept rule over seven calibration groups moves it by _RULE_SHIFT logits
    z_ship = np.log(xsearch.DEFAULT_THRESHOLD / (1 - xsearch.DEFAULT_THRESHOLD))
    assert abs(p - 1.0 / (1.0 + np.exp(-(z_ship + xp._RULE_SHIFT)))) < 1e-9
    assert xp.final_probability(x, np.array([2.0]))[0] > p  # a clearer winner over other explanations
    assert xp.final_probability(x, np.array([20.0]))[0] == xp.final_probability(x, np.array([xp.MARGIN_CAP]))[0]


def _with_tables(payloads: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The payloads as a built collection holds them: each with its stored twin_group (``update_twins``' value)."""
    table, _ = twins.twin_table(payloads)
    out = {}
    for pid, pl in payloads.items():
        entries = [twins._entry(t, s, payloads) for t, s in table[pid]]
        out[pid] = {**pl, twins.PAYLOAD_KEY: {"version": twins.TABLE_VERSION, "min": twins.TABLE_MIN, "twins": entries}}
    return out


def test_added_points_update_the_table_to_what_the_whole_pass_gives() -> None:
    # session 11: `matsearch ingest cif` searches only the pairs of the points it added
    everything = _random_library(160, 25, seed=3)
    added = {f"p{k}" for k in range(0, 160, 16)} | {f"t{k}" for k in range(0, 25, 4)}  # twins of old points too
    old = _with_tables({k: v for k, v in everything.items() if k not in added})
    now = {**old, **{k: everything[k] for k in added}}
    result = twins.twin_table_added(now, added)
    assert result is not None
    table, checked = result
    full, full_checked = twins.twin_table(everything)
    assert set(table) == set(full)
    for pid in full:
        assert [t for t, _ in table[pid]] == [t for t, _ in full[pid]], pid
        # the stored similarities are rounded to 4 decimals
        assert np.allclose([s for _, s in table[pid]], [s for _, s in full[pid]], atol=6e-5)
    assert any(table[f"p{k}"] for k in range(0, 25, 4))  # old points gained their added twins
    assert checked < full_checked  # only the added points' pairs were correlated
    # a point without a current table (an older library) forces the whole pass
    stale = dict(now)
    stale["p1"] = everything["p1"]
    assert twins.twin_table_added(stale, added) is None
    # nothing added: the stored lists, nothing correlated
    same = twins.twin_table_added(old, set())
    assert same is not None and same[1] == 0
