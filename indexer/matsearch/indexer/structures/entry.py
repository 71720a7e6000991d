"""One crystal structure of the library: a validated, symmetry-analysed pymatgen ``Structure`` with its metadata."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matsearch.core.errors import BadInput

MAX_SITES = 400  # larger cells are rejected (slow to simulate, rare in powder work)
MIN_DISTANCE = 0.5  # Å; closer sites mean a broken file (duplicated atoms), not a real crystal

_CRYSTAL_SYSTEMS = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)


def crystal_system_of(spacegroup_number: int) -> str:
    for last, name in _CRYSTAL_SYSTEMS:
        if spacegroup_number <= last:
            return name
    raise ValueError(f"space group number {spacegroup_number} is not in 1..230")


@dataclass
class StructureEntry:
    """A library structure. ``id`` is stable across runs (e.g. ``mbd-00042``, ``cod-9008468``, ``ase-Cu``,
    ``cif-1a2b3c4d5e6f``); ``structure`` is the cell as read (symmetry refined only if the file needed it);
    ``conventional`` is the conventional standard cell (what zone axes refer to)."""

    id: str
    structure: Structure
    formula: str  # reduced formula, e.g. "MgO"
    full_formula: str  # e.g. "Mg4 O4"
    elements: list[str]  # sorted element symbols
    spacegroup_symbol: str
    spacegroup_number: int
    crystal_system: str
    lattice: dict[str, float]  # a, b, c (Å), alpha, beta, gamma (°), volume (Å³) of ``structure``
    source: str  # "materials_project", "cod", "dans_diffraction", "ase", "user"
    source_id: str
    licence: str
    provenance: dict[str, Any] = field(default_factory=dict)  # citation, file, url, duplicates, ...
    ordered: bool = True

    @cached_property
    def conventional(self) -> Structure:
        """Conventional standard cell (symprec 0.01, falling back to the cell as read)."""
        try:
            return SpacegroupAnalyzer(self.structure, symprec=0.01).get_conventional_standard_structure()
        except Exception:  # spglib can fail on odd cells; the cell as read is still a valid cell
            return self.structure

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the rounded lattice and sites: changes when (and only when) the structure changes."""
        s = self.structure
        parts = [np.round(s.lattice.matrix, 4).tolist()]
        for site in s:
            parts.append([str(site.species), np.round(site.frac_coords % 1.0, 4).tolist()])
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The JSON payload every collection built from this entry carries."""
        return {
            "structure_id": self.id,
            "formula": self.formula,
            "full_formula": self.full_formula,
            "elements": list(self.elements),
            "nelements": len(self.elements),
            "spacegroup_symbol": self.spacegroup_symbol,
            "spacegroup_number": self.spacegroup_number,
            "crystal_system": self.crystal_system,
            "lattice": dict(self.lattice),
            "nsites": len(self.structure),
            "density": round(float(self.structure.density), 4),
            "ordered": self.ordered,
            "source": self.source,
            "source_id": self.source_id,
            "licence": self.licence,
            "provenance": dict(self.provenance),
        }


def validate_structure(structure: Structure, what: str) -> None:
    """Raise BadInput naming the problem when ``structure`` is not a usable periodic crystal."""
    if len(structure) == 0:
        raise BadInput(f"{what}: no atomic sites")
    if len(structure) > MAX_SITES:
        raise BadInput(f"{what}: {len(structure)} sites in the cell (at most {MAX_SITES} supported)")
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)) or not math.isfinite(structure.volume) or structure.volume <= 1.0:
        raise BadInput(f"{what}: lattice is degenerate (volume {structure.volume:.3g} Å³)")
    for site in structure:
        for sp in site.species:
            if getattr(sp, "Z", 0) <= 0 or sp.symbol in ("X", "Xx", "D+", "T"):
                raise BadInput(f"{what}: unknown species {sp!s} (dummy or unsupported)")
        if not np.all(np.isfinite(site.frac_coords)):
            raise BadInput(f"{what}: a site has non-finite coordinates")
    if len(structure) > 1:
        dm = structure.distance_matrix
        np.fill_diagonal(dm, np.inf)
        closest = float(dm.min())
        if closest < MIN_DISTANCE:
            raise BadInput(f"{what}: two sites are {closest:.2f} Å apart (broken or duplicated atoms)")


def make_entry(
    structure: Structure,
    *,
    id: str,
    source: str,
    source_id: str,
    licence: str,
    provenance: dict[str, Any] | None = None,
    symprec: float = 0.01,
) -> StructureEntry:
    """Validate ``structure``, analyse its symmetry and build the entry (raises BadInput on a broken structure)."""
    validate_structure(structure, id)
    spg_symbol, spg_number = "P1", 1
    provenance = dict(provenance or {})
    failures: list[str] = []
    for prec in (symprec, 0.1):
        try:
            sga = SpacegroupAnalyzer(structure, symprec=prec)
            spg_symbol, spg_number = sga.get_space_group_symbol(), int(sga.get_space_group_number())
            break
        except Exception as exc:  # noqa: BLE001 - spglib raises several kinds; we record it and say so
            failures.append(f"symprec {prec:g}: {type(exc).__name__}: {exc}")
    else:
        # spglib failed at every tolerance: the entry is stored as P1, and the payload says why
        provenance["symmetry"] = "unresolved, stored as P1 (" + "; ".join(failures) + ")"
    comp = structure.composition
    lat = structure.lattice
    return StructureEntry(
        id=id,
        structure=structure,
        formula=comp.reduced_formula,
        full_formula=comp.formula,
        elements=sorted({el.symbol for el in comp.elements}),
        spacegroup_symbol=spg_symbol,
        spacegroup_number=spg_number,
        crystal_system=crystal_system_of(spg_number),
        lattice={
            "a": round(lat.a, 5),
            "b": round(lat.b, 5),
            "c": round(lat.c, 5),
            "alpha": round(lat.alpha, 4),
            "beta": round(lat.beta, 4),
            "gamma": round(lat.gamma, 4),
            "volume": round(lat.volume, 4),
        },
        source=source,
        source_id=source_id,
        licence=licence,
        provenance=provenance,
        ordered=bool(structure.is_ordered),
    )
