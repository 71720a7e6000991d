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

from matsearch.core.errors import BadInput, MatsearchError, TooLarge, UnsupportedMedia
from matsearch.core.settings import Settings, get_settings
from matsearch.indexer.structures.entry import MAX_SITES, StructureEntry, make_entry

DATA_DIR = Path(__file__).resolve().parent / "data"
MP_FILE = DATA_DIR / "matbench_dielectric.json.gz"
COD_DIR = DATA_DIR / "cod"
DANS_DIR = DATA_DIR / "dans_diffraction"
REFERENCE_FILE = DATA_DIR / "reference_materials.json"

MP_LICENCE = "CC-BY-4.0"
MP_CITATION = (
    "A. Jain et al., APL Materials 1, 011002 (2013), Materials Project; matbench_dielectric (A. Dunn et al., "
    "npj Comput. Mater. 6, 138 (2020)), as bundled in crystal-toolkit"
)
COD_LICENCE = "COD (public domain, cite the original article)"
DANS_LICENCE = "Apache-2.0"
REFERENCE_LICENCE = "CC0-1.0 (hand-entered published crystallographic data; sources cited per entry)"
AFLOW_LICENCE = "AFLOW Library of Crystallographic Prototypes (as shipped in pymatgen, MIT); cite the AFLOW papers"
AFLOW_CITATION = (
    "M. J. Mehl et al., Comput. Mater. Sci. 136, S1 (2017); D. Hicks et al., Comput. Mater. Sci. 161, S1 (2019); "
    "pymatgen/analysis/prototypes/aflow_prototypes.json.gz"
)
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


