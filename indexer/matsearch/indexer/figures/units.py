"""Length units of scale bars: parse "500 nm", "5 μm", "2 um", "10 Å", "5 1/nm" and convert to nanometres.

Canonical unit names: ``pm``, ``Å``, ``nm``, ``μm`` (Greek mu, the NFKC form of the micro sign), ``mm``, ``cm``;
reciprocal units (diffraction patterns, FFTs) are ``1/nm``, ``1/Å`` and ``1/μm`` and have no real-space size,
so :func:`to_nm` returns ``None`` for them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NM_PER_UNIT: dict[str, float] = {
    "pm": 1e-3,
    "Å": 0.1,
    "nm": 1.0,
    "μm": 1e3,
    "mm": 1e6,
    "cm": 1e7,
}
RECIPROCAL_UNITS = ("1/nm", "1/Å", "1/μm")

# Spellings seen in captions and OCR output -> canonical unit, after NFKC normalisation (which maps the micro sign
# U+00B5 to Greek mu U+03BC and the Angstrom sign U+212B to Å U+00C5). Short units are case-sensitive so that
# "0.1 M KOH" (molar) and "5 mM" (millimolar) are not read as lengths; spelled-out words are matched lower-cased.
_SHORT: dict[str, str] = {"pm": "pm", "Å": "Å", "nm": "nm", "μm": "μm", "um": "μm", "mm": "mm", "cm": "cm"}
_WORDS: dict[str, str] = {
    "angstrom": "Å",
    "angstroms": "Å",
    "ångström": "Å",
    "ångströms": "Å",
    "nanometer": "nm",
    "nanometers": "nm",
    "nanometre": "nm",
    "nanometres": "nm",
    "micron": "μm",
    "microns": "μm",
    "micrometer": "μm",
    "micrometers": "μm",
    "micrometre": "μm",
    "micrometres": "μm",
}

# Extra spellings accepted only in OCR output (``lenient=True``): "A"/"Ä" for Å, capitals, "u m".
_OCR_ALIASES: dict[str, str] = {"A": "Å", "Ä": "Å", "Ǻ": "Å", "å": "Å", "NM": "nm", "Nm": "nm", "UM": "μm", "Um": "μm"}

_NUMBER = r"(?P<num>\d+(?:[.,·]\d+)?|[.,]\d+)"
_UNIT_WORD = r"(?P<unit>1\s*/\s*(?:nm|Å|A|μm|um)|(?:nm|Å|μm|um)\s*(?:\^?\s*-\s*1(?!\d)|⁻¹)|[A-Za-zÅåÄǺμ]{1,11})"
_VALUE_UNIT_RE = re.compile(_NUMBER + r"\s*" + _UNIT_WORD + r"(?![A-Za-z0-9])")


@dataclass(frozen=True)
class Length:
    """A value with its canonical unit (possibly reciprocal) and the text it was read from."""

    value: float
    unit: str
    text: str

    @property
    def reciprocal(self) -> bool:
        return self.unit in RECIPROCAL_UNITS

    @property
    def nm(self) -> float | None:
        return to_nm(self.value, self.unit)


def normalize_text(text: str) -> str:
    """NFKC-normalise (µ→μ, Å sign→Å, full-width digits) and unify dashes and minus signs to ``-``."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[‐‑‒–—−]", "-", text)


def canonical_unit(unit: str, *, lenient: bool = False) -> str | None:
    """Canonical name of a unit spelling, or ``None`` if it is not a length unit.

    ``lenient`` also accepts OCR confusions ("A" for Å). Reciprocal spellings ("1/nm", "nm-1", "nm⁻¹") map to
    ``1/nm`` etc.
    """
    u = normalize_text(unit).strip().replace(" ", "")
    u = u.replace("⁻¹", "-1").replace("^", "")
    recip = False
    if u.startswith("1/"):
        recip, u = True, u[2:]
    elif u.endswith("-1"):
        recip, u = True, u[:-2]
    base = _SHORT.get(u) or _WORDS.get(u.lower())
    if base is None and lenient:
        base = _OCR_ALIASES.get(u)
    if base is None:
        return None
    if recip:
        return f"1/{base}" if f"1/{base}" in RECIPROCAL_UNITS else None
    return base


def to_nm(value: float, unit: str) -> float | None:
    """``value`` in ``unit`` expressed in nanometres; ``None`` for reciprocal or unknown units."""
    canon = canonical_unit(unit) if unit not in NM_PER_UNIT else unit
    if canon is None or canon not in NM_PER_UNIT:
        return None
    return float(value) * NM_PER_UNIT[canon]


def _parse_number(num: str) -> float | None:
    num = num.replace("·", ".")
    # A comma is a decimal separator only between digits with 1-2 digits after it ("0,5 μm"); never thousands here.
    if "," in num:
        num = num.replace(",", ".")
    try:
        return float(num)
    except ValueError:
        return None


def ocr_fixups(text: str) -> str:
    """Undo frequent OCR confusions in scale labels: "nn"/"rn"/"rm" for "nm", "O" for "0" inside numbers."""
    text = re.sub(r"(?<=[\d\s/])(?:nn|rn|rm|nrn)(?![A-Za-z])", "nm", text)
    text = re.sub(r"(?<=\d)[Oo](?=\d|\s|$|[nμuµ])", "0", text)
    return text


def find_lengths(text: str, *, lenient: bool = False) -> list[Length]:
    """All value+unit pairs in ``text``, in order ("Scale bars, 5 μm (c), 500 nm (d)" → 5 μm, 500 nm).

    ``lenient`` is for OCR output: it accepts "A" as Å and capitalised units ("NM").
    """
    norm = normalize_text(text)
    if lenient:
        norm = ocr_fixups(norm)
    out: list[Length] = []
    for m in _VALUE_UNIT_RE.finditer(norm):
        unit = canonical_unit(m.group("unit"), lenient=lenient)
        if unit is None:
            continue
        value = _parse_number(m.group("num"))
        if value is None or value <= 0:
            continue
        out.append(Length(value=value, unit=unit, text=m.group(0)))
    return out


def parse_length(text: str, *, lenient: bool = False) -> Length | None:
    """The single value+unit in a short text such as an OCR'd scale label ("500 nm", "5μm", "0.2 um").

    Returns the first pair found, or ``None``. OCR readings often glue or split tokens ("500nm", "5 µ m"); spaces
    inside the unit are tolerated.
    """
    found = find_lengths(text, lenient=lenient)
    if found:
        return found[0]
    # "5 µ m" / "200 n m": retry with spaces removed between letters.
    squeezed = re.sub(r"(?<=[^\W\d_])\s+(?=[^\W\d_])", "", normalize_text(text))
    if squeezed != text:
        found = find_lengths(squeezed, lenient=lenient)
        if found:
            return found[0]
    return None
