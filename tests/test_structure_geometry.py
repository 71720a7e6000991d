"""The library's geometry check (session 6): pymatgen's AFLOW anatase (O atoms 1/8 c off) fails, the published
anatase passes, and a failing entry is merged into a plausible twin of the same formula and space group."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from matsearch.indexer.structures.entry import make_entry
from matsearch.indexer.structures.geometry import check_geometry
from matsearch.indexer.structures.library import check_and_prefer_plausible


def _anatase(z_o: float) -> Structure:
    # I4_1/amd (origin choice 1): Ti 4a (0, 0, 0), O 8e (0, 0, z)
    return Structure.from_spacegroup(
        "I4_1/amd", Lattice.tetragonal(3.785, 9.514), ["Ti", "O"], [[0, 0, 0], [0, 0, z_o]]
    )


GOOD_Z = 0.2081  # Howard et al. 1991 (Ti-O 4 x 1.934 + 2 x 1.980 A)
BAD_Z = GOOD_Z + 0.125  # the prototype's O: 1/8 c off (4 x 2.05 A, apical 3.17 A)


def test_anatase_with_its_o_atoms_off_fails_and_the_real_one_passes() -> None:
    good = check_geometry(_anatase(GOOD_Z))
    assert good.ok and 0.9 < good.metrics["anion_bvs_ratio"] < 1.15, good
    bad = check_geometry(_anatase(BAD_Z))
    assert not bad.ok and "under-bonded O" in bad.reason, bad
    rocksalt: list[list[float]] = [
        [0, 0, 0],
        [0.5, 0.5, 0],
        [0.5, 0, 0.5],
        [0, 0.5, 0.5],
        [0.5, 0.5, 0.5],
        [0, 0, 0.5],
        [0, 0.5, 0],
        [0.5, 0, 0],
    ]
    assert check_geometry(Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4, rocksalt)).ok
    tiny = check_geometry(Structure(Lattice.cubic(3.0), ["Na"] * 4 + ["Cl"] * 4, rocksalt))  # Na-Cl 1.50 A
    assert not tiny.ok and "too-short" in tiny.reason, tiny


def test_a_failing_entry_is_merged_into_its_plausible_twin() -> None:
    bad = make_entry(_anatase(BAD_Z), id="aflow-x", source="aflow", source_id="x", licence="-")
    good = make_entry(_anatase(GOOD_Z), id="mbd-x", source="materials_project", source_id="x", licence="-")
    alone = make_entry(_anatase(BAD_Z), id="aflow-y", source="aflow", source_id="y", licence="-")
    assert bad.spacegroup_number == good.spacegroup_number == 141
    kept, dropped = check_and_prefer_plausible([bad, good])
    assert [e.id for e in kept] == ["mbd-x"] and dropped == {"aflow-x": "mbd-x"}
    assert good.provenance["geometry_check"] == "pass"
    assert good.provenance["duplicates"][0]["geometry_check"].startswith("fail: under-bonded O")
    kept, dropped = check_and_prefer_plausible([alone])  # no plausible twin: kept, flagged
    assert [e.id for e in kept] == ["aflow-y"] and not dropped
    assert alone.provenance["geometry_check"].startswith("fail")
