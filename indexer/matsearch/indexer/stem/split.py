"""Train / held-out split of the structure library, by prototype.

A prototype is (anonymised reduced formula, space group number): SrTiO3 and BaTiO3 in Pm-3m share ``ABC3-221``.
A whole prototype is either trained on or held out, so evaluation structures are never seen in training, nor are
their isostructural siblings. The assignment is a hash: stable across runs and library growth.
"""

from __future__ import annotations

import hashlib
from typing import Any

HELDOUT_PERCENT = 15


def prototype_key(entry: Any) -> str:
    from pymatgen.core import Composition

    anon = Composition(entry.formula).anonymized_formula
    return f"{anon}-{int(entry.spacegroup_number)}"


def is_heldout(entry: Any, percent: int = HELDOUT_PERCENT) -> bool:
    digest = hashlib.sha256(("stem-split-v1:" + prototype_key(entry)).encode()).hexdigest()
    return int(digest[:8], 16) % 100 < percent
