"""The bundled structure library: load every source, validate, symmetry-analyse and de-duplicate."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matsearch.core.errors import NotFound
from matsearch.indexer.structures.entry import StructureEntry
from matsearch.indexer.structures.geometry import check_geometry
from matsearch.indexer.structures.sources import (
    DATA_DIR,
    SkippedStructure,
    load_aflow,
    load_cod,
    load_dans,
    load_elements,
    load_mp,
    load_ncrystal,
    load_reference,
)

# Source name → loader. When two sources hold the same crystal the earlier one wins (experimental first).
SOURCES: dict[str, Callable[[], Iterable[StructureEntry | SkippedStructure]]] = {
    "cod": load_cod,
    "reference": load_reference,
    "ncrystal": load_ncrystal,
    "dans_diffraction": load_dans,
    "aflow": load_aflow,
    "ase": load_elements,
    "materials_project": load_mp,
}
DEFAULT_SOURCES = tuple(SOURCES)


@dataclass
class StructureLibrary:
    """Loaded, de-duplicated entries (ordered by id) plus what was skipped or merged, and why."""

    entries: list[StructureEntry]
    skipped: list[SkippedStructure] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)  # dropped id → kept id
    _by_id: dict[str, StructureEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {e.id: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[StructureEntry]:
        return iter(self.entries)

    def __contains__(self, structure_id: object) -> bool:
        return structure_id in self._by_id or structure_id in self.duplicates

    def get(self, structure_id: str) -> StructureEntry:
        """The entry with this id (a merged duplicate's id gives the entry it was merged into)."""
        sid = self.duplicates.get(structure_id, structure_id)
        try:
            return self._by_id[sid]
        except KeyError:
            raise NotFound(f"no structure {structure_id!r} in the library") from None

    def subset(self, ids: Sequence[str]) -> StructureLibrary:
        return StructureLibrary([self.get(i) for i in ids])


def dedupe(entries: Sequence[StructureEntry]) -> tuple[list[StructureEntry], dict[str, str]]:
    """Drop entries that are the same crystal as an earlier one (same reduced formula and pymatgen
    ``StructureMatcher`` match). Returns the kept entries (input order) and {dropped id: kept id}; each kept
    entry's ``provenance["duplicates"]`` lists what was merged into it."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5, primitive_cell=True, scale=True)
    groups: dict[str, list[StructureEntry]] = defaultdict(list)
    for e in entries:
        groups[e.formula].append(e)
    dropped: dict[str, str] = {}
    for group in groups.values():
        kept: list[StructureEntry] = []
        for e in group:
            twin = None
            for k in kept:
                if k.spacegroup_number != e.spacegroup_number and (
                    k.source == e.source or k.crystal_system != e.crystal_system
                ):
                    continue  # symmetry differs (across sources a tolerance may shift the space group)
                vk = k.structure.volume / len(k.structure)
                ve = e.structure.volume / len(e.structure)
                if abs(vk - ve) > 0.3 * max(vk, ve):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        same = matcher.fit(k.structure, e.structure)
                    except Exception:  # matcher can fail on odd cells: treat as different
                        same = False
                if same:
                    twin = k
                    break
            if twin is None:
                kept.append(e)
            else:
                dropped[e.id] = twin.id
                twin.provenance.setdefault("duplicates", []).append({"id": e.id, "source": e.source})
    return [e for e in entries if e.id not in dropped], dropped


def supersede_prototypes(entries: Sequence[StructureEntry]) -> tuple[list[StructureEntry], dict[str, str]]:
    """A hand-checked reference entry supersedes the AFLOW prototype of the same mineral (same reduced formula and
    mineral name): the prototypes are example compounds whose internal coordinates can be off (pymatgen's anatase
    has its O atoms 1/8 c from where they belong), and a reference entry was checked against the mineral's known
    line list. Returns the kept entries and {dropped id: reference id}."""
    refs = {
        (e.formula, str(e.provenance.get("name", "")).lower()): e
        for e in entries
        if e.source == "reference" and e.provenance.get("name")
    }
    dropped: dict[str, str] = {}
    for e in entries:
        ref = refs.get((e.formula, str(e.provenance.get("mineral", "")).lower())) if e.source == "aflow" else None
        if ref is not None:
            dropped[e.id] = ref.id
            ref.provenance.setdefault("duplicates", []).append({"id": e.id, "source": e.source, "superseded": True})
    return [e for e in entries if e.id not in dropped], dropped


def check_and_prefer_plausible(entries: Sequence[StructureEntry]) -> tuple[list[StructureEntry], dict[str, str]]:
    """Geometry check of every entry (``geometry.check_geometry``): ``provenance["geometry_check"]`` = "pass" or
    "fail: <reason>". A failing entry is merged into a passing entry of the same reduced formula and space group
    (from any source; the first passing one in source order) — e.g. AFLOW's anatase, its O atoms 1/8 c off, into
    the Materials Project anatase. Failing entries without a plausible twin stay, flagged. Returns the kept
    entries and {dropped id: kept id}."""
    passing: dict[tuple[str, int], StructureEntry] = {}
    for e in entries:
        try:
            label = check_geometry(e.structure).label
        except Exception as exc:  # noqa: BLE001 - a check that cannot run says so, it does not drop the entry
            label = f"not run ({type(exc).__name__})"
        e.provenance["geometry_check"] = label
        if label == "pass":
            passing.setdefault((e.formula, e.spacegroup_number), e)
    dropped: dict[str, str] = {}
    for e in entries:
        if str(e.provenance["geometry_check"]).startswith("fail"):
            twin = passing.get((e.formula, e.spacegroup_number))
            if twin is not None:
                dropped[e.id] = twin.id
                twin.provenance.setdefault("duplicates", []).append(
                    {"id": e.id, "source": e.source, "geometry_check": e.provenance["geometry_check"]}
                )
    return [e for e in entries if e.id not in dropped], dropped


def build_library(
    sources: Sequence[str] = DEFAULT_SOURCES,
    *,
    limit: int | None = None,
    deduplicate: bool = True,
) -> StructureLibrary:
    """Load the given sources (see ``SOURCES``); ``limit`` caps the Materials Project part (for tests)."""
    entries: list[StructureEntry] = []
    skipped: list[SkippedStructure] = []
    seen: set[str] = set()
    for name in sources:
        if name not in SOURCES:
            raise NotFound(f"unknown structure source {name!r} (known: {sorted(SOURCES)})")
        items = load_mp(limit) if name == "materials_project" else SOURCES[name]()
        for item in items:
            if isinstance(item, SkippedStructure):
                skipped.append(item)
            elif item.id not in seen:
                seen.add(item.id)
                entries.append(item)
    duplicates: dict[str, str] = {}
    if deduplicate:
        entries, duplicates = supersede_prototypes(entries)
        entries, implausible = check_and_prefer_plausible(entries)
        duplicates.update(implausible)
        entries, merged = dedupe(entries)
        duplicates.update(merged)
    entries.sort(key=lambda e: e.id)
    return StructureLibrary(entries, skipped, duplicates)


CACHE_VERSION = 1
_CACHE: dict[tuple[tuple[str, ...], int | None], StructureLibrary] = {}
_LOCK = threading.Lock()


def _cache_file(sources: Sequence[str], limit: int | None, cache_dir: Path) -> Path:
    h = hashlib.sha256(repr((CACHE_VERSION, tuple(sources), limit)).encode())
    for path in sorted(DATA_DIR.rglob("*")):
        if path.is_file():
            st = path.stat()
            h.update(f"{path.relative_to(DATA_DIR)}:{st.st_size}:{int(st.st_mtime)}".encode())
    for mod in ("entry.py", "sources.py", "library.py", "geometry.py"):
        h.update((Path(__file__).parent / mod).read_bytes())
    return cache_dir / f"structures-{h.hexdigest()[:16]}.pkl"


def load_library(
    sources: Sequence[str] = DEFAULT_SOURCES, *, limit: int | None = None, cache_dir: Path | None = None
) -> StructureLibrary:
    """The de-duplicated bundled library, built once per process (~25 s for all ~4.8k structures, then read from
    a pickle under ``<data_dir>/cache`` in ~1 s). ``cache_dir`` defaults to the settings' data dir."""
    key = (tuple(sources), limit)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if cache_dir is None:
            from matsearch.core.settings import get_settings

            cache_dir = get_settings().data_dir / "cache"
        path = _cache_file(sources, limit, cache_dir)
        lib: StructureLibrary | None = None
        if path.exists():
            try:
                with open(path, "rb") as fh:
                    loaded = pickle.load(fh)
                if isinstance(loaded, StructureLibrary):
                    lib = loaded
            except Exception:  # a stale or truncated cache is rebuilt
                lib = None
        if lib is None:
            lib = build_library(sources, limit=limit)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                with open(tmp, "wb") as fh:
                    pickle.dump(lib, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except OSError:  # read-only data dir: work without the cache
                pass
        _CACHE[key] = lib
        return lib
