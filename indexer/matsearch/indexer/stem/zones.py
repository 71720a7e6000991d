"""Which zone axes to simulate for a structure, and symmetry-equivalent variants of a zone axis.

Zone axes are indexed in the *conventional standard* cell (what a microscopist quotes: [001], [110], [111] ...),
and chosen the way microscopists choose them (``select_zones``; each choice carries its reason):

* cubic: ⟨100⟩, ⟨110⟩, ⟨111⟩ (cube axis, face diagonal, body diagonal);
* hexagonal and trigonal (hexagonal setting): [001] (the basal / plan view, the one used for layered crystals and
  monolayers), then ⟨100⟩ = ⟨2-1-10⟩ and ⟨1-10⟩ = ⟨1-100⟩ (the two edge-on views);
* tetragonal: [001], ⟨100⟩, ⟨110⟩; a layered tetragonal cell (c ≥ 1.8 a) gets its [001] plan view first too;
* orthorhombic, monoclinic, triclinic: the three cell axes, then the other low-index axes, shortest repeat along
  the beam first;

keeping only axes along which the columns are resolvable (projected column spacing ≥ ``MIN_SPACING``, repeat along
the beam ≤ ``MAX_PERIOD``) and one axis per symmetry-equivalence class, at most ``max_zones``.
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
MIN_SPACING = 1.0  # Å: projected column spacing a 0.8-1 Å probe resolves (the rule microscopists use)
MIN_SPACING_FALLBACK = 0.6  # Å: accepted only when no axis reaches MIN_SPACING
LAYERED_C_OVER_A = 1.8  # tetragonal cells this elongated are treated as layered (plan view first)

# Preferred axes per crystal system (conventional cell), with the reason a microscopist would give.
_CUBIC = (
    ((0, 0, 1), "cube axis <100>: square projection, the standard view of a cubic crystal"),
    ((1, 1, 0), "face diagonal <110>: densest columns of fcc/diamond/perovskite, the usual high-resolution axis"),
    ((1, 1, 1), "body diagonal <111>: hexagonal projection of a cubic crystal"),
)
_HEXAGONAL = (
    ((0, 0, 1), "[001] basal plane (c-axis, plan view): the view of layered and hexagonal crystals and monolayers"),
    ((1, 0, 0), "<2-1-10> (a-axis, edge-on): shows the stacking of the layers"),
    ((1, -1, 0), "<1-100> (edge-on, 30 degrees from the a-axis): the second stacking view"),
)
_TETRAGONAL = (
    ((0, 0, 1), "[001] (c-axis): the four-fold projection"),
    ((1, 0, 0), "<100> (a-axis): shows the c-axis repeat"),
    ((1, 1, 0), "<110> (a-diagonal): the second edge-on view"),
)
_LOW_SYMMETRY = (
    ((0, 0, 1), "[001] cell axis"),
    ((1, 0, 0), "[100] cell axis"),
    ((0, 1, 0), "[010] cell axis"),
)


@dataclass(frozen=True)
class ZoneView:
    zone: tuple[int, int, int]
    projection: Projection
    reason: str = ""


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


def resolvable_spacing(proj: Projection, merge: float = 0.6) -> float:
    """Closest distance (Å) between columns a probe must separate: columns closer than ``merge`` (split light-atom
    columns of a slightly distorted cell) image as one blurred column and do not count."""
    basis = proj.basis
    cells = [
        np.linalg.norm(basis[0]),
        np.linalg.norm(basis[1]),
        np.linalg.norm(basis.sum(0)),
        np.linalg.norm(basis[0] - basis[1]),
    ]
    lattice_min = float(min(cells))
    if proj.n_columns < 2:
        return lattice_min
    df = proj.col_frac[:, None, :] - proj.col_frac[None, :, :]
    df -= np.round(df)
    shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=np.float64)
    d = np.linalg.norm((df[:, :, None, :] + shifts[None, None]) @ basis, axis=3).ravel()
    d = d[d > merge]
    return min(lattice_min, float(d.min())) if len(d) else lattice_min


def crystal_system(sga: Any, conv: Any) -> str:
    if sga is not None:
        try:
            return str(sga.get_crystal_system())
        except Exception:  # noqa: BLE001
            pass
    return "triclinic"


def preferred_zones(system: str, conv: Any) -> list[tuple[tuple[int, int, int], str]]:
    """The axes a microscopist tries first for this crystal system, in order, with the reason."""
    if system == "cubic":
        return list(_CUBIC)
    if system in ("hexagonal", "trigonal"):
        return list(_HEXAGONAL)
    if system == "tetragonal":
        abc = conv.lattice.abc
        out = list(_TETRAGONAL)
        if abc[2] >= LAYERED_C_OVER_A * abc[0]:
            out[0] = ((0, 0, 1), "[001] plan view of a layered tetragonal crystal (c-axis)")
        return out
    return list(_LOW_SYMMETRY)


def select_zones(
    structure: Any, max_zones: int = 4, symprec: float = 0.1, is_conventional: bool = False
) -> tuple[Any, list[ZoneView]]:
    """Zone axes as a microscopist chooses them (see the module docstring), at least one, each with its reason.

    With ``is_conventional`` the cell is used as given (zone indices refer to it); symmetry is only analysed to
    merge equivalent axes.
    """
    if is_conventional:
        conv, sga = structure, analyzer(structure, symprec)
    else:
        conv, sga = conventional(structure, symprec)
    lattice = conv.lattice.matrix
    rotations = _rotations(sga)
    system = crystal_system(sga, conv)
    seen: set[tuple[int, int, int]] = set()
    ordered: list[tuple[tuple[int, int, int], str]] = []
    for zone, why in preferred_zones(system, conv):
        if zone not in seen:
            seen.update(equivalent_zones(zone, sga, rotations))
            ordered.append((zone, why))
    rest: list[tuple[float, int, tuple[int, int, int]]] = []
    for order, zone in enumerate(CANDIDATE_ZONES):
        if zone in seen:
            continue
        seen.update(equivalent_zones(zone, sga, rotations))
        rest.append((round(float(np.linalg.norm(np.array(zone) @ lattice)), 2), order, zone))
    rest.sort()
    n_preferred = len(ordered)
    for period, _, zone in rest:
        ordered.append((zone, f"low-index axis with a short repeat along the beam ({period:.1f} Å)"))
    chosen: list[ZoneView] = []
    fallback: list[ZoneView] = []
    high_symmetry = system in ("cubic", "hexagonal", "trigonal", "tetragonal")
    for i, (zone, why) in enumerate(ordered):
        if high_symmetry and i >= n_preferred and len(chosen) >= 2:
            break  # the named axes are what is imaged; others only when fewer than two of them resolve
        try:
            proj = project_structure(conv, zone)
        except ValueError:
            continue
        spacing = resolvable_spacing(proj)
        if proj.period > MAX_PERIOD:
            continue
        reason = f"{why}; columns {spacing:.2f} Å apart, repeat {proj.period:.2f} Å along the beam"
        if spacing >= MIN_SPACING:
            chosen.append(ZoneView(zone, proj, reason))
            if len(chosen) >= max_zones:
                break
        elif spacing >= MIN_SPACING_FALLBACK:
            fallback.append(ZoneView(zone, proj, reason + " (closest columns below 1 Å: hard to resolve)"))
    if not chosen:
        chosen = fallback[:max_zones]
    if not chosen:
        for zone, why in ordered:
            try:
                proj = project_structure(conv, zone)
            except ValueError:
                continue
            chosen = [ZoneView(zone, proj, f"{why}; the only axis that projects (columns not resolvable)")]
            break
    if not chosen:
        raise ValueError("no zone axis could be projected")
    return conv, chosen


def zone_label(zone: tuple[int, int, int]) -> str:
    """``[1-10]``-style label."""
    return "[" + "".join(str(x) for x in zone) + "]"
