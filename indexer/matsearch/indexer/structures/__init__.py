"""The ONE crystal-structure library of matsearch (used by the ``xrd`` and ``stem`` collections).

Bundled, offline, licence-clean sources (see ``data/ATTRIBUTION.md``):

- ``materials_project``: 4,764 Materials Project structures of matbench_dielectric (CC-BY-4.0), ids ``mbd-00000``…
- ``cod``: experimental COD CIFs (verbatim COD files), ids ``cod-<COD id>``
- ``reference``: hand-entered common reference materials and minerals (CC0, sources cited), ids ``ref-<name>``
- ``ncrystal``: crystalline materials of NCrystal's data library (Apache-2.0; COD/AMCSD structures), ids ``nc-<file>``
- ``dans_diffraction``: example CIFs of Dans_Diffraction (Apache-2.0), ids ``dd-<name>``
- ``ase``: elemental solids from ase's reference lattice constants, ids ``ase-<symbol>``
- user CIFs (``matsearch ingest cif``): ids ``cif-<sha256 of the file, 12 hex>``

API (stable; import from ``matsearch.indexer.structures``)::

    lib = load_library()                      # StructureLibrary, cached per process; ~10 s for everything
    lib = load_library(("cod", "ase"))        # some sources only; load_library(limit=200) caps the MP part
    for entry in lib: ...                     # StructureEntry, sorted by id
    entry = lib.get("mbd-00042")              # NotFound if absent (merged duplicates resolve to the kept entry)
    entry.structure                           # pymatgen Structure as read (MP: primitive cell)
    entry.conventional                        # conventional standard cell (cached), for zone axes
    entry.formula, entry.elements             # "MgO", ["Mg", "O"]
    entry.spacegroup_symbol, entry.spacegroup_number, entry.crystal_system
    entry.lattice                             # {"a","b","c","alpha","beta","gamma","volume"}
    entry.source, entry.source_id, entry.licence, entry.provenance, entry.ordered
    entry.payload()                           # JSON payload with all of the above + "structure_id"
    entry.content_hash                        # changes only when the structure changes (cache keys)
    entries = load_cif_path("x.cif")          # user CIF → validated entries (BadInput/UnsupportedMedia on bad files)
    entries = load_cif_bytes(data, "x.cif")
    kept, dropped = dedupe(entries)           # StructureMatcher de-duplication, first one wins
    make_entry(structure, id=..., source=..., source_id=..., licence=...)   # any pymatgen Structure

Validation rejects empty cells, degenerate lattices, dummy species, sites closer than 0.5 Å and cells over 400
sites; ``lib.skipped`` lists what was left out and why, ``lib.duplicates`` maps merged ids to kept ones.
"""

from __future__ import annotations

from matsearch.indexer.structures.entry import StructureEntry, crystal_system_of, make_entry, validate_structure
from matsearch.indexer.structures.library import (
    DEFAULT_SOURCES,
    SOURCES,
    StructureLibrary,
    build_library,
    dedupe,
    load_library,
)
from matsearch.indexer.structures.sources import SkippedStructure, load_cif_bytes, load_cif_path, parse_cif_text

__all__ = [
    "DEFAULT_SOURCES",
    "SOURCES",
    "SkippedStructure",
    "StructureEntry",
    "StructureLibrary",
    "build_library",
    "crystal_system_of",
    "dedupe",
    "load_cif_bytes",
    "load_cif_path",
    "load_library",
    "make_entry",
    "parse_cif_text",
    "validate_structure",
]