def parse_cif_text(text: str, name: str, settings: Settings | None = None) -> list[Structure]:
    """All structures in a CIF text (one per data block); BadInput naming the file when none can be read.

    Before pymatgen expands the symmetry (quadratic in the positions it generates: a 200-site block in Fm-3m takes
    minutes), the tokenised file is checked against the limits: size, data blocks, asymmetric sites and sites x
    symmetry operations per block (TooLarge naming which)."""
    from pymatgen.io.cif import CifParser

    settings = settings or get_settings()
    if not text.strip():
        raise BadInput(f"{name}: empty CIF")
    size = len(text.encode("utf-8", errors="replace"))
    if size > settings.max_cif_bytes:
        raise TooLarge(f"{name}: CIF is {size} bytes; the limit is {settings.max_cif_bytes} (MATSEARCH_MAX_CIF_BYTES)")
    if "_cell_length_a" not in text and "_cell_length_a".upper() not in text:
        raise UnsupportedMedia(f"{name}: not a CIF (no _cell_length_a)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser(io.StringIO(text), occupancy_tolerance=1.05)  # tokenises only
            check_cif_blocks(parser, name, settings)
            structures = parser.parse_structures(primitive=False)
    except MatsearchError:
        raise
    except Exception as exc:  # pymatgen raises ValueError/KeyError/... on broken CIFs
        raise BadInput(f"{name}: CIF could not be parsed ({type(exc).__name__}: {exc})") from exc
    if not structures:
        raise BadInput(f"{name}: CIF has no readable structure")
    return structures


_SITE_TAGS = ("_atom_site_fract_x", "_atom_site_cartn_x", "_atom_site_label", "_atom_site_type_symbol")
_SYMOP_TAGS = (
    "_symmetry_equiv_pos_as_xyz",
    "_symmetry_equiv_pos_as_xyz_",
    "_space_group_symop_operation_xyz",
    "_space_group_symop_operation_xyz_",
)
_SYMBOL_TAGS = (
    "_symmetry_space_group_name_H-M",
    "_symmetry_space_group_name_H_M",
    "_space_group_name_Hall",
    "_space_group_name_H-M_alt",
    "_symmetry_space_group_name_hall",
    "_symmetry_space_group_name_h-m",
)
MAX_SYMOPS = 192  # Fm-3m and the other F-centred cubic groups: the most any space group has


def count_symops(data: dict[str, Any]) -> int:
    """How many operations pymatgen will apply to each site, found the way its CifParser.get_symops finds them (the
    first symop loop that parses, else the space-group symbol), but counted from a table instead of generating
    the group (which alone takes ~1 s). Unknown → the maximum, 192."""
    from pymatgen.core.operations import SymmOp
    from pymatgen.symmetry.groups import SYMM_DATA

    for tag in _SYMOP_TAGS:
        xyz = data.get(tag)
        if xyz:
            ops = [xyz] if isinstance(xyz, str) else list(xyz)
            try:
                for op in ops:
                    SymmOp.from_xyz_str(op)
            except ValueError:
                continue
            return max(1, len(ops))
    encoding = SYMM_DATA["space_group_encoding"]
    symbols = {re.sub(r"[\s_]", "", key): key for key in encoding}
    for tag in _SYMBOL_TAGS:
        symbol = data.get(tag)
        if isinstance(symbol, str) and (key := symbols.get(re.sub(r"[\s_]", "", symbol))):
            return int(encoding[key].get("order") or MAX_SYMOPS)
    return MAX_SYMOPS


def check_cif_blocks(parser: Any, name: str, settings: Settings) -> None:
    """Blocks, asymmetric sites and sites x operations (the operations as pymatgen itself will find them: the
    symop loop, else the space-group symbol) within the limits."""
    blocks = list(parser._cif.data.values())  # noqa: SLF001 - the tokenised blocks; expansion has not run yet
    if len(blocks) > settings.max_cif_blocks:
        raise TooLarge(
            f"{name}: {len(blocks)} data blocks; the limit is {settings.max_cif_blocks} (MATSEARCH_MAX_CIF_BLOCKS)"
        )
    for block in blocks:
        data = {str(k).lower(): v for k, v in block.data.items()}
        sites = max(
            (len(v) if isinstance(v, list) else 1 for t in _SITE_TAGS if (v := data.get(t)) is not None), default=0
        )
        if sites > MAX_SITES:
            raise TooLarge(f"{name}: {sites} atom sites in block {block.header!r}; at most {MAX_SITES} are supported")
        if sites == 0:
            continue
        ops = count_symops(block.data)
        if sites * ops > settings.max_cif_expanded_sites:
            raise TooLarge(
                f"{name}: {sites} sites x {ops} symmetry operations = {sites * ops} positions to expand in block "
                f"{block.header!r}; the limit is {settings.max_cif_expanded_sites} (MATSEARCH_MAX_CIF_EXPANDED_SITES)"
            )


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


def load_reference() -> Iterator[StructureEntry | SkippedStructure]:
    """Common powder reference materials and minerals (LaB6, corundum, magnetite, ...) from published lattice
    constants and Wyckoff positions (``data/reference_materials.json``)."""
    from pymatgen.core import Lattice

    data = json.loads(REFERENCE_FILE.read_text())
    for item in data["structures"]:
        sid = f"ref-{item['id']}"
        try:
            lat = item["lattice"]
            a = float(lat["a"])
            c = float(lat.get("c", a))
            sg = str(item["spacegroup"])
            if sg.startswith(("R", "P6", "P-6", "P3", "P-3")):
                lattice = Lattice.hexagonal(a, c)
            elif "b" in lat or "beta" in lat:  # orthorhombic (a, b, c) or monoclinic (+ beta, unique axis b)
                b, beta = float(lat.get("b", a)), float(lat.get("beta", 90.0))
                lattice = Lattice.from_parameters(a, b, c, 90.0, beta, 90.0)
            elif abs(c - a) > 1e-9:
                lattice = Lattice.tetragonal(a, c)
            else:
                lattice = Lattice.cubic(a)
            species = [site[0] for site in item["sites"]]
            coords = [site[1] for site in item["sites"]]
            structure = Structure.from_spacegroup(sg, lattice, species, coords)
            yield make_entry(
                structure,
                id=sid,
                source="reference",
                source_id=str(item["id"]),
                licence=REFERENCE_LICENCE,
                provenance={"name": item.get("name", ""), "citation": item.get("source", "")},
            )
        except (BadInput, KeyError, ValueError, TypeError) as exc:
            yield SkippedStructure(sid, f"{type(exc).__name__}: {exc}")


def load_ncrystal() -> Iterator[StructureEntry | SkippedStructure]:
    """Crystalline materials of NCrystal's data library (Apache-2.0; structures converted by the NCrystal developers
    from the COD / AMCSD entries each one cites): common metals, halides, oxides, hydroxides, carbonates, silicates
    (``data/ncrystal_structures.json``, written by ``matsearch.indexer.structures.ncrystal``)."""
    from pymatgen.core import Lattice

    from matsearch.indexer.structures.ncrystal import NCRYSTAL_FILE, NCRYSTAL_LICENCE

    data = json.loads(NCRYSTAL_FILE.read_text())
    for item in data["structures"]:
        sid = f"nc-{item['id']}"
        try:
            c = item["cell"]
            lattice = Lattice.from_parameters(c["a"], c["b"], c["c"], c["alpha"], c["beta"], c["gamma"])
            structure = Structure(lattice, [s[0] for s in item["sites"]], [s[1] for s in item["sites"]])
            provenance: dict[str, Any] = {
                "name": " ".join(item["id"].split("_")[2:]) or item["id"],
                "citation": item.get("about", ""),
                "ncrystal_file": item["file"],
                "ncrystal_spacegroup": item["spacegroup_number"],
                "from": data.get("from", ""),
            }
            if item.get("cod_id"):
                provenance["cod_id"] = item["cod_id"]
                provenance["url"] = f"https://www.crystallography.net/cod/{item['cod_id']}.html"
            if item.get("amcsd_id"):
                provenance["amcsd_id"] = item["amcsd_id"]
            yield make_entry(
                structure,
                id=sid,
                source="ncrystal",
                source_id=item["id"],
                licence=NCRYSTAL_LICENCE,
                provenance=provenance,
            )
        except (BadInput, KeyError, ValueError, TypeError) as exc:
            yield SkippedStructure(sid, f"{type(exc).__name__}: {exc}")


def load_aflow() -> Iterator[StructureEntry | SkippedStructure]:
    """The 288 AFLOW prototypes pymatgen ships (real example compounds, many with mineral names: corundum,
    zircon, spinel, calcite, quartz, rutile, anatase, ...)."""
    from importlib.resources import files

    raw = files("pymatgen.analysis.prototypes").joinpath("aflow_prototypes.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    used: dict[str, int] = {}
    for item in data:
        tags = item.get("tags", {})
        label = str(tags.get("aflow", "unknown"))
        used[label] = used.get(label, 0) + 1
        sid = f"aflow-{label}" if used[label] == 1 else f"aflow-{label}-{used[label]}"
        try:
            structure = Structure.from_dict(item["snl"])
            provenance: dict[str, Any] = {"prototype": label, "citation": AFLOW_CITATION}
            for key in ("mineral", "pearson", "strukturbericht"):
                if tags.get(key):
                    provenance[key] = tags[key]
            yield make_entry(
                structure, id=sid, source="aflow", source_id=label, licence=AFLOW_LICENCE, provenance=provenance
            )
        except (BadInput, KeyError, ValueError, TypeError) as exc:
            yield SkippedStructure(sid, f"{type(exc).__name__}: {exc}")


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
    data: bytes, name: str, *, licence: str = "user-supplied", source: str = "user", settings: Settings | None = None
) -> list[StructureEntry]:
    """Entries from a user CIF (every data block). Ids derive from the file's content: ``cif-<sha256[:12]>[-n]``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    structures = parse_cif_text(text, name, settings)
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
