"""Keywords from a (sub-)caption: techniques, materials/formulas and elements, for payload filters.

Deterministic rules:

* **techniques**: a vocabulary of acronyms and spelled-out names (``"high-resolution transmission electron
  microscopy"`` → ``HRTEM``, ``"EDX"`` → ``EDS``) matched on word boundaries; the most specific wins
  (``HAADF-STEM`` also implies ``STEM``; ``HRTEM`` does not add ``TEM``).
* **materials**: formula-like tokens (``Ag2MnO4``, ``TiO2``, ``Co3O4/rGO`` → Co3O4, ``Fe3O4@C`` → Fe3O4, C,
  ``LiFePO4``, ``Pt3Co``) validated with pymatgen ``Composition``: at least two element symbols, or one symbol with
  a count, and never an acronym from the technique list or a common abbreviation (``BM``, ``SMNp``...). Single
  elements named as materials ("Pt nanoparticles", "silver") go to ``elements``.
* **elements**: element symbols inside accepted formulas, symbols used as words next to material nouns
  ("Ag nanoparticle", "Pt/C"), and element names ("silver", "manganese").
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["extract_keywords", "technique_pattern", "TECHNIQUES", "TECHNIQUE_KIND"]

# canonical technique -> patterns (regex, case-sensitive for acronyms, case-insensitive for names)
TECHNIQUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (acronym patterns (case-sensitive), phrase patterns (case-insensitive))
    "HAADF-STEM": (
        (r"HAADF[-–\s]?STEM", r"HAADF"),
        (r"high[-\s]angle annular dark[-\s]field",),
    ),
    "ABF-STEM": ((r"ABF[-–\s]?STEM", r"ABF"), (r"annular bright[-\s]field",)),
    "STEM": ((r"STEM",), (r"scanning transmission electron microscop\w*",)),
    "HRTEM": ((r"HR[-\s]?TEM",), (r"high[-\s]resolution (?:transmission electron microscop\w*|TEM)",)),
    "TEM": ((r"TEM",), (r"transmission electron microscop\w*",)),
    "SEM": ((r"SEM", r"FE[-\s]?SEM", r"FESEM"), (r"scanning electron(?:ic)? microscop\w*", r"cryo[-\s]?SEM")),
    "AFM": ((r"AFM",), (r"atomic force microscop\w*",)),
    "STM": ((r"STM",), (r"scanning tunn?el+ing microscop\w*",)),
    "XRD": ((r"XRD", r"PXRD"), (r"x[-\s]ray diffraction", r"powder diffraction")),
    "EDS": ((r"EDS", r"EDX", r"EDXS"), (r"energy[-\s]dispersive x[-\s]ray spectroscop\w*", r"energy[-\s]dispersive")),
    "EELS": ((r"EELS",), (r"electron energy[-\s]loss spectroscop\w*",)),
    "SAED": ((r"SAED", r"SAD"), (r"selected[-\s]area (?:electron )?diffraction",)),
    "FFT": ((r"FFT", r"IFFT"), (r"fast fourier transform\w*", r"inverse fourier transform")),
    "XPS": ((r"XPS",), (r"x[-\s]ray photoelectron spectroscop\w*",)),
    "Raman": ((), (r"raman",)),
    "FTIR": ((r"FTIR", r"FT-IR", r"IR"), (r"infrared spectr\w*",)),
    "UV-vis": ((r"UV[-–\s]?(?:vis|Vis|VIS)(?:[-–\s]NIR)?",), (r"ultraviolet[-–\s]visible",)),
    "PL": ((r"PL",), (r"photoluminescence",)),
    "XAS": ((r"XAS", r"XANES", r"EXAFS"), (r"x[-\s]ray absorption",)),
    "EBSD": ((r"EBSD",), (r"electron backscatter(?:ed)? diffraction",)),
    "optical microscopy": ((), (r"optical (?:microscop\w*|image)", r"optical micrograph")),
    "electron diffraction": ((r"ED",), (r"electron diffraction",)),
    "EDS mapping": ((), (r"elemental map\w*", r"EDS map\w*", r"EDX map\w*")),
    "cryo-EM": ((r"cryo[-\s]?EM",), (r"cryo[-\s]electron microscop\w*",)),
    "NMR": ((r"NMR",), (r"nuclear magnetic resonance",)),
    "TGA": ((r"TGA",), (r"thermogravimetr\w*",)),
    "BET": ((r"BET",), (r"adsorption[-–\s]desorption isotherm\w*",)),
    "CV": ((r"CV",), (r"cyclic voltamm\w*",)),
    "LSV": ((r"LSV",), (r"linear (?:scan|sweep) voltamm\w*",)),
    "EIS": ((r"EIS",), (r"impedance spectr\w*", r"nyquist plot\w*")),
    "GCD": ((r"GCD",), (r"galvanostatic charge[-–\s]discharge",)),
    "DFT": ((r"DFT",), (r"density functional theory",)),
    "simulation": ((), (r"simulated", r"simulation")),
}
# The kind of picture a technique's data is shown as (a panel type of :mod:`panel_type`), for the caption cue of the
# panel type. Techniques whose data is shown either way are left out: EDS / EELS (a spectrum or a map), FFT (a
# pattern, or an inverse-FFT image), EBSD (a pattern or an orientation map), electron diffraction's bare "ED", DFT,
# simulation.
TECHNIQUE_KIND: dict[str, str] = {
    **dict.fromkeys(("HAADF-STEM", "ABF-STEM", "STEM", "HRTEM", "TEM", "SEM", "AFM", "STM"), "microscopy"),
    **dict.fromkeys(("optical microscopy", "EDS mapping", "cryo-EM"), "microscopy"),
    "SAED": "diffraction",
    **dict.fromkeys(("XRD", "XPS", "Raman", "FTIR", "UV-vis", "PL", "XAS", "TGA", "BET", "NMR"), "graph"),
    **dict.fromkeys(("CV", "LSV", "EIS", "GCD"), "graph"),
}
# A more specific technique suppresses a generic one found only through the specific one's text.
_IMPLIES = {"HAADF-STEM": ("STEM",), "ABF-STEM": ("STEM",), "HRTEM": (), "EDS mapping": ("EDS",)}

ELEMENT_NAMES = {
    "hydrogen": "H", "helium": "He", "lithium": "Li", "beryllium": "Be", "boron": "B", "carbon": "C",
    "nitrogen": "N", "oxygen": "O", "fluorine": "F", "neon": "Ne", "sodium": "Na", "magnesium": "Mg",
    "aluminum": "Al", "aluminium": "Al", "silicon": "Si", "phosphorus": "P", "sulfur": "S", "sulphur": "S",
    "chlorine": "Cl", "argon": "Ar", "potassium": "K", "calcium": "Ca", "scandium": "Sc", "titanium": "Ti",
    "vanadium": "V", "chromium": "Cr", "manganese": "Mn", "iron": "Fe", "cobalt": "Co", "nickel": "Ni",
    "copper": "Cu", "zinc": "Zn", "gallium": "Ga", "germanium": "Ge", "arsenic": "As", "selenium": "Se",
    "bromine": "Br", "krypton": "Kr", "rubidium": "Rb", "strontium": "Sr", "yttrium": "Y", "zirconium": "Zr",
    "niobium": "Nb", "molybdenum": "Mo", "ruthenium": "Ru", "rhodium": "Rh", "palladium": "Pd", "silver": "Ag",
    "cadmium": "Cd", "indium": "In", "tin": "Sn", "antimony": "Sb", "tellurium": "Te", "iodine": "I",
    "xenon": "Xe", "cesium": "Cs", "caesium": "Cs", "barium": "Ba", "lanthanum": "La", "cerium": "Ce",
    "neodymium": "Nd", "samarium": "Sm", "europium": "Eu", "gadolinium": "Gd", "terbium": "Tb",
    "dysprosium": "Dy", "erbium": "Er", "ytterbium": "Yb", "hafnium": "Hf", "tantalum": "Ta", "tungsten": "W",
    "rhenium": "Re", "osmium": "Os", "iridium": "Ir", "platinum": "Pt", "gold": "Au", "mercury": "Hg",
    "thallium": "Tl", "lead": "Pb", "bismuth": "Bi", "uranium": "U", "thorium": "Th",
}  # fmt: skip
# Words that are never materials even if they parse as formulas (acronyms common in captions).
_NOT_MATERIALS = {
    "BM", "PM", "SMNp", "ORR", "OER", "HER", "LSV", "CV", "EIS", "GCD", "RHE", "SHE", "SCE", "ABF", "FFT", "IFFT",
    "SEM", "TEM", "STEM", "EDS", "EDX", "EELS", "SAED", "XRD", "XPS", "AFM", "STM", "BET", "TGA", "DFT", "NMR",
    "PL", "IR", "UV", "HAADF", "CNT", "CNTs", "LDH", "MOF", "COF", "NP", "NPs", "NW", "NWs", "AAFB", "AAFBs",
    "ZAFB", "ZAFBs", "KOH", "NaOH", "HCl", "PBS", "DMF", "PVP", "PVDF", "CTAB", "SI", "CAD", "SAD", "ED", "EM",
    "In", "As", "At", "No", "I", "S", "Id", "Co", "Ar", "He", "Be", "Ne", "Hf", "Sc", "Ca", "Cr", "Mo", "Nb", "Pd",
    "Ti", "B", "C", "N", "O", "F", "P", "K", "V", "W", "U", "Y", "Li", "Na", "Mg", "Al", "Si", "Fe", "Ni", "Cu",
    "Zn", "Ag", "Au", "Pt", "Mn", "Sn", "Pb", "Bi", "Ir", "Ru", "Rh", "Os", "Re", "Ta", "Te", "Se", "Ga", "Ge",
    "La", "Ce", "Sr", "Ba", "Zr", "Cd", "Cs", "Rb", "Sb", "Hg", "Tl", "Eu", "Gd", "Nd", "Er", "Yb", "Dy", "Tb",
    "Sm", "Pr", "Th", "Cl", "Br", "H", "Kr", "Xe", "Am", "Cm", "Es", "Ho", "Lu", "Np", "Pa", "Po", "Pu", "Ra",
    "Rn", "Tc", "Tm", "Ac", "Bk", "Cf", "Fm", "Md", "Lr", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh",
    "Fl", "Mc", "Lv", "Ts", "Og", "Fr",
}  # fmt: skip
_FORMULA_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])((?:[A-Z][a-z]?(?:\d+(?:\.\d+)?|[xyδ])?|\((?:[A-Z][a-z]?\d*)+\)\d*)+)")
_SYMBOL_WORD_RE = re.compile(
    r"(?<![A-Za-z0-9-])([A-Z][a-z]?)(?=(?:/[A-Z]|\s+(?:nanoparticles?|nanowires?|nanorods?|"
    r"nanosheets?|nanocrystals?|nanocubes?|nanostars?|particles?|foils?|films?|atoms?|"
    r"atomic|layers?|substrates?|electrodes?|clusters?|seeds?|metal|foam|wires?|"
    r"catalysts?|M\d|K-edge|L\d|L-edge|M-edge|2p|3d|1s|4f|3p|edge)\b))"
)


@lru_cache(maxsize=2)
def _technique_res(short_acronyms: bool = True) -> list[tuple[str, re.Pattern[str]]]:
    out: list[tuple[str, re.Pattern[str]]] = []
    for name, (all_acronyms, phrases) in TECHNIQUES.items():
        acronyms = [a for a in all_acronyms if short_acronyms or not re.fullmatch(r"[A-Z]{1,2}", a)]
        parts = []
        if acronyms:
            parts.append(r"(?<![A-Za-z0-9])(?:" + "|".join(acronyms) + r")s?(?![A-Za-z0-9])")
        if phrases:
            parts.append(r"(?i:\b(?:" + "|".join(phrases) + r"))")
        out.append((name, re.compile("|".join(parts))))
    return out


def technique_pattern(name: str, short_acronyms: bool = True) -> re.Pattern[str]:
    """The compiled pattern that finds technique ``name`` of :data:`TECHNIQUES` (acronyms case-sensitively, spelled-out
    names case-insensitively); ``short_acronyms=False`` leaves out one- and two-letter acronyms ("CV" is also
    "conventional", "PL" a place), keeping the spelled-out names."""
    return dict(_technique_res(short_acronyms))[name]


@lru_cache(maxsize=1)
def _symbols() -> frozenset[str]:
    from pymatgen.core.periodic_table import Element

    return frozenset(e.symbol for e in Element)


def _techniques(text: str) -> list[str]:
    spans: list[tuple[int, int, str]] = []
    for name, rx in _technique_res():
        for m in rx.finditer(text):
            spans.append((m.start(), m.end(), name))
    # Longest match wins where matches overlap ("HAADF-STEM" over "STEM", "HR-TEM" over "TEM").
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, str]] = []
    for s in spans:
        if any(s[0] < k[1] and k[0] < s[1] for k in kept):
            continue
        kept.append(s)
    names: list[str] = []
    for _, _, name in sorted(kept):
        if name not in names:
            names.append(name)
        for implied in _IMPLIES.get(name, ()):
            if implied not in names:
                names.append(implied)
    return names


def _valid_formula(token: str) -> tuple[str, list[str]] | None:
    """(reduced display formula, elements) when ``token`` is a plausible chemical formula, else ``None``."""
    if token in _NOT_MATERIALS or len(token) < 2:
        return None
    symbols = _symbols()
    parts = re.findall(r"([A-Z][a-z]?)(\d+(?:\.\d+)?|[xyδ])?", token)
    if not parts or any(sym not in symbols for sym, _ in parts):
        return None
    n_symbols = len({sym for sym, _ in parts})
    has_count = any(cnt for _, cnt in parts)
    if n_symbols < 2 and not has_count:
        return None
    if n_symbols >= 2 and not has_count and len(parts) <= 2 and all(len(sym) == 1 for sym, _ in parts):
        return None  # "CO", "NO", "BN"... too ambiguous without counts; "GaN", "ZnO", "MoS2" still pass below
    try:
        from pymatgen.core import Composition

        comp = Composition(re.sub(r"[xyδ]", "", token))
    except Exception:
        return None
    if len(comp.elements) == 0:
        return None
    return token, sorted({str(e) for e in comp.elements})


def _two_letter_ok(token: str) -> bool:
    """Binary formulas without counts with a two-letter symbol: ZnO, GaN, MgO, NaCl, CuO, AgCl."""
    parts = re.findall(r"([A-Z][a-z]?)", token)
    return len(parts) == 2 and any(len(p) == 2 for p in parts) and token not in _NOT_MATERIALS


def extract_keywords(text: str) -> dict[str, list[str]]:
    """``{"techniques": [...], "materials": [...], "elements": [...]}`` found in ``text``, in order of appearance.

    >>> extract_keywords("HAADF-STEM image of Ag2MnO4 nanoplates with Ag nanoparticles")["materials"]
    ['Ag2MnO4']
    """
    text = text or ""
    techniques = _techniques(text)
    materials: list[str] = []
    elements: list[str] = []

    def add_el(sym: str) -> None:
        if sym not in elements:
            elements.append(sym)

    # Split composites "Co3O4/rGO", "Fe3O4@C", "Pt/C" into parts.
    for tok_m in re.finditer(r"[A-Za-z0-9().@/·xyδ-]+", text):
        token = tok_m.group(0)
        for part in re.split(r"[/@·-]", token):
            part = part.strip("().")
            if not part:
                continue
            m = _FORMULA_TOKEN_RE.fullmatch(part)
            if not m:
                continue
            got = _valid_formula(part)
            if got is None and _two_letter_ok(part):
                try:
                    from pymatgen.core import Composition

                    comp = Composition(part)
                    got = (part, sorted({str(e) for e in comp.elements}))
                except Exception:
                    got = None
            if got is None:
                continue
            formula, els = got
            if formula not in materials:
                materials.append(formula)
            for e in els:
                add_el(e)
    for m in _SYMBOL_WORD_RE.finditer(text):
        if m.group(1) in _symbols():
            add_el(m.group(1))
    for m in re.finditer(r"\b(" + "|".join(ELEMENT_NAMES) + r")\b", text, re.I):
        add_el(ELEMENT_NAMES[m.group(1).lower()])
    return {"techniques": techniques, "materials": materials, "elements": elements}
