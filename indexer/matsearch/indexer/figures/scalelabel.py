"""Read a scale label on its own: a crop that holds only "200 nm", "0.5 µm", "5 Å", "1cm" (no bar needed).

Tiny, blurred or coloured labels defeat a single OCR pass, so the crop is read several times and the passes vote:

1. **Variants**: the crop is padded with its border colour and upscaled to the recogniser's working height (48 px,
   bicubic), then given as (a) colour, (b) grey with a percentile contrast stretch, (c) that stretch inverted, (d)
   an Otsu black-on-white binarisation of "far from the background colour" (coloured text on any background) and
   (e) the same after a slight blur (JPEG blocks). Each variant goes through rapidocr recognition only.
2. **Grammar**: each reading is parsed as value + length unit (:func:`parse_label_text`): "1cm", "0.5µm", "20.0um",
   "5 Å", "2 nm"; µ/u/μ are one unit, "A"/"Ä" read as Å, "nn"/"rn" as nm, "O" inside numbers as 0, a leading
   "l"/"I" as 1.
3. **Vote**: readings with the same value and unit (compared in nm) pool their OCR scores. The winner's share of
   all the score mass is the agreement; ``confidence = agreement × mean winner score``. With fewer than two
   agreeing passes, or confidence < 0.3, or a crop whose text is too small to hold glyphs (under
   :data:`MIN_TEXT_HEIGHT` px of ink), the reader **abstains**: value ``None``, confidence < 0.3.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.indexer.figures.units import NM_PER_UNIT, Length, canonical_unit, normalize_text, to_nm

__all__ = ["LabelReading", "read_label", "parse_label_text", "MIN_TEXT_HEIGHT", "ABSTAIN_BELOW"]

MIN_TEXT_HEIGHT = 6  # px of ink: a 5-px label is unreadable (the spec; dev sweep: 0/60 right at <= 6 px crops)
ABSTAIN_BELOW = 0.3  # confidence under which a reading is reported as unknown
REC_HEIGHT = 48  # rapidocr's recogniser works on lines 48 px high


@dataclass
class LabelReading:
    """What was read: ``value``/``unit`` (canonical, e.g. "μm") or ``None`` when abstaining."""

    text: str | None = None
    value: float | None = None
    unit: str | None = None
    confidence: float = 0.0
    votes: int = 0
    passes: int = 0
    readings: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def length(self) -> Length | None:
        if self.value is None or self.unit is None:
            return None
        return Length(self.value, self.unit, self.text or "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------------
# Grammar

_UNIT_ALIASES: dict[str, str] = {
    # OCR spellings of the micro sign and Ångström, after NFKC (µ -> μ) and lower-casing where safe
    "μm": "μm",
    "um": "μm",
    "µm": "μm",
    "jum": "μm",
    "jm": "μm",
    "ym": "μm",
    "pum": "μm",
    "μrn": "μm",
    "μn": "μm",
    "un": "μm",
    "urn": "μm",
    "nm": "nm",
    "nn": "nm",
    "rn": "nm",
    "rm": "nm",
    "nrn": "nm",
    "mm": "mm",
    "cm": "cm",
    "pm": "pm",
    "å": "Å",
    "a": "Å",
    "ä": "Å",
    "ǻ": "Å",
    "ao": "Å",
}
_LABEL_RE = re.compile(r"(?P<num>\d+(?:[.,]\d+)?|[.,]\d+)\s*\.?\s*(?P<unit>[A-Za-zÅåÄäǺǻμµ]{1,6})")


def _fix_digits(text: str) -> str:
    """Letters OCR puts for digits next to other digits or at the start of a value: O→0, l/I/|→1, S→5 (before a
    unit), Z→2."""
    t = re.sub(r"(?<=\d)[Oo](?=[\d.,\s]|[nμuµmcpÅ])", "0", text)
    t = re.sub(r"(?<=[.,])[Oo]", "0", t)
    t = re.sub(r"^[lI|T](?=[\d.,\s]*[nμuµmcpÅ])", "1", t)
    t = re.sub(r"^[S](?=\s*[nμuµ])", "5", t)
    t = re.sub(r"(?<=\d)[lI|](?=\d)", "1", t)
    return t


def _unit_of(letters: str) -> str | None:
    """The unit a run of letters starts with: "nm", "nml" (a bar end read as "l") → nm; "μn" → μm; None if none."""
    for n in range(min(4, len(letters)), 0, -1):
        head = letters[:n]
        unit = canonical_unit(head, lenient=True)
        if unit is None or unit not in NM_PER_UNIT:
            unit = _UNIT_ALIASES.get(head) or _UNIT_ALIASES.get(head.lower())
        if unit is not None:
            if n == 1 and len(letters) > 1 and unit == "Å":
                continue  # "Am..." is not Å followed by junk
            return unit
    return None


def parse_label_text(text: str) -> Length | None:
    """Value + unit of one OCR reading of a scale label, or ``None`` ("200nm", "0,5 µm", "5 A", "1cm", "20.0um").

    Tolerates what OCR adds or confuses: a stray bar end after the unit ("200 nml"), a dot between value and unit
    ("200.nm"), "O" for 0 and "l"/"I"/"T" for 1, and "pm" for "μm" below 100 (picometre labels are written 100 pm
    and up on atomic-resolution images; "5 pm" is a misread "5 μm").
    """
    t = normalize_text(text or "").strip()
    t = re.sub(r"[\s_\-–—~=:|'\"`]+$", "", re.sub(r"^[\s_\-–—~=:|'\"`]+", "", t))
    t = _fix_digits(t)
    m = _LABEL_RE.search(t)
    if m is None:
        return None
    unit = _unit_of(m.group("unit"))
    if unit is None:
        return None
    num = m.group("num").replace(",", ".")
    try:
        value = float(num)
    except ValueError:
        return None
    if value <= 0 or value >= 10000:
        return None
    if unit == "pm" and value < 100:
        unit = "μm"
    return Length(value, unit, m.group(0))


# ----------------------------------------------------------------------------------------------------------------
# Variants


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[:, :, :3]).astype(np.uint8)


def _background(rgb: np.ndarray) -> np.ndarray:
    """Median colour of the crop's 1-px border (labels are cropped with some background around them)."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    return np.median(border, axis=0)


