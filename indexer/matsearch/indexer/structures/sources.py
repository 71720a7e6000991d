"""Where library structures come from: bundled data files, elemental solids from ase, and user CIFs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from matsearch.core.errors import BadInput, MatsearchError, UnsupportedMedia
from matsearch.indexer.structures.entry import StructureEntry, make_entry

DATA_DIR = Path(__file__).resolve().parent / "data"
MP_FILE = DATA_DIR / "matbench_dielectric.json.gz"
COD_DIR = DATA_DIR / "cod"
DANS_DIR = DATA_DIR / "dans_diffraction"

MP_LICENCE = "CC-BY-4.0"
MP_CITATION = (
    "A. Jain et al., APL Materials 1, 011002 (2013), Materials Project; matbench_dielectric (A. Dunn et al., "
    "npj Comput. Mater. 6, 138 (2020)), as bundled in crystal-toolkit"
)
COD_LICENCE = "COD (public domain, cite the original article)"
DANS_LICENCE = "Apache-2.0"
ASE_LICENCE = "public data (lattice constants from ase.data.reference_states, LGPL-2.1 package)"
# Dans_Diffraction example files that are not real materials (generic lattices, test cells, supercells).
DANS_SKIP = {"Cubic", "triclinic", "BCC", "FCC", "HCP", "NaCoO2_stripe_supercell"}

_CIF_TAGS = {
    "cod_id": "_cod_database_code",
    "journal": "_journal_name_full",
    "year": "_journal_year",
    "doi": "_journal_paper_doi",
    "title": "_publ_section_title",
    "mineral": "_chemical_name_mineral",
}


@dataclass(frozen=True)
class SkippedStructure:
    """A structure that could not be used: ``item`` names it, ``reason`` says why."""

    item: str
    reason: str


def _cif_meta(text: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, tag in _CIF_TAGS.items():
        m = re.search(rf"^\s*{re.escape(tag)}[ \t]+(?:'([^'\n]*)'|\"([^\"\n]*)\"|(\S+))\s*$", text, re.M | re.I)
        if m is None and key == "title":
            m = re.search(rf"^\s*{re.escape(tag)}\s*\n;\s*\n?(.*?)\n;", text, re.M | re.S | re.I)
            if m:
                meta[key] = " ".join(m.group(1).split())
            continue
        if m:
            value = next(g for g in m.groups() if g is not None).strip()
            if value and value not in ("?", "."):
                meta[key] = value
    return meta


def parse_cif_text(text: str, name: str) -> list[Structure]:
    """All structures in a CIF text (one per data block); BadInput naming the file when none can be read."""
    from pymatgen.io.cif import CifParser

    if not text.strip():
        raise BadInput(f"{name}: empty CIF")
    if "_cell_length_a" not in text and "_cell_length_a".upper() not in text:
        raise UnsupportedMedia(f"{name}: not a CIF (no _cell_length_a)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser(io.StringIO(text), occupancy_tolerance=1.05)
            structures = parser.parse_structures(primitive=False)
    except Exception as exc:  # pymatgen raises ValueError/KeyError/... on broken CIFs
        raise BadInput(f"{name}: CIF could not be parsed ({type(exc).__name__}: {exc})") from exc
    if not structures:
        raise BadInput(f"{name}: CIF has no readable structure")
    return structures


def load_mp(limit: int | None = None) -> Iterator[StructureEntry | SkippedStructure]:
    """The 4,764 Materials Project structures of matbench_dielectric (CC-BY-4.0)."""
    with gzip.open(MP_FILE, "rt") as fh:
        data = json.load(fh)
    keys = sorted(data["structure"], key=int)
    if limit is not None:
        keys = keys[:limit]
    for key in keys:
        sid = f"mbd-{int(key):05d}"
        try:
            structure = Structure.from_dict(data["structure"][key])
            yield make_entry(
                structure,
                id=sid,
                source="materials_project",
                source_id=f"matbench_dielectric:{key}",
                licence=MP_LICENCE,
                provenance={"dataset": "matbench_dielectric", "row": int(key), "citation": MP_CITATION},
            )
        except BadInput as exc:
            yield SkippedStructure(sid, exc.message)


def _load_cif_dir(
    directory: Path, prefix: str, source: str, licence: str, skip: set[str]
) -> Iterator[StructureEntry | SkippedStructure]:
    for path in sorted(directory.glob("*.cif")):
        if path.stem in skip:
            continue
        text = path.read_text(errors="replace")
        meta = _cif_meta(text)
        source_id = str(meta.get("cod_id", path.stem))
        sid = f"{prefix}-{source_id}"
        try:
            structure = parse_cif_text(text, path.name)[0]
            provenance = {"file": f"{directory.name}/{path.name}", **meta}
            if "cod_id" in meta:
                provenance["url"] = f"https://www.crystallography.net/cod/{meta['cod_id']}.html"
            yield make_entry(
                structure, id=sid, source=source, source_id=source_id, licence=licence, provenance=provenance
            )
        except MatsearchError as exc:
            yield SkippedStructure(sid, exc.message)


def load_cod() -> Iterator[StructureEntry | SkippedStructure]:
    """Experimental COD CIFs (verbatim COD files, as redistributed by the ``crystals`` package)."""
    return _load_cif_dir(COD_DIR, "cod", "cod", COD_LICENCE, set())


def load_dans() -> Iterator[StructureEntry | SkippedStructure]:
    """Example CIFs of Dans_Diffraction (Apache-2.0), generic test lattices left out."""
    return _load_cif_dir(DANS_DIR, "dd", "dans_diffraction", DANS_LICENCE, DANS_SKIP)


def load_elements() -> Iterator[StructureEntry | SkippedStructure]:
    """Elemental solids with the reference lattice constants ase knows (fcc, bcc, hcp, diamond, simple cubic)."""
    from ase.build import bulk
    from ase.data import chemical_symbols, reference_states
    from pymatgen.io.ase import AseAtomsAdaptor

    for z, ref in enumerate(reference_states):
        if not ref or ref.get("symmetry") not in ("fcc", "bcc", "hcp", "diamond", "sc"):
            continue
        symbol = chemical_symbols[z]
        sid = f"ase-{symbol}"
        try:
            atoms = bulk(symbol, cubic=ref["symmetry"] in ("fcc", "bcc", "diamond", "sc"))
            structure = AseAtomsAdaptor.get_structure(atoms)
            yield make_entry(
                structure,
                id=sid,
                source="ase",
                source_id=symbol,
                licence=ASE_LICENCE,
                provenance={"prototype": ref["symmetry"], "citation": "ase.data.reference_states"},
            )
        except (BadInput, ValueError, KeyError) as exc:
            yield SkippedStructure(sid, str(exc))


def load_cif_bytes(
    data: bytes, name: str, *, licence: str = "user-supplied", source: str = "user"
) -> list[StructureEntry]:
    """Entries from a user CIF (every data block). Ids derive from the file's content: ``cif-<sha256[:12]>[-n]``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    structures = parse_cif_text(text, name)
    meta = _cif_meta(text)
    digest = hashlib.sha256(data).hexdigest()[:12]
    entries = []
    for i, structure in enumerate(structures):
        sid = f"cif-{digest}" if len(structures) == 1 else f"cif-{digest}-{i}"
        entries.append(
            make_entry(
                structure,
                id=sid,
                source=source,
                source_id=f"{name}#{i}" if len(structures) > 1 else name,
                licence=licence,
                provenance={"file": name, **meta},
            )
        )
    return entries


def load_cif_path(path: str | Path, **kwargs: Any) -> list[StructureEntry]:
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"{p}: no such file")
    if p.suffix.lower() not in (".cif", ".mcif"):
        raise UnsupportedMedia(f"{p.name}: expected a .cif file")
    return load_cif_bytes(p.read_bytes(), p.name, **kwargs)
