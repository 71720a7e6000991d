"""Library breadth (session 9, issue 10): the NCrystal source (its parser on NCMAT text, every committed structure
with the space group NCrystal states) and the hand-entered reference phases (carbides/nitrides, carbonates,
sulphates, spinel/bixbyite/ilmenite, apatite), each checked against the strongest lines of its known pattern."""

from __future__ import annotations

import json

import pytest

from matsearch.indexer.structures.geometry import check_geometry
from matsearch.indexer.structures.ncrystal import NCRYSTAL_FILE, parse_ncmat
from matsearch.indexer.structures.sources import SkippedStructure, load_ncrystal, load_reference

NCMAT = """NCMAT v5
#
# Magnesium carbonate (MgCO3, trigonal, SG-167 / R-3c)
#
#    Crystallography Open Database entry 9007692
#    https://www.crystallography.net/cod/9007692.html
#
# The VDOS curves were calculated ...
@CELL
  lengths 4.632 !! 15.002  # a, b (= a), c
  angles 90 90 120
@SPACEGROUP
  167
@ATOMPOSITIONS
  Mg   0   0   0
  C    0   0 1/4
  O .27748 0 1/4
@DYNINFO
  element Mg
"""


def test_parse_ncmat_reads_cell_fractions_and_source() -> None:
    item = parse_ncmat(NCMAT, "MgCO3_sg167_MagnesiumCarbonate.ncmat")
    assert item is not None
    assert item["cell"] == {"a": 4.632, "b": 4.632, "c": 15.002, "alpha": 90.0, "beta": 90.0, "gamma": 120.0}
    assert item["sites"][1] == ["C", [0.0, 0.0, 0.25]] and item["spacegroup_number"] == 167
    assert item["cod_id"] == "9007692" and "Magnesium carbonate" in item["about"] and "VDOS" not in item["about"]
    cubic = parse_ncmat("NCMAT v5\n@CELL\n cubic 5.6401\n@SPACEGROUP\n 225\n@ATOMPOSITIONS\n Na 0 0 0\n", "x.ncmat")
    assert cubic is not None and cubic["cell"]["c"] == 5.6401 and cubic["cell"]["gamma"] == 90.0


def test_parse_ncmat_skips_non_crystals_and_names_broken_files() -> None:
    assert parse_ncmat("NCMAT v5\n@DENSITY\n 0.9 g_per_cm3\n", "Polyethylene.ncmat") is None
    with pytest.raises(ValueError, match="not an NCMAT"):
        parse_ncmat("hello", "x.ncmat")
    with pytest.raises(ValueError, match="unknown @CELL keyword"):
        parse_ncmat("NCMAT v5\n@CELL\n hexagonal 3 5\n@SPACEGROUP\n 194\n@ATOMPOSITIONS\n Zn 0 0 0\n", "x.ncmat")


def test_every_ncrystal_structure_loads_with_its_stated_space_group() -> None:
    doc = json.loads(NCRYSTAL_FILE.read_text())
    assert doc["licence"].startswith("Apache-2.0") and len(doc["structures"]) >= 100
    entries = list(load_ncrystal())
    assert not [e for e in entries if isinstance(e, SkippedStructure)]
    assert len(entries) == len(doc["structures"])
    for e in entries:
        assert not isinstance(e, SkippedStructure)
        assert e.source == "ncrystal" and e.licence.startswith("Apache-2.0")
        assert e.spacegroup_number == e.provenance["ncrystal_spacegroup"], e.id  # full cell → symmetry found again
    ids = {e.id for e in entries if not isinstance(e, SkippedStructure)}
    for common in (
        "nc-Cu_sg225",
        "nc-Fe_sg229_Iron-alpha",
        "nc-CaCO3_sg62_Aragonite",
        "nc-MgO2H2_sg164_MagnesiumHydroxide",
    ):
        assert common in ids


# id → (space group, d-spacings of the strongest simulated Cu Kα1 lines, strongest first, as the known patterns list
# them: barite 3.445/3.103, anglesite 3.00, fluorapatite 2.81/2.70, dolomite 2.886, siderite 2.795, ilmenite 2.754/
# 2.544, Co3O4 2.437, bixbyite 2.716, TiC 2.164/2.499, TiN 2.121/2.449)
KNOWN = {
    "ref-BaSO4": (62, (3.104, 3.445)),
    "ref-PbSO4": (62, (3.007,)),
    "ref-fluorapatite": (176, (2.808, 2.713)),
    "ref-dolomite": (148, (2.883,)),
    "ref-FeCO3": (167, (2.793,)),
    "ref-FeTiO3": (148, (2.751, 2.544)),
    "ref-Co3O4": (227, (2.437,)),
    "ref-Mn2O3": (206, (2.718,)),
    "ref-TiC": (225, (2.164, 2.499)),
    "ref-TiN": (225, (2.121, 2.449)),
}


def test_new_reference_phases_give_their_known_strongest_lines() -> None:
    from matsearch.indexer.xrd.simulate import simulate_peaks

    refs = {e.id: e for e in load_reference() if not isinstance(e, SkippedStructure)}
    for sid, (sg, lines) in KNOWN.items():
        e = refs[sid]
        assert e.spacegroup_number == sg, sid
        p = simulate_peaks(e.structure)
        ranked = [d for _, d in sorted(zip(p.intensity, p.d, strict=True), reverse=True)]
        assert ranked[: len(lines)] == pytest.approx(list(lines), abs=0.004), sid
        # bond lengths and valences are chemical (fluorapatite: the check's F-anion rule flags its O-only Ca1 site)
        label = check_geometry(e.structure).label
        assert label == "pass" or (sid == "ref-fluorapatite" and "isolated cation" in label), (sid, label)