def _ink_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background colour (Otsu threshold on the colour distance)."""
    bg = _background(rgb).astype(np.float64)
    dist = np.linalg.norm(rgb.astype(np.float64) - bg, axis=2)
    d8 = np.clip(dist * (255.0 / max(1.0, float(dist.max()))), 0, 255).astype(np.uint8)
    if int(d8.max()) == 0:
        return np.zeros(d8.shape, bool)
    t, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return d8 > t


def ink_height(rgb: np.ndarray) -> int:
    """Height in px of the rows that carry ink (the glyph height of a one-line label)."""
    mask = _ink_mask(rgb)
    rows = np.nonzero(mask.sum(axis=1) >= max(1, int(0.02 * mask.shape[1])))[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def _pad(rgb: np.ndarray, frac: float = 0.25) -> np.ndarray:
    h = rgb.shape[0]
    p = max(2, int(round(frac * h)))
    bg = _background(rgb).astype(np.uint8)
    out = np.empty((h + 2 * p, rgb.shape[1] + 2 * p, 3), np.uint8)
    out[:] = bg
    out[p : p + h, p : p + rgb.shape[1]] = rgb
    return out


def _upscale(rgb: np.ndarray, height: int = REC_HEIGHT) -> np.ndarray:
    f = height / max(1, rgb.shape[0])
    if abs(f - 1.0) < 0.05:
        return rgb
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    return cv2.resize(rgb, (max(2, int(round(rgb.shape[1] * f))), height), interpolation=interp)


def _stretch(gray: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(gray, (2, 98))
    if hi - lo < 1:
        return gray
    return np.clip((gray.astype(np.float64) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _trim(rgb: np.ndarray) -> np.ndarray:
    """The crop cut to its ink (plus 1 px), so the text fills the recogniser's line height."""
    mask = _ink_mask(rgb)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return rgb
    return rgb[max(0, ys.min() - 1) : ys.max() + 2, max(0, xs.min() - 1) : xs.max() + 2]


