"""Library views: (structure, zone axis, projection) for every structure of the library, cached on disk.

Projecting a structure needs its conventional cell and symmetry (tens of ms each), so the training script, the
evaluation and the library builder share one cache keyed by the structure's content hash.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matsearch.indexer.stem.simulate import Projection
from matsearch.indexer.stem.zones import select_zones

MAX_ZONES = 4
VIEWS_VERSION = "v3"  # v3: zone axes as microscopists choose them, with the reason


@dataclass(frozen=True)
class View:
    structure_id: str
    zone: tuple[int, int, int]
    projection: Projection
    reason: str = ""  # why this zone axis (zones.select_zones)


def conventional_cell(structure: Any) -> Any:
    """The library's conventional standard cell (same recipe as ``StructureEntry.conventional``)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=0.01).get_conventional_standard_structure()
    except Exception:  # noqa: BLE001 - spglib can fail on odd cells; the cell as read is still valid
        return structure


def _views_of(args: tuple[str, Any, int]) -> list[View]:
    sid, structure, max_zones = args
    try:
        conv = conventional_cell(structure)
        _, zones = select_zones(conv, max_zones=max_zones, is_conventional=True)
    except Exception:  # noqa: BLE001 - a structure that cannot be projected is skipped, not fatal
        return []
    return [View(sid, z.zone, z.projection, z.reason) for z in zones]


def compute_views(entries: Sequence[Any], max_zones: int = MAX_ZONES, workers: int = 1) -> list[View]:
    """Views of library entries (their conventional cells), in entry order."""
    jobs = [(e.id, e.structure, max_zones) for e in entries]
    out: list[View] = []
    if workers > 1 and len(jobs) > 50:
        with ProcessPoolExecutor(workers) as pool:
            for vs in pool.map(_views_of, jobs, chunksize=32):
                out.extend(vs)
    else:
        for job in jobs:
            out.extend(_views_of(job))
    return out


def default_cache_dir() -> Path:
    return Path(os.environ.get("MATSEARCH_STEM_CACHE", "/tmp/matsearch-stem-cache"))


def cached_views(
    entries: Sequence[Any],
    cache_dir: Path | None = None,
    max_zones: int = MAX_ZONES,
    workers: int = 1,
    force: bool = False,
) -> list[View]:
    """``compute_views`` with an on-disk cache keyed by each structure's content hash (new structures only)."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"stem-views-{VIEWS_VERSION}-z{max_zones}.pkl"
    cache: dict[str, list[tuple[tuple[int, int, int], Projection, str]]] = {}
    if path.exists() and not force:
        try:
            with open(path, "rb") as fh:
                cache = pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError):
            cache = {}
    missing = [e for e in entries if e.content_hash not in cache]
    if missing:
        for e, vs in zip(missing, _compute_grouped(missing, max_zones, workers), strict=True):
            cache[e.content_hash] = [(v.zone, v.projection, v.reason) for v in vs]
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(cache, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return [View(e.id, z, p, r) for e in entries for z, p, r in cache[e.content_hash]]


def _compute_grouped(entries: Sequence[Any], max_zones: int, workers: int) -> list[list[View]]:
    jobs = [(e.id, e.structure, max_zones) for e in entries]
    if workers > 1 and len(jobs) > 50:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_views_of, jobs, chunksize=16))
    return [_views_of(job) for job in jobs]


def group_by_structure(views: Iterable[View]) -> dict[str, list[View]]:
    out: dict[str, list[View]] = {}
    for v in views:
        out.setdefault(v.structure_id, []).append(v)
    return out
