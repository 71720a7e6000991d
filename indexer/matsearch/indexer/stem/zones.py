"""Which zone axes to simulate for a structure, and symmetry-equivalent variants of a zone axis.

Zone axes are indexed in the *conventional standard* cell (what a microscopist quotes: [001], [110], [111] ...).
Among the low-index candidates we keep one per symmetry-equivalence class and prefer short repeat distances along
the beam: only then do atoms line up into resolvable columns, which is why experiments use these axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matsearch.indexer.stem.simulate import Projection, project_structure

CANDIDATE_ZONES: tuple[tuple[int, int, int], ...] = (
    (0, 0, 1),
    (1, 0, 0),
    (0, 1, 0),
    (1, 1, 0),
    (1, 0, 1),
    (0, 1, 1),
    (1, -1, 0),
    (1, 0, -1),
    (0, 1, -1),
    (1, 1, 1),
    (-1, 1, 1),
    (1, -1, 1),
    (1, 1, -1),
    (2, 1, 0),
    (1, 2, 0),
    (2, 0, 1),
    (1, 0, 2),
    (0, 2, 1),
    (0, 1, 2),
)
MAX_PERIOD = 20.0  # Å: longer repeats along the beam rarely give resolvable columns
MIN_SPACING = 0.6  # Å: closer columns are not resolved by any probe we model


@dataclass(frozen=True)
class ZoneView:
    zone: tuple[int, int, int]
    projection: Projection


def conventional(structure: Any, symprec: float = 0.1) -> tuple[Any, Any]:
    """(conventional standard structure, its SpacegroupAnalyzer); falls back to the input if symmetry fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(structure, symprec=symprec)
        conv = sga.get_conventional_standard_structure()
        return conv, SpacegroupAnalyzer(conv, symprec=symprec)
    except Exception:  # noqa: BLE001 - spglib can fail on odd inputs; the raw cell is still usable
        return structure, None


def analyzer(structure: Any, symprec: float) -> Any:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=symprec)
    except Exception:  # noqa: BLE001
        return None


def _rotations(sga: Any) -> list[np.ndarray]:
    if sga is None:
        return [np.eye(3, dtype=int)]
    try:
        ops = sga.get_symmetry_operations(cartesian=False)
        return [np.rint(op.rotation_matrix).astype(int) for op in ops]
    except Exception:  # noqa: BLE001
        return [np.eye(3, dtype=int)]


def equivalent_zones(
    zone: tuple[int, int, int], sga: Any, rotations: list[np.ndarray] | None = None
) -> list[tuple[int, int, int]]:
    """All symmetry-equivalent directions of ``zone`` (both signs), ``zone`` itself first."""
    out: list[tuple[int, int, int]] = [zone]
    for rot in rotations if rotations is not None else _rotations(sga):
        for sign in (1, -1):
            v = tuple(int(x) for x in sign * (rot @ np.array(zone)))
            if v not in out:
                out.append(v)  # type: ignore[arg-type]
    return out


def select_zones(
    structure: Any, max_zones: int = 4, symprec: float = 0.1, is_conventional: bool = False
) -> tuple[Any, list[ZoneView]]:
    """Distinct low-index zone axes of the conventional cell, shortest repeat first (at least one).

    With ``is_conventional`` the cell is used as given (zone indices refer to it); symmetry is only analysed to
    merge equivalent axes.
    """
    if is_conventional:
        conv, sga = structure, analyzer(structure, symprec)
    else:
        conv, sga = conventional(structure, symprec)
    lattice = conv.lattice.matrix
    rotations = _rotations(sga)
    seen: set[tuple[int, int, int]] = set()
    reps: list[tuple[float, int, tuple[int, int, int]]] = []
    for order, zone in enumerate(CANDIDATE_ZONES):
        if zone in seen:
            continue
        seen.update(equivalent_zones(zone, sga, rotations))
        reps.append((round(float(np.linalg.norm(np.array(zone) @ lattice)), 2), order, zone))
    reps.sort()
    chosen: list[ZoneView] = []
    first: ZoneView | None = None
    for period, _, zone in reps:
        try:
            proj = project_structure(conv, zone)
        except ValueError:
            continue
        first = first or ZoneView(zone, proj)
        if period <= MAX_PERIOD and proj.min_column_spacing() >= MIN_SPACING:
            chosen.append(ZoneView(zone, proj))
            if len(chosen) >= max_zones:
                break
    if not chosen and first is not None:
        chosen = [first]
    if not chosen:
        raise ValueError("no zone axis could be projected")
    return conv, chosen


def zone_label(zone: tuple[int, int, int]) -> str:
    """``[1-10]``-style label."""
    return "[" + "".join(str(x) for x in zone) + "]"
