"""Physical plausibility of a library structure's geometry (session 6).

Prototype files can carry generic free parameters instead of the named compound's (pymatgen's AFLOW anatase has
its O atoms 1/8 c off: apical Ti-O 3.17 Å instead of 1.98 Å, and its simulated 105/211 lines vanish). Three
element-generic tests, no per-compound rules:

- **too-short contact**: some pair closer than ``SHORT`` × the sum of their covalent radii;
- **isolated cation** (ionic compounds only): a cation (an element not among the anion formers below) whose nearest
  principal anion is farther than ``FAR`` × the bond-valence R0 of that pair (the length of a bond of valence 1);
- **anion bond-valence sum** (ionic compounds whose elements all have O'Keeffe-Brese parameters): the mean over
  the principal-anion sites of Σ exp((R0 − d)/0.37) over their cation neighbours, divided by the anion's formal
  valence, outside [``BVS_LOW``, ``BVS_HIGH``] — under-bonded (an atom pulled away from its neighbours) or
  over-bonded (a cell scaled too small).

"Ionic" = the most electronegative element is one of O, F, Cl, Br, I, S, Se, Te, N and every other element is
less electronegative by at least 0.4 (Pauling). The check only reads the structure; it never changes it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cache

from pymatgen.core import Element, Structure

SHORT = 0.70
FAR = 1.6
BVS_LOW = 0.75
BVS_HIGH = 1.45
CUTOFF = 4.5  # Å: neighbours considered
ANION_VALENCE = {"O": 2, "F": 1, "Cl": 1, "Br": 1, "I": 1, "S": 2, "Se": 2, "Te": 2, "N": 3}
BV_SOFTNESS = 0.37  # Å, the universal b of bond-valence sums


@dataclass(frozen=True)
class GeometryCheck:
    ok: bool
    reason: str  # "" when ok, else what failed (first failing test, with the numbers)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "pass" if self.ok else f"fail: {self.reason}"


@cache
def _covalent(symbol: str) -> float:
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    r = CovalentRadius.radius.get(symbol)
    if r is None:
        ar = Element(symbol).atomic_radius
        r = float(ar) if ar is not None else 1.5
    return float(r)


@cache
def _r0(cation: str, anion: str) -> float | None:
    """O'Keeffe-Brese bond-valence R0 of a cation-anion pair (None without parameters)."""
    from pymatgen.analysis.bond_valence import BV_PARAMS

    a, b = Element(cation), Element(anion)
    if a not in BV_PARAMS or b not in BV_PARAMS:
        return None
    r1, r2 = BV_PARAMS[a]["r"], BV_PARAMS[b]["r"]
    c1, c2 = BV_PARAMS[a]["c"], BV_PARAMS[b]["c"]
    return float(r1 + r2 - r1 * r2 * (math.sqrt(c1) - math.sqrt(c2)) ** 2 / (c1 * r1 + c2 * r2))


@cache
def _pauling(symbol: str) -> float:
    with warnings.catch_warnings():  # noble gases have no Pauling value (pymatgen warns and gives NaN)
        warnings.simplefilter("ignore")
        x = Element(symbol).X
    return float(x) if x is not None and math.isfinite(x) else 0.0


def check_geometry(structure: Structure) -> GeometryCheck:
    """Run the three tests on ``structure`` (ordered sites only; disordered sites are skipped)."""
    sites = [s for s in structure if s.is_ordered]
    if not sites:
        return GeometryCheck(True, "", {})
    symbols = sorted({s.specie.symbol for s in sites})
    nbrs = structure.get_all_neighbors(CUTOFF)
    metrics: dict[str, float] = {}
    # 1. too-short contacts
    worst = math.inf
    for i, site in enumerate(structure):
        if not site.is_ordered:
            continue
        ra = _covalent(site.specie.symbol)
        for n in nbrs[i]:
            if n.is_ordered:
                worst = min(worst, n.nn_distance / (ra + _covalent(n.specie.symbol)))
    if math.isfinite(worst):
        metrics["min_contact_ratio"] = round(worst, 3)
        if worst < SHORT:
            return GeometryCheck(False, f"too-short contact ({worst:.2f} x the covalent radii sum)", metrics)
    anion = max(symbols, key=_pauling)
    if anion not in ANION_VALENCE or len(symbols) < 2:
        return GeometryCheck(True, "", metrics)
    xa = _pauling(anion)
    if any(_pauling(s) > xa - 0.4 for s in symbols if s != anion):
        return GeometryCheck(True, "", metrics)  # not clearly ionic: the bond-valence tests do not apply
    # 2. isolated cations
    far = 0.0
    for i, site in enumerate(structure):
        if not site.is_ordered or site.specie.symbol in ANION_VALENCE:
            continue  # the principal anion, and other anion formers (Cl in PbClF), are not cations here
        r0 = _r0(site.specie.symbol, anion)
        if r0 is None:
            continue
        d = min((n.nn_distance for n in nbrs[i] if n.is_ordered and n.specie.symbol == anion), default=CUTOFF)
        far = max(far, d / r0)
    metrics["max_cation_anion_ratio"] = round(far, 3)
    if far > FAR:
        return GeometryCheck(False, f"isolated cation (nearest {anion} at {far:.2f} x the bond-valence R0)", metrics)
    # 3. anion bond-valence sum
    if any(_r0(s, anion) is None for s in symbols if s != anion):
        return GeometryCheck(True, "", metrics)
    sums = []
    for i, site in enumerate(structure):
        if not site.is_ordered or site.specie.symbol != anion:
            continue
        v = 0.0
        for n in nbrs[i]:
            if n.is_ordered and n.specie.symbol != anion:
                r0 = _r0(n.specie.symbol, anion)
                if r0 is not None:
                    v += math.exp((r0 - n.nn_distance) / BV_SOFTNESS)
        sums.append(v / ANION_VALENCE[anion])
    if not sums:
        return GeometryCheck(True, "", metrics)
    mean = sum(sums) / len(sums)
    metrics["anion_bvs_ratio"] = round(mean, 3)
    if mean < BVS_LOW:
        return GeometryCheck(False, f"under-bonded {anion} (bond-valence sum {mean:.2f} x its valence)", metrics)
    if mean > BVS_HIGH:
        return GeometryCheck(False, f"over-bonded {anion} (bond-valence sum {mean:.2f} x its valence)", metrics)
    return GeometryCheck(True, "", metrics)