def variants(image: Image.Image | np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The OCR inputs made from one crop (name, RGB array): the crop cut to its ink, padded with the background and
    upscaled to 48 px, as colour, sharpened, grey with a gamma stretch, inverted grey and black-on-white ink; and
    the uncut crop in colour."""
    rgb = _rgb(image)
    big = _upscale(_pad(_trim(rgb)))
    gray = _stretch(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY))
    sharp = cv2.addWeighted(big, 2.0, cv2.GaussianBlur(big, (0, 0), 2.0), -1.0, 0)
    gamma = (255.0 * (gray / 255.0) ** 1.8).astype(np.uint8)
    ink = np.where(_ink_mask(big), 0, 255).astype(np.uint8)

    def g3(a: np.ndarray) -> np.ndarray:
        return np.stack([a] * 3, axis=-1)

    return [
        ("colour", big),
        ("sharp", sharp),
        ("grey-gamma", g3(gamma)),
        ("inverted", g3(255 - gray)),
        ("ink", g3(ink)),
        ("uncut", _upscale(_pad(rgb))),
    ]


# ----------------------------------------------------------------------------------------------------------------
# Reading


# Batch padding (width/height) of the label variants; rapidocr pads to 320/48 = 6.7. Dev sweep (29 readable crops)
# 3 / 4 / 5 / 6.7: 14 / 16 / 16 / 15 read right, same 1 wrong and 15/15 abstained; CPU 2.4 / 3.3 / 3.6 / 5.2 s.
RECOGNISER_MIN_RATIO = 4.0


def _recognize(crops: list[np.ndarray], min_ratio: float = RECOGNISER_MIN_RATIO) -> list[tuple[str, float]]:
    """rapidocr recognition of the variants in one batch padded to ``min_ratio`` (width/height) or the widest crop
    (rapidocr's own batching pads every crop to a 320-px line, ratio 6.7; a short label needs far less)."""
    from matsearch.indexer.figures.ocr import _as_array, recognize_padded

    arrs = [_as_array(c) for c in crops]  # recognize_padded holds figures.ocr.RECOGNISER_LOCK (the one OCR lock)
    lines = recognize_padded(arrs, min_ratio=min_ratio, max_batch=max(1, len(arrs)), spread=None)
    return [(text.strip(), score) for text, score in lines]


def read_label(image: Image.Image | np.ndarray) -> LabelReading:
    """Read a crop holding one scale label; abstain (value ``None``, confidence < 0.3) when it cannot be read."""

    rgb = _rgb(image)
    out = LabelReading()
    if rgb.shape[0] < 3 or rgb.shape[1] < 4:
        out.notes.append(f"crop too small ({rgb.shape[1]}x{rgb.shape[0]} px)")
        return out
    ih = ink_height(rgb)
    if ih < MIN_TEXT_HEIGHT:
        out.notes.append(f"text {ih} px high: too small to read (< {MIN_TEXT_HEIGHT} px)")
        return out
    pool: dict[tuple[float, str], list[tuple[float, str]]] = {}
    total = 0.0
    named = variants(rgb)
    for (name, _), (text, score) in zip(named, _recognize([a for _, a in named]), strict=True):
        ln = parse_label_text(text)
        out.passes += 1
        out.readings.append(
            {
                "variant": name,
                "text": text,
                "score": round(score, 3),
                "value": ln.value if ln else None,
                "unit": ln.unit if ln else None,
            }
        )
        total += max(score, 0.05)
        if ln is None:
            continue
        nm = to_nm(ln.value, ln.unit)
        key = (round(nm, 6) if nm is not None else ln.value, ln.unit if nm is None else "nm")
        pool.setdefault(key, []).append((score, f"{ln.value:g} {ln.unit}"))
    if not pool:
        out.notes.append("no pass read a value with a length unit")
        return out
    key, votes = max(pool.items(), key=lambda kv: (sum(s for s, _ in kv[1]), len(kv[1])))
    weight = sum(s for s, _ in votes)
    agreement = weight / max(total, 1e-9)
    mean_score = weight / len(votes)
    conf = agreement * mean_score
    # the most frequent spelling of the winning value, e.g. "0.5 μm"
    spelled = max({t for _, t in votes}, key=lambda t: sum(1 for _, x in votes if x == t))
    out.votes = len(votes)
    if len(votes) < 2 or conf < ABSTAIN_BELOW:
        out.confidence = round(min(conf, ABSTAIN_BELOW - 0.01), 3)
        out.notes.append(f"passes disagree (best {spelled!r}: {len(votes)}/{out.passes} votes, confidence {conf:.2f})")
        return out
    value_s, unit = spelled.split(" ", 1)
    out.text, out.value, out.unit = spelled, float(value_s), unit
    out.confidence = round(conf, 3)
    return out
