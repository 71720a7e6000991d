"""The shared structure library: bundled sources, validation, symmetry, dedupe, user CIFs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from matsearch.core.errors import BadInput, NotFound, UnsupportedMedia
from matsearch.core.settings import Settings
from matsearch.indexer.structures import (
    build_library,
    dedupe,
    load_cif_bytes,
    load_library,
    make_entry,
)
from matsearch.indexer.structures.sources import COD_DIR

NACL_CIF = """data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Na2 Na 0 0.5 0.5
Na3 Na 0.5 0 0.5
Na4 Na 0.5 0.5 0
Cl1 Cl 0.5 0.5 0.5
Cl2 Cl 0.5 0 0
Cl3 Cl 0 0.5 0
Cl4 Cl 0 0 0.5
"""


def test_small_library_has_metadata(tmp_path: Path) -> None:
    lib = load_library(("cod", "ase", "materials_project"), limit=40, cache_dir=tmp_path)
    assert len(lib) > 100
    cu = lib.get("cod-9008468")
    assert cu.formula == "Cu" and cu.elements == ["Cu"]
    assert cu.spacegroup_number == 225 and cu.spacegroup_symbol == "Fm-3m" and cu.crystal_system == "cubic"
    assert abs(cu.lattice["a"] - 3.615) < 0.01
    assert cu.provenance["cod_id"] == "9008468" and cu.licence.startswith("COD")
    # the ase copper is the same crystal: merged into the COD entry, and its id still resolves
    assert lib.duplicates.get("ase-Cu") == "cod-9008468"
    assert lib.get("ase-Cu").id == "cod-9008468"
    mp = lib.get("mbd-00000")
    assert mp.source == "materials_project" and mp.licence == "CC-BY-4.0"
    payload = mp.payload()
    for key in ("structure_id", "formula", "elements", "spacegroup_symbol", "spacegroup_number", "crystal_system"):
        assert key in payload
    assert len(mp.conventional) >= 1
    with pytest.raises(NotFound):
        lib.get("nope")
    # second call: same object from the process cache; a fresh process would read the pickle
    assert load_library(("cod", "ase", "materials_project"), limit=40, cache_dir=tmp_path) is lib
    assert list(tmp_path.glob("structures-*.pkl"))


def test_user_cif_and_dedupe() -> None:
    (entry,) = load_cif_bytes(NACL_CIF.encode(), "nacl.cif")
    assert entry.id.startswith("cif-") and entry.formula == "NaCl" and entry.spacegroup_number == 225
    # same bytes, same id
    assert load_cif_bytes(NACL_CIF.encode(), "other.cif")[0].id == entry.id
    scaled = entry.structure.copy()
    scaled.scale_lattice(scaled.volume * 1.03)
    twin = make_entry(scaled, id="twin", source="user", source_id="twin", licence="x")
    kept, dropped = dedupe([entry, twin])
    assert [e.id for e in kept] == [entry.id] and dropped == {"twin": entry.id}


def test_bad_structures_are_rejected() -> None:
    with pytest.raises(BadInput, match="empty"):
        load_cif_bytes(b"  ", "e.cif")
    with pytest.raises(UnsupportedMedia):
        load_cif_bytes(b"hello world", "x.cif")
    overlapping = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])
    with pytest.raises(BadInput, match="apart"):
        make_entry(overlapping, id="bad", source="user", source_id="bad", licence="x")


def test_bundled_cod_files_all_load() -> None:
    lib = build_library(("cod",), deduplicate=False)
    files = list(COD_DIR.glob("*.cif"))
    assert not lib.skipped
    assert len(lib) >= len(files) - 3  # a few files are the same COD entry under two names
    assert all(e.id.startswith("cod-") and e.provenance.get("url") for e in lib)


def test_library_build_recreates_a_collection_whose_vectors_changed(tmp_path: Path) -> None:
    """Derived library collections are rebuilt, not refused, after an encoder changes their vector size."""
    from matsearch.indexer.library import drop_if_stale
    from matsearch.server.service import Service
    from matsearch.store.base import CollectionSpec, VectorSpec
    from matsearch.store.collections import XRD

    service = Service(Settings(data_dir=tmp_path / "data"))
    try:
        service.store.ensure_collection(CollectionSpec("xrd", vectors=(VectorSpec("xrd", 7),)))
        assert drop_if_stale(service, "xrd") is True
        assert not service.store.has_collection("xrd")
        service.store.ensure_collection(XRD)
        assert drop_if_stale(service, "xrd") is False and service.store.has_collection("xrd")
    finally:
        service.close()
