"""Compound-figure layout: find the panel labels printed in a figure and cut the figure into one region per label.

Steps (each one cheap and explainable):

1. **Label candidates**: small, isolated blobs of ink — dark on a light background (labels in the margins) or light on
   a dark one (labels printed on a micrograph) — are cropped and read in one OCR batch (rapidocr recognition only;
   full-page text detection is ~10x slower and misses single letters).
2. **Label choice**: texts that look like labels ("a", "(b)", "C.", "ii", "d1"). With a caption, only the labels the
   caption names are kept; without one, the largest family that starts at "a"/"A"/"i" and runs on without big gaps.
   When a label is read twice (a cross-reference "c" inside a micrograph and the real "c" in the margin), the copy
   that sits on a plain background and lines up with the other labels' rows and columns wins. Letters of another
   size or case (sample names "A", "B"; axis letters) fall out of the family.
3. **Partition**: the region holding several labels is cut along a gutter (a run of blank rows or columns) that
   separates them; among gutters, wide ones just before a label (labels sit at the top-left of their panel) win.
   Without any gutter (panels that touch) the cut runs along the label's left or top edge, where the fewest ink
   pixels are crossed. Recursion stops when a region holds one label: everything in it — insets, sub-images,
   colour bars — belongs to that label. A figure without labels is one panel.

Real layouts (measured on ``bench/real_figures``, see docs/figures.md):

- **Pictures that touch** (film strips, photo pairs with no gutter): a straight intensity step along most of a
  block's height is a *seam*; seams split blocks for the corner reads and act as zero-width gutters in the partition.
- **Labels inside frames** are read at a picture's top-left *and bottom-left* corner, each corner four ways (its
  crop and the tight box of its extreme pixels, both polarities); bottom-left labels end their panel, so cuts
  between rows accept labels that sit at the bottom of the region above.
- **Series that repeat their labels** (rows "a) b) c) d)" per sample): two or more rows of candidates that run in
  label order and line up column by column give one panel per printed label.
- **Without a caption**, a letter read inside a picture can join the label sequence: after partitioning, a label
  that does not sit at a corner of its region is dropped and the figure re-partitioned.
- Large figures are also read at about print size (``panels.SMALL_ANALYSIS_SIDE``); a full-size reading must find
  more labels to win.
- **Equal frames** (film strips, time series, graph grids): when the read letters sit at the same place in the
  cells of a regular grid over the figure and run in its reading order (row- or column-major), the cells are the
  panels (:func:`_lattice`), so an unread or misread letter in a strip without gutters still gets its own frame.
- Labels printed on **mid-grey** pictures (white on a grey frame, black on a light-grey one) are candidates when
  they stand far from a plain surrounding (:func:`_mid_tone_label`).
- A line along a label's edge that crosses almost no ink (a gutter crossed by an arrow) is cut before a seam.
- **One label per panel, one panel per label** (session 8, real dev8 figures): an unlettered row of pictures above
  a row of lettered panels becomes panels without a label (:func:`_unlabelled_above`); a figure that is one picture
  with one crisp letter at its top-left corner (a web paper's sub-figure) is that letter's panel
  (:func:`_lone_corner_label`); without a caption, a run whose first letters the filters dropped is no sequence.
- **Letters that are not labels** (session 10, synthetic ``bench.false_labels``): a free read in the interior of a
  picture (a region marker, a letter beside an arrow, an element symbol on a map) is dropped unless it lines up with
  a label read outside every interior (:func:`_interior_out`); one caption label read alone must sit at the figure's
  corner, as its region is the whole figure (:func:`_alone_off_corner`).
- **Labels never found or read** (session 11, synthetic ``bench.hard_labels``): while caption labels are missing
  (without a caption: letters of the run's holes), a *rescue* reading looks at what the luminance passes cannot
  see — coloured letters in each pixel's darkest / brightest channel (:func:`label_tones`), faint ones by their
  local ground (:func:`_faint`), x-heights from 4 px — read stretched to black on white, kept only in line with a
  sought letter of their size (:func:`rescue_candidates`); a letter in a circle or box is read without its frame
  (:func:`enclosed_glyphs`); caption labels still unread take the equal frames the image draws
  (:func:`_structure_grid`, reading order, every read label must fit).
- **Equal frames that are a part of the figure** (session 12, synthetic ``bench.series_layouts``): a series or graph
  grid under a schematic, beside a column of plots, above a row of spectra: the whole-figure grid is tried on runs
  of gutter-separated pieces of the figure, with the letters its read labels and the missing letters around them
  give (:func:`_sub_lattice`); a picture block that draws equal frames (seams, gutters) gives missing letters their
  frames (:func:`_region_frames`); the drawn frames of the whole figure may run column-major when a read label says
  so (``STRUCTURE_ANY_ORDER``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")
_LABEL_RE = re.compile(r"^[\(\[]?\s*([A-Za-z]\d{0,2}|viii|vii|iii|xii|xi|vi|iv|ix|ii)\s*[\)\]]?[.,:]?$")
# Letters whose upper and lower case differ only in size: OCR of a lone glyph cannot tell them apart.
_CASELESS = set("cosuvwxzkp")
# OCR confusions for a lone glyph, applied only when the caption asks for the letter.
_CONFUSIONS = {"9": "g", "0": "o", "1": "l", "5": "s", "2": "z", "8": "b", "6": "b"}

_INK_DARK = 110  # gray below this is ink on a light background
_INK_LIGHT = 190  # gray above this is ink on a dark background
_BLANK = 232  # gray at or above this (and low saturation) counts as background for gutters


@dataclass
class LabelCandidate:
    text: str  # as read (normalised to ASCII)
    key: str  # canonical label: lower case, no punctuation
    box: Box
    score: float  # OCR confidence
    polarity: str  # "dark" (dark ink on light) or "light"
    height: int
    corner: bool = False  # read in the top-left corner of a picture (label printed on the image)
    anchor: str = "top"  # "bottom": read in a picture's bottom-left corner (the label ends its panel); "right": at
    # the top-right of its frame (the label ends its panel horizontally)
    mates: int = 0  # blobs of the same height beside it on a line or in a column (tick labels come in runs)

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@dataclass
class Region:
    label: LabelCandidate | None
    box: Box  # area of the figure assigned to this label
    content: Box  # tight box of the ink inside ``box``
    method: str = "whole"  # how the last cut was made: "gutter", "label-edge", "whole"


@dataclass
class Layout:
    width: int
    height: int
    regions: list[Region]
    candidates: list[LabelCandidate] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------------
# OCR


OcrBatch = Callable[[Sequence[np.ndarray]], list[tuple[str, float]]]


def _rapidocr_batch(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
    """Read a batch of small BGR crops with rapidocr's recogniser (weights inside the wheel), through
    :func:`matsearch.indexer.figures.ocr.recognize_padded` (each batch padded only to its own widest crop, at least
    64 px at height 48, and the cheap split recogniser head: the same readings as rapidocr's full recogniser).

    The recogniser pads a batch to its widest crop (one wide blob made a batch of letters 4x dearer), so crops are
    read in groups of similar width (input widths up to 64, 96, 128, 192 px and beyond).
    """
    if not crops:
        return []
    from matsearch.indexer.figures.ocr import recognize_padded

    widths = [48 * c.shape[1] / max(1, c.shape[0]) for c in crops]
    bucket = [sum(w > lim for lim in (64, 96, 128, 192)) for w in widths]
    res: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for b in sorted(set(bucket)):  # each call holds the one recogniser lock (ocr.RECOGNISER_LOCK) itself
        idx = [i for i, k in enumerate(bucket) if k == b]
        lines = recognize_padded([crops[i] for i in idx], min_ratio=64 / 48, max_batch=32, spread=None)
        for i, (t, s) in zip(idx, lines, strict=True):
            res[i] = (str(t), float(s))
    return res


def ascii_text(text: str) -> str:
    """Strip accents and odd forms the Chinese+English recogniser produces for lone Latin letters ("à" → "a")."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).strip()


def label_key(text: str) -> str | None:
    """Canonical label of an OCR text, or ``None`` when it does not look like a panel label."""
    m = _LABEL_RE.match(ascii_text(text))
    if not m:
        return None
    return m.group(1).lower()


# ----------------------------------------------------------------------------------------------------------------
# Candidates


def gray_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.uint8)


Tones = dict[str, np.ndarray]  # polarity ("dark", "light") -> the grey image its ink is found and read in


def label_tones(image: Image.Image) -> Tones | None:
    """The images coloured label ink is looked for in, per polarity (session 11): dark ink in the darkest channel of
    each pixel, light ink in the brightest. A coloured letter on white (orange, cyan, yellow: luminance 165-215, never
    below the dark-ink level) is dark in its weakest channel; a blue or red letter on a black picture is bright in its
    strongest. ``None`` for a grey figure (R = G = B: both are the luminance) or with ``COLOUR_TONES`` off."""
    if not COLOUR_TONES or image.mode in ("L", "1", "I", "F"):
        return None
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return None
    return {"dark": cv2.min(cv2.min(r, g), b), "light": cv2.max(cv2.max(r, g), b)}


COLOUR_TONES = True  # session 11: coloured letters looked for per channel (label_tones), in the rescue reading
RESCUE = True  # session 11: coloured and faint blobs read last, only for labels still missing (rescue_candidates)
RESCUE_MAX = 64  # rescue blobs read at most per figure (4 batches; only while labels are missing)
RESCUE_READS = 16  # rescue blobs per OCR batch
RESCUE_OPEN = False  # without caption and no run: the rescue may start one; tried, real dev8 0.990 -> 0.951: off
RESCUE_MIN_H = 4  # px: the smallest rescue blob (x-height of a 7-px lower-case letter)


def background_mask(image: Image.Image) -> np.ndarray:
    """True where the figure is blank (white-ish and unsaturated): the material gutters are made of."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    lo = cv2.min(cv2.min(r, g), b)
    hi = cv2.max(cv2.max(r, g), b)
    mask: np.ndarray = (lo >= _BLANK) & (cv2.subtract(hi, lo) <= 24)
    return mask


def find_candidates(gray: np.ndarray, *, max_candidates: int = 400) -> list[tuple[str, Box]]:
    """Boxes of small isolated ink blobs (1–3 glyphs) on a plain background, with their polarity (uniform
    surroundings first; :func:`read_candidates` orders them by :func:`label_prior` before reading).

    A label printed a few px beside its picture (a Nature-style "b" left of a micrograph's top edge) is joined to the
    picture by the glyph-joining dilation and lost; a second pass looks again with the picture-sized ink components
    taken away (:func:`_abutting`), keeping only blobs that sit right next to one of them."""
    first, abutting = _find_candidates(gray, max_candidates)
    return first + abutting


def _find_candidates(
    gray: np.ndarray, max_candidates: int = 400
) -> tuple[list[tuple[str, Box]], list[tuple[str, Box]]]:
    """(the first pass's blobs, the abutting pass's blobs); :func:`read_candidates` computes the two groups' shape
    features apart (an abutting blob does not change a first-pass blob's row/column mates, so neither its prior nor
    the order of the others) and reads both in prior order."""
    h_img, w_img = gray.shape
    scale = max(1.0, min(h_img, w_img) / 700.0)  # labels grow with the figure
    min_h, max_h = 6, int(48 * scale)
    out: list[tuple[float, str, Box]] = []
    late: list[tuple[float, str, Box]] = []
    for polarity in ("dark", "light"):
        ink = gray < _INK_DARK if polarity == "dark" else gray > _INK_LIGHT
        found = _blobs(gray, ink, polarity, min_h, max_h, None)
        out += found
        if ABUTTING:
            late += _abutting(gray, ink, polarity, min_h, max_h, [b for _, _, b in found])
    out.sort(key=lambda t: t[0])
    late.sort(key=lambda t: t[0])
    return [(p, b) for _, p, b in out[:max_candidates]], [(p, b) for _, p, b in late[:ABUT_MAX]]


def rescue_candidates(gray: np.ndarray, tones: Tones | None, seen: Sequence[Box]) -> list[tuple[str, str, Box]]:
    """Blobs the luminance passes cannot see (session 11), as (source, polarity, box) with source "tone" (read in
    ``tones[polarity]``) or "gray": coloured letters (the ink of :func:`label_tones`' channel images) and faint ones
    (:func:`_faint`: grey letters, dim letters on a plain picture, thin small letters left grey by anti-aliasing).
    Only blobs that overlap no box of ``seen`` (the labels read so far) nor each other, plainest ring first; the
    reading takes the :data:`RESCUE_MAX` most label-like (:func:`label_prior`). They are read last, and only for
    labels still missing (:func:`read_candidates`), so a figure whose labels the first passes found reads exactly as
    before. Blobs from :data:`RESCUE_MIN_H` px tall (the first passes: 6): a small lower-case "a", "c", "e" printed at
    7-10 px has an x-height of 4-5 px."""
    h_img, w_img = gray.shape
    scale = max(1.0, min(h_img, w_img) / 700.0)
    min_h, max_h = RESCUE_MIN_H, int(48 * scale)
    found: list[tuple[float, str, str, Box]] = []
    for polarity in ("dark", "light"):
        if tones is not None:
            g = tones[polarity]
            ink = g < _INK_DARK if polarity == "dark" else g > _INK_LIGHT
            found += [(sd, "tone", pol, b) for sd, pol, b in _blobs(g, ink, polarity, min_h, max_h, None)]
        if FAINT:
            found += [(sd, "gray", pol, b) for sd, pol, b in _faint(gray, polarity, min_h, max_h, [])]
    found.sort(key=lambda t: t[0])
    out: list[tuple[str, str, Box]] = []
    taken = list(seen)
    for _, src, pol, b in found:
        if any(_overlap(b, o) for o in taken):
            continue
        taken.append(b)
        out.append((src, pol, b))
    return out[:400]


ABUTTING = True  # session 9: the second, picture-less pass of find_candidates
ABUT_GAP = 5  # px: a blob this close to a picture-sized ink component (gaps the dilation joins, <= 4 px) abuts it
ABUT_MAX = 24  # abutting blobs read at most per figure (after the first pass's)


def _abutting(
    gray: np.ndarray, ink: np.ndarray, polarity: str, min_h: int, max_h: int, seen: Sequence[Box]
) -> list[tuple[float, str, Box]]:
    """Label-sized blobs that the glyph-joining dilation had joined to a picture-sized ink component: found again
    with those components taken away, kept only when (1) the first pass's dilated blob around them was too big to be
    a label (it was swallowed), and (2) they lie outside the bounding box of every picture-sized component they
    abut (beside a picture, not a glyph of a word whose other glyphs touch a frame)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if n <= 1:
        return []
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    is_big = (h > max_h) | (w > 3.4 * max_h + 4) | (area > max_h * max_h)
    is_big[0] = False
    if not is_big.any():
        return []
    big = is_big[lab]
    near = cv2.dilate(big.astype(np.uint8), np.ones((2 * ABUT_GAP + 1, 2 * ABUT_GAP + 1), np.uint8)) > 0
    merged = cv2.dilate(ink.astype(np.uint8), np.ones((3, 5), np.uint8))
    _, mlab, mstats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    out = []
    for s, pol, b in _blobs(gray, ink & ~big, polarity, min_h, max_h, near):
        if any(_overlap(b, o) for o in seen):
            continue
        x0, y0, x1, y1 = b
        ids = np.unique(mlab[y0:y1, x0:x1][ink[y0:y1, x0:x1]])
        mh, mw = mstats[ids, cv2.CC_STAT_HEIGHT], mstats[ids, cv2.CC_STAT_WIDTH]
        if not ((mh - 2 > max_h) | (mw - 4 > 3.4 * max_h + 4)).any():
            continue  # the first pass saw it as a word or an isolated blob already: nothing was swallowed
        g = ABUT_GAP
        touching = np.unique(lab[max(0, y0 - g) : y1 + g, max(0, x0 - g) : x1 + g])
        touching = touching[is_big[touching]]
        inside = False
        for i in touching:
            bx, by, bw, bh = (int(v) for v in stats[i, :4])
            if _overlap(b, (bx, by, bx + bw, by + bh)):
                inside = True
                break
        if not inside:
            out.append((s, pol, b))
    return out


FAINT = True  # session 11: low-contrast labels, a pass with ink taken relative to the local ground (_faint)
FAINT_STEP = 50  # grey levels a faint glyph stands from its local ground (grey text on white is 60-110 from it)


def _faint(
    gray: np.ndarray, polarity: str, min_h: int, max_h: int, seen: Sequence[Box] = ()
) -> list[tuple[float, str, Box]]:
    """Label-sized blobs of *faint* ink: grey letters on white, dim letters on a plain picture, thin small letters
    that anti-aliasing left grey — whose pixels never reach the fixed ink levels of the first pass. Ink here is what
    stands :data:`FAINT_STEP` grey levels beyond its local ground (the brightest grey within a window of about one
    label for dark ink, the darkest for light ink); a blob is kept when its ring is plain (spread <= 30) and its
    glyph stands >= ``FAINT_STEP`` from the ring's median, and it overlaps no blob of the first pass."""
    k = max(9, (max_h // 2) | 1)
    kernel = np.ones((k, k), np.uint8)
    g16 = gray.astype(np.int16)
    if polarity == "dark":
        ink = g16 < cv2.dilate(gray, kernel).astype(np.int16) - FAINT_STEP
    else:
        ink = g16 > cv2.erode(gray, kernel).astype(np.int16) + FAINT_STEP
    return [
        t
        for t in _blobs(gray, ink, polarity, min_h, max_h, None, faint=True)
        if not any(_overlap(t[2], o) for o in seen)
    ]


ENCLOSED = True  # session 11: a label inside a circle or box is read without its frame (enclosed_glyphs)


def enclosed_glyphs(sub: np.ndarray) -> tuple[bool, Box, np.ndarray] | None:
    """What a frame holds, in a blob's ink mask ``sub``: (other polarity?, glyph box in ``sub``, glyph mask of that
    box), or ``None`` when the blob is no framed label.

    - an *outline* (a thin circle or box around the letter, < 45 % of its box inked) that spans the blob, with
      glyph-sized ink inside it: those glyphs, same polarity;
    - a *filled* disc or box (>= 55 % inked) with nothing of its ink inside: the glyph is its hole (the letter left
      blank in a black box, a black letter on a white disc read as light ink): the holes, other polarity. A
      letter's own counter ("O", "D", "e") is convex (solidity >= 0.95, DejaVu letters are <= 0.75 except "l", "I"),
      so it is not taken for a letter."""
    h, w = sub.shape
    if h < 10 or w < 8:
        return None
    n, lab, st, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(sub).astype(np.uint8), connectivity=8)
    frame = [i for i in range(1, n) if st[i, 2] >= 0.9 * w and st[i, 3] >= 0.9 * h]
    if len(frame) != 1:
        return None
    f = frame[0]
    fill = float(st[f, 4]) / (w * h)
    inner = [j for j in range(1, n) if j != f and st[j, 3] >= 0.3 * h]
    if inner and fill < 0.45:
        bx0 = min(int(st[j, 0]) for j in inner)
        by0 = min(int(st[j, 1]) for j in inner)
        bx1 = max(int(st[j, 0] + st[j, 2]) for j in inner)
        by1 = max(int(st[j, 1] + st[j, 3]) for j in inner)
        glyph = np.isin(lab[by0:by1, bx0:bx1], inner)
        return False, (bx0, by0, bx1, by1), glyph
    if fill < 0.55:
        return None  # (ink inside a filled shape is the counter of its blank letter: "b", "a")
    free = (lab != f).astype(np.uint8)
    m, hl, hs, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    border = set(np.unique(np.concatenate([hl[0], hl[-1], hl[:, 0], hl[:, -1]])).tolist())
    holes = [k for k in range(1, m) if k not in border and hs[k, 3] >= 0.3 * h and hs[k, 4] >= 6]
    if not holes:
        return None
    bx0 = min(int(hs[k, 0]) for k in holes)
    by0 = min(int(hs[k, 1]) for k in holes)
    bx1 = max(int(hs[k, 0] + hs[k, 2]) for k in holes)
    by1 = max(int(hs[k, 1] + hs[k, 3]) for k in holes)
    if by1 - by0 < 0.35 * h:
        return None
    glyph = np.isin(hl[by0:by1, bx0:bx1], holes) & (lab[by0:by1, bx0:bx1] == 0)  # its own counter stays ink
    if _solidity(glyph) >= 0.85:
        return None  # a letter's own counter ("O", "D", "e"): a convex hole; letters are concave (<= 0.75), l/I lost
    return True, (bx0, by0, bx1, by1), glyph


def _solidity(mask: np.ndarray) -> float:
    """Share of the mask's convex hull (filled, in pixels) that the mask covers."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return 1.0
    hull = cv2.convexHull(np.column_stack([xs, ys]).astype(np.int32))
    filled = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return float(len(xs)) / max(1, int(filled.sum()))


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _blobs(
    gray: np.ndarray,
    ink: np.ndarray,
    polarity: str,
    min_h: int,
    max_h: int,
    near: np.ndarray | None,
    *,
    faint: bool = False,
) -> list[tuple[float, str, Box]]:
    """The label-sized, isolated blobs of ``ink`` as (ring std, polarity, box); with ``near``, only blobs whose
    margin touches it (the abutting pass); ``faint``: the ground test of :func:`_faint` (a plain ring the glyph
    stands ``FAINT_STEP`` from) instead of the fixed levels."""
    h_img, w_img = gray.shape
    out: list[tuple[float, str, Box]] = []
    merged = cv2.dilate(ink.astype(np.uint8), np.ones((3, 5), np.uint8))  # joins glyphs of "ii", "(a)"
    n, _, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    # the dilation grew each blob by 1 row and 2 columns a side: drop what cannot fit before any pixel work
    hd, wd = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    tall = (hd >= min_h) & (hd - 2 <= max_h)
    fits = tall & (wd - 4 <= 3.4 * hd + 4)
    # a text line (a title "(a) mode=plain", a sub-caption "(a) Band gap vs ..." under a plot): its first word
    lines = tall & ~fits & (hd - 2 <= 2.2 * min_h + 0.5 * max_h) & (wd <= 60 * hd)
    boxes: list[tuple[int, int | None]] = [(int(i), None) for i in np.flatnonzero(fits[1:]) + 1]
    if near is None:
        boxes += [(int(i), 0) for i in np.flatnonzero(lines[1:]) + 1][:MAX_LINES]
    for i, word in boxes:
        x, y, w, h, _area = (int(v) for v in stats[i])
        sub = ink[y : y + h, x : x + w]  # tight box of the ink (undo the dilation)
        cols, rows = np.flatnonzero(sub.any(axis=0)), np.flatnonzero(sub.any(axis=1))
        if len(cols) == 0:
            continue
        x, y, w, h = x + int(cols[0]), y + int(rows[0]), int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1
        if word is not None:
            first = _first_word(ink[y : y + h, x : x + w])
            if first is None:
                continue
            fx0, fy0, fx1, fy1 = first
            x, y, w, h = x + fx0, y + fy0, fx1 - fx0, fy1 - fy0
        if not (min_h <= h <= max_h and 1 <= w <= 3.4 * h + 4):
            continue
        if near is not None and not near[y : y + h, x : x + w].any():
            continue
        m = max(3, int(0.35 * h))
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w_img, x + w + m), min(h_img, y + h + m)
        ring = np.ones((y1 - y0, x1 - x0), dtype=bool)
        ring[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = False
        if not ring.any():
            continue
        if not _isolated(ink, (x, y, x + w, y + h), (x0, y0, x1, y1)):
            continue
        ring_gray = gray[y0:y1, x0:x1][ring]
        med = float(np.median(ring_gray))
        if faint:
            glyph = gray[y : y + h, x : x + w][ink[y : y + h, x : x + w]]
            if float(ring_gray.std()) > 30 or glyph.size == 0 or abs(float(np.median(glyph)) - med) < FAINT_STEP:
                continue
        else:
            plain = med >= 200 if polarity == "dark" else med <= 90  # black on white / white on black
            if not plain and not _mid_tone_label(gray, ink, (x, y, x + w, y + h), med, ring_gray):
                continue
        # uniform surroundings first (margins, label boxes), textured ones last
        out.append((float(ring_gray.std()), polarity, (x, y, x + w, y + h)))
    return out


MAX_LINES = 60  # text lines per polarity whose first word is a label candidate


def _first_word(line: np.ndarray) -> Box | None:
    """Tight box of the first word of a text line's ink (up to the first gap of >= 30 % of the line's height), when
    it is short enough to be a label ("(a)" opening "(a) mode=plain") and the line goes on after it."""
    h = line.shape[0]
    occupied: np.ndarray = np.asarray(line.any(axis=0))
    gap = max(2, int(np.ceil(0.3 * h)))
    for s, e in _runs(~occupied):
        if e - s >= gap and e < len(occupied):
            if s > 3.4 * h + 4 or s < 0.25 * h:
                return None
            rows = np.flatnonzero(line[:, :s].any(axis=1))
            return (0, int(rows[0]), s, int(rows[-1]) + 1)
    return None


def _mid_tone_label(gray: np.ndarray, ink: np.ndarray, box: Box, med: float, ring_gray: np.ndarray) -> bool:
    """A label printed on a mid-grey picture (a time-lapse frame, a grey micrograph): light glyphs on a surrounding
    of median <= 160, or dark ones on a median >= 110, that stand >= 80 grey levels from a fairly plain ring (spread
    <= 30); such a blob is a candidate although its ring is not black (white)."""
    if float(ring_gray.std()) > 30:
        return False
    x0, y0, x1, y1 = box
    glyph = gray[y0:y1, x0:x1][ink[y0:y1, x0:x1]]
    if glyph.size == 0:
        return False
    g = float(np.median(glyph))
    return (med <= 160 and g >= med + 80) if g > med else (med >= 110 and g <= med - 80)


# Label prior: which blobs to read first. A logistic regression over cheap shape features of each blob, trained by
# ``python -m training.train_label_prior`` on the dev real figures and synthetic dev figures (docs/figures.md); it
# orders the OCR reads so that :func:`read_candidates` can stop once the labels it needs are found.
PRIOR_FEATURES = (
    "dark",  # dark ink on a light background (margins)
    "contrast",  # grey-level spread of the blob and its ring, / 64
    "fill",  # share of the blob's box that is ink
    "height_rel",  # height / median blob height of the figure
    "aspect",  # width / height
    "row_mates",  # blobs of about the same height on the same line within 8 heights (tick labels, words), max 4
    "col_mates",  # the same stacked in a column (y-axis tick labels), max 4
    "stroke",  # mean horizontal ink run / height
    "size_off",  # |log(height_rel)|
    "wide",  # aspect > 2.2
)
PRIOR_WEIGHTS = (0.08, 8.16, -0.88, -0.04, -0.24, -2.54, -1.27, -3.55, -2.66, -2.01)
PRIOR_BIAS = -7.77
MAX_READS = 72  # free blobs read at most per figure (best prior first)


def prior_features(gray: np.ndarray, boxes: Sequence[tuple[str, Box]], tones: Tones | None = None) -> np.ndarray:
    """(n, len(PRIOR_FEATURES)) features of label candidates (see ``PRIOR_FEATURES``); ``tones``: the image of each
    polarity to measure them in (the luminance when not given)."""
    n = len(boxes)
    out = np.zeros((n, len(PRIOR_FEATURES)), dtype=np.float64)
    if n == 0:
        return out
    b = np.asarray([box for _, box in boxes], dtype=np.float64)
    hs = b[:, 3] - b[:, 1]
    cy, cx = (b[:, 1] + b[:, 3]) / 2, (b[:, 0] + b[:, 2]) / 2
    mh = float(np.median(hs)) or 1.0
    for k, (pol, box) in enumerate(boxes):
        x0, y0, x1, y1 = box
        h, w = y1 - y0, x1 - x0
        g = tones[pol] if tones else gray
        sub = g[y0:y1, x0:x1]
        ink = sub < _INK_DARK if pol == "dark" else sub > _INK_LIGHT
        sim = np.abs(hs - h) <= 0.3 * h
        row = int(np.sum(sim & (np.abs(cy - cy[k]) <= 0.5 * h) & (np.abs(cx - cx[k]) <= 8 * h))) - 1
        col = int(np.sum(sim & (np.abs(cx - cx[k]) <= 0.7 * h) & (np.abs(cy - cy[k]) <= 8 * h))) - 1
        m = max(3, int(0.35 * h))
        ring = g[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m]
        starts = int(ink[:, 0].sum()) + int((ink[:, 1:] & ~ink[:, :-1]).sum())
        stroke = float(ink.sum()) / max(1, starts) / h if starts else 0.0
        rel = h / mh
        out[k] = (
            pol == "dark",
            float(ring.std()) / 64,
            float(ink.mean()),
            rel,
            w / h,
            min(row, 4),
            min(col, 4),
            stroke,
            abs(np.log(max(rel, 1e-3))),
            w / h > 2.2,
        )
    return out


def label_prior(gray: np.ndarray, boxes: Sequence[tuple[str, Box]]) -> np.ndarray:
    """Log-odds that each candidate blob is a panel label (:data:`PRIOR_WEIGHTS` over :func:`prior_features`)."""
    return np.asarray(prior_features(gray, boxes) @ np.asarray(PRIOR_WEIGHTS) + PRIOR_BIAS)


def _count_stems(gray: np.ndarray, box: Box, polarity: str, text: str = "") -> str | None:
    """ "i", "ii" or "iii" from the number of tall vertical strokes in the box (parentheses are curved and short
    in the middle rows, so only rows around the middle are used)."""
    x0, y0, x1, y1 = box
    sub = gray[y0:y1, x0:x1]
    ink = sub < _INK_DARK if polarity == "dark" else sub > _INK_LIGHT
    h = ink.shape[0]
    band = ink[int(0.45 * h) : max(int(0.45 * h) + 1, int(0.8 * h))]
    cols: np.ndarray = np.asarray(band.all(axis=0)) if band.size else np.zeros(0, dtype=bool)
    runs = _runs(cols)
    # a parenthesis also gives a run in the middle band
    if text.startswith(("(", "[")) and runs and runs[0][0] == 0:
        runs = runs[1:]
    if text.endswith((")", "]")) and runs and runs[-1][1] == len(cols):
        runs = runs[:-1]
    n = len(runs)
    return "i" * n if 1 <= n <= 3 else None


def _isolated(ink: np.ndarray, box: Box, outer: Box) -> bool:
    """No ink around the blob, except on one side (a label just above or beside its picture)."""
    x, y, x1, y1 = box
    ox0, oy0, ox1, oy1 = outer
    sides = [
        ink[oy0:y, ox0:ox1],  # above
        ink[y1:oy1, ox0:ox1],  # below
        ink[y:y1, ox0:x],  # left
        ink[y:y1, x1:ox1],  # right
    ]
    fractions = [float(a.mean()) if a.size else 0.0 for a in sides]
    return sum(f > 0.03 for f in fractions) <= 1 and sum(fractions) <= 0.6


STRETCH = True  # session 11: OCR crops stretched to the full grey range (_crop_for_ocr)


def _crop_for_ocr(
    gray: np.ndarray, box: Box, polarity: str, unframe: bool = False, stretch: bool = False
) -> np.ndarray:
    """The box as dark glyphs on white, padded with white. ``stretch`` (the rescue reads, session 11): its grey
    levels are stretched to 0-255, so a faint, grey or anti-aliased thin label reads as black on white, as the
    recogniser knows text (stretching every crop changed reads of real dev labels: not done). ``unframe`` (free
    blobs): a label printed inside a circle or box (:func:`enclosed_glyphs` of the crop's ink, split at mid-grey) is
    read as its glyphs alone, black on white; the candidate keeps the frame's box (its place and height are the
    frame's, as its neighbours' are)."""
    x0, y0, x1, y1 = box
    pad = max(4, (y1 - y0) // 3)
    crop = gray[y0:y1, x0:x1]
    if polarity == "light":
        crop = 255 - crop
    if stretch and STRETCH and crop.size:
        lo, hi = int(crop.min()), int(crop.max())
        if hi - lo >= 24 and (lo > 0 or hi < 255):
            crop = ((crop.astype(np.float32) - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)
    if unframe and ENCLOSED and crop.size:
        inner = enclosed_glyphs(crop < 128)
        if inner is not None:
            _, _, glyph = inner
            crop = np.where(glyph, 0, 255).astype(np.uint8)
            pad = max(4, glyph.shape[0] // 3)
    crop = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)


def seams(gray: np.ndarray, box: Box, axis: str) -> list[int]:
    """Straight edges where two pictures touch without a gutter: positions (image coordinates, the first pixel of
    the second picture) along ``axis`` ("x": vertical seams) where the intensity steps by more than 18 gray levels
    on at least 60 % of the box's rows (columns), while 3 px to either side it does so on less than 25 %."""
    x0, y0, x1, y1 = box
    sub = gray[y0:y1, x0:x1].astype(np.int16)
    if axis == "y":
        sub = sub.T
    if sub.shape[1] < 16 or sub.shape[0] < 16:
        return []
    step = np.abs(np.diff(sub, axis=1)) > 18
    frac = step.mean(axis=0)  # per position between column k and k+1
    out = []
    n = len(frac)
    for k in np.flatnonzero(frac >= 0.6):
        if k < 8 or k > n - 9:
            continue  # the box's own border
        side = max(frac[max(0, k - 6) : k - 2].max(initial=0), frac[k + 3 : k + 7].max(initial=0))
        if side < 0.25 and frac[k] == frac[max(0, k - 1) : k + 2].max():
            out.append((x0 if axis == "x" else y0) + int(k) + 1)
    return out


def blocks(blank: np.ndarray, *, min_side: int = 24, depth: int = 6, gray: np.ndarray | None = None) -> list[Box]:
    """Leaf boxes of a whitespace XY-cut (pictures, plots, text blocks), used to look for labels in corners."""
    h, w = blank.shape
    out: list[Box] = []

    def rec(box: Box, level: int) -> None:
        x0, y0, x1, y1 = box
        sub = blank[y0:y1, x0:x1]
        ink = ~sub
        rows = np.flatnonzero(ink.any(axis=1))
        cols = np.flatnonzero(ink.any(axis=0))
        if len(rows) == 0:
            return
        x0, x1 = x0 + int(cols[0]), x0 + int(cols[-1]) + 1
        y0, y1 = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
        if level >= depth or (x1 - x0) < min_side or (y1 - y0) < min_side:
            out.append((x0, y0, x1, y1))
            return
        for axis in ("y", "x"):
            sub = blank[y0:y1, x0:x1]
            line: np.ndarray = np.asarray(sub.all(axis=1) if axis == "y" else sub.all(axis=0))
            runs = [(a, b) for a, b in _runs(line) if b - a >= 2]
            mids = [(a + b) // 2 for a, b in runs]
            if not mids and gray is not None:  # pictures that touch: cut along their seam
                off = y0 if axis == "y" else x0
                mids = [p - off for p in seams(gray, (x0, y0, x1, y1), axis)]
            if mids:
                cuts = [0] + mids + [len(line)]
                for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                    if axis == "y":
                        rec((x0, y0 + a, x1, y0 + b), level + 1)
                    else:
                        rec((x0 + a, y0, x0 + b, y1), level + 1)
                return
        out.append((x0, y0, x1, y1))

    rec((0, 0, w, h), 0)
    return out


Word = tuple[str, Box, np.ndarray]  # polarity, box, the glyphs alone (black on white, BGR, padded) for the OCR
Corner = tuple[str, Box, Box, str, list[Word]]  # polarity, crop, estimated label box, anchor, glyph words


def _corner_words(gray: np.ndarray, crop_box: Box, anchor: str) -> list[Word]:
    """Per polarity, the glyph group nearest the crop's corner (top-left, or bottom-left for ``anchor`` "bottom"):
    near-white (or near-black) components of glyph size, joined along a line; box in image pixels. A label printed
    on a picture is pure white or black, while the picture's own bright or dark pixels rarely form glyph-sized,
    solid, isolated shapes right at the corner. The word is read from its glyph pixels alone (black on white):
    the texture around a thin white label on a micrograph is what made the recogniser misread it."""
    x0, y0, x1, y1 = crop_box
    sub = gray[y0:y1, x0:x1]
    ch = sub.shape[0]
    out: list[Word] = []
    med = float(np.median(sub))
    lo, hi = float(np.percentile(sub, 0.5)), float(np.percentile(sub, 99.5))
    flip_of = {"light": "dark", "dark": "light"}
    for pol in ("light", "dark"):
        # ink well beyond the crop's median towards its extreme (labels are the picture's whitest or blackest)
        ink = (
            (sub >= max(150.0, med + 0.45 * (hi - med)))
            if pol == "light"
            else (sub <= min(105.0, med - 0.45 * (med - lo)))
        )
        if not ink.any() or ink.mean() > 0.5:
            continue
        n, lab, st, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
        glyphs = [
            (int(st[i, 0]), int(st[i, 1]), int(st[i, 2]), int(st[i, 3]), i)
            for i in range(1, n)
            if 5 <= st[i, 3] <= 0.9 * ch and st[i, 2] <= 1.6 * st[i, 3] + 2 and st[i, 4] >= 0.12 * st[i, 2] * st[i, 3]
        ]
        glyphs.sort()
        words: list[tuple[list[int], list[int]]] = []  # (box, component ids)
        for x, y, w, h, i in glyphs:
            for wd, ids in words:
                top, bot = max(wd[1], y), min(wd[3], y + h)
                if bot - top >= 0.5 * min(h, wd[3] - wd[1]) and x - wd[2] <= 0.8 * max(h, wd[3] - wd[1]):
                    wd[:] = [min(wd[0], x), min(wd[1], y), max(wd[2], x + w), max(wd[3], y + h)]
                    ids.append(i)
                    break
            else:
                words.append(([x, y, x + w, y + h], [i]))
        words = [(wd, ids) for wd, ids in words if wd[2] - wd[0] <= 4 * (wd[3] - wd[1])]
        if not words:
            continue
        tallest = max(wd[3] - wd[1] for wd, _ in words)
        words = [(wd, ids) for wd, ids in words if wd[3] - wd[1] >= 0.5 * tallest]  # specks beside the label out

        def dist(item: tuple[list[int], list[int]]) -> int:
            wd = item[0]
            return wd[0] + (ch - wd[3] if anchor == "bottom" else wd[1])

        (wx0, wy0, wx1, wy1), ids = min(words, key=dist)
        mask = np.isin(lab[wy0:wy1, wx0:wx1], ids)
        glyph = np.where(mask, 0, 255).astype(np.uint8)
        pad = max(4, (wy1 - wy0) // 3)
        framed = cv2.copyMakeBorder(glyph, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        out.append((pol, (x0 + wx0, y0 + wy0, x0 + wx1, y0 + wy1), cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR)))
        inner = enclosed_glyphs(mask) if ENCLOSED else None
        if inner is not None:  # a letter in a circle or box at the corner: its glyphs alone, as a further read
            flip, (ex0, ey0, ex1, ey1), emask = inner
            pad = max(4, (ey1 - ey0) // 3)
            framed = cv2.copyMakeBorder(
                np.where(emask, 0, 255).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255
            )
            ebox = (x0 + wx0 + ex0, y0 + wy0 + ey0, x0 + wx0 + ex1, y0 + wy0 + ey1)
            out.append((flip_of[pol] if flip else pol, ebox, cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR)))
    return out


def _corner_crops(gray: np.ndarray, blank: np.ndarray, leaves: list[Box] | None = None) -> list[Corner]:
    """(polarity, crop box, estimated label box, anchor, glyph words) for the top-left and bottom-left corners of
    every picture-like block (``leaves``: the figure's :func:`blocks`)."""
    out: list[Corner] = []
    size = max(1.0, min(gray.shape) / 700.0)  # labels grow with the figure
    for bx0, by0, bx1, by1 in blocks(blank, gray=gray) if leaves is None else leaves:
        bw, bh = bx1 - bx0, by1 - by0
        if bw < 48 or bh < 48 or blank[by0:by1, bx0:bx1].mean() > 0.15:
            continue  # plots and text have white space: their labels sit in the margins
        cw = min(bw, max(30, min(int(72 * size), int(0.2 * bw))))
        ch = min(bh, max(24, min(int(48 * size), int(0.15 * bh))))
        for cy0 in (by0, by1 - ch):  # labels printed on a picture sit at its top-left or bottom-left corner
            crop_box = (bx0, cy0, bx0 + cw, cy0 + ch)
            crop = gray[cy0 : cy0 + ch, bx0 : bx0 + cw].astype(np.float32)
            med = float(np.median(crop))
            polarity = "light" if med < 128 else "dark"
            extreme = crop >= np.percentile(crop, 96) if polarity == "light" else crop <= np.percentile(crop, 4)
            ys, xs = np.nonzero(extreme)
            if len(xs) == 0:
                continue
            est = (bx0 + int(np.percentile(xs, 2)), cy0 + int(np.percentile(ys, 2)))
            est_box = (est[0], est[1], bx0 + int(np.percentile(xs, 98)) + 1, cy0 + int(np.percentile(ys, 98)) + 1)
            anchor = "top" if cy0 == by0 else "bottom"
            out.append((polarity, crop_box, est_box, anchor, _corner_words(gray, crop_box, anchor)))
    return out


STAGED_READS = True  # False: read every candidate (the reference the staged reading is compared with)
FIRST_READS = 12  # free blobs in the first OCR batch (more when more labels are expected or the prior is sure)
MORE_READS = 16  # free blobs per further batch
GAP_BATCHES = 2  # without a caption: further batches read while the label run has a hole (session 9)


def _holes(run: Sequence[LabelCandidate], size: tuple[int, int] | None = None) -> set[str]:
    """The letters missing inside a run of plain letters ("a c d" -> {"b"}), and the next letter when the run's
    labels stand in a grid with an empty cell ("a", "b" over "c": the "d" beside "c" was not read yet) or in one row
    (column) that the figure continues past the last label by one more step ("a", "b" a plot apart, and room for a
    third plot on the right; ``size`` = the figure's (width, height))."""
    if not run or any(_family(c.key) != "letter" for c in run):
        return set()
    tol = max(4, int(0.6 * float(np.median([c.height for c in run]))))
    lined = [c for c in run if _alignment(c, run, tol) >= 1]  # a letter lining up with none is no sure label
    held = lined if len(lined) >= 2 else list(run)
    orders = sorted(_order(c.key) for c in held)
    last = max(_order(c.key) for c in run)
    out = {chr(ord("a") + k) for k in range(orders[0], last + 1) if k not in orders}
    if len(held) >= 3 and last < 25:
        rows = _clusters([c.box[1] for c in held], tol)
        cols = _clusters([c.box[0] for c in held], tol)
        if rows >= 2 and cols >= 2 and rows * cols > len(held) + len(out):
            out.add(chr(ord("a") + orders[-1] + 1))
    if size is not None and len(held) >= 2 and not out and last < 25:
        tol = max(4, int(0.6 * float(np.median([c.height for c in held]))))
        for axis in (0, 1):  # x: one row of labels, y: one column
            other = 1 - axis
            if _clusters([c.box[other] for c in held], tol) != 1:
                continue
            pos = sorted(c.box[axis] for c in held)
            steps = [b - a for a, b in zip(pos, pos[1:], strict=False)]
            step = float(np.median(steps))
            if step > 4 * tol and max(steps) <= 1.3 * min(steps) and size[axis] - pos[-1] >= 0.9 * step:
                out.add(chr(ord("a") + last + 1))
    return out


def _clusters(vals: Sequence[int], tol: int) -> int:
    """How many groups the values form (gaps > ``tol`` between sorted neighbours)."""
    s = sorted(vals)
    return 1 + sum(1 for a, b in zip(s, s[1:], strict=False) if b - a > tol)


def read_candidates(
    gray: np.ndarray,
    ocr: OcrBatch | None = None,
    blank: np.ndarray | None = None,
    expected: Sequence[str] | None = None,
    *,
    staged: bool = True,
    leaves: list[Box] | None = None,
    tones: Tones | None = None,
) -> list[LabelCandidate]:
    """Label-like texts of the figure (before choosing which of them are the panel labels).

    OCR is the cost of the split, so blobs are read in the order of :func:`label_prior`, in batches, and reading
    stops once the labels are in hand (``staged``): 1. the most label-like free blobs, 2. picture corners (two
    reads each: the corner crop and the tight box of its extreme pixels, in the corner's own polarity), 3. the
    other free blobs, 16 at a time, 4. corners whose reads gave no label, in the other polarity. With the
    caption's ``expected`` labels, reading stops when every one of them is read once, consistently (heights and
    rows/columns, :func:`_complete`); without a caption, after the corners, when a batch no longer lengthens the
    label sequence. ``staged=False`` reads everything (the reference for the cost/accuracy comparison).
    ``leaves``: the figure's :func:`blocks` when the caller has them already. ``tones``: :func:`label_tones` of
    the figure (free blobs are found and read in their polarity's image; corners in the luminance).
    """
    boxes, late = _find_candidates(gray)
    i_row, i_col = PRIOR_FEATURES.index("row_mates"), PRIOR_FEATURES.index("col_mates")
    mates: dict[Box, int] = {}
    parts: list[tuple[list[tuple[str, Box]], np.ndarray]] = []
    for group, cap in ((boxes, MAX_READS), (late, ABUT_MAX)):  # features apart, one reading order
        if not group:
            continue
        feats = prior_features(gray, group)
        score = np.asarray(feats @ np.asarray(PRIOR_WEIGHTS) + PRIOR_BIAS)  # = label_prior(gray, group)
        order = np.argsort(-score, kind="stable")[:cap]
        parts.append(([group[int(i)] for i in order], score[order]))
        mates |= {group[int(i)][1]: int(feats[int(i), i_row] + feats[int(i), i_col]) for i in order}
    merged = sorted(((float(s), b) for g, sc in parts for b, s in zip(g, sc, strict=True)), key=lambda t: -t[0])
    boxes = [b for _, b in merged]
    prior = np.asarray([s for s, _ in merged])
    n_first = len(boxes)
    if leaves is None:
        leaves = blocks(blank, gray=gray) if blank is not None else []
    corners: list[Corner] = []
    corners_done = False

    def all_corners() -> range:  # the picture corners, found only when they are to be read
        nonlocal corners_done
        if not corners_done and blank is not None:
            corners.extend(_corner_crops(gray, blank, leaves))
        corners_done = True
        return range(len(corners))

    nothing = not boxes and not all_corners()  # no blob in the luminance: only the rescue reading can see labels
    read = ocr or _rapidocr_batch
    flip = {"light": "dark", "dark": "light"}
    out: list[LabelCandidate] = []

    def add(polarity: str, box: Box, corner: bool, anchor: str, text: str, score: float) -> bool:
        text = ascii_text(text)
        key = label_key(text)
        if key is None and text in _CONFUSIONS and not corner:
            key = text  # kept as a digit; mapped to a letter only if the caption asks for it
        if key is None or score < (0.5 if corner else 0.3):
            return False
        if not corner and re.fullmatch(r"[\(\[]?[iIl1|]{1,4}[\)\]]?[.,]?", text) and not text.isdigit():
            # the recogniser often reads "iii" as "ii"; a bare "1" is a tick label, not a numeral "i"
            key = _count_stems(gray, box, polarity, text) or key
        if not corner and _in_word(box, leaves, blank):
            return False  # a letter of a word: a rotated axis title, the middle of a text line
        if not corner and _right_of_block(box, leaves):
            anchor = "right"
        n = 0 if corner else mates.get(box, 0)
        out.append(LabelCandidate(text, key, box, score, polarity, box[3] - box[1], corner, anchor, n))
        return True

    def read_free(part: Sequence[tuple[str, Box]]) -> None:
        reads = read([_crop_for_ocr(gray, b, p, unframe=True) for p, b in part])
        for (polarity, box), (text, score) in zip(part, reads, strict=True):
            add(polarity, box, False, "top", text, score)

    def read_rescue() -> None:
        """Coloured and faint blobs (:func:`rescue_candidates`), last: with a caption until its labels are
        complete; without one only the letters missing from the run's holes are kept."""
        if not RESCUE:
            return
        holes: set[str] = set()
        if want and _complete(out, want):
            return
        run_now: list[LabelCandidate] = []
        if not want:
            run_now = _sequence(_per_key([c for c in out if c.score >= 0.5]))
            holes = _holes(run_now, (gray.shape[1], gray.shape[0]))
            if not holes and RESCUE_OPEN and len(run_now) < 2:
                holes = {chr(97 + k) for k in range(26)}  # no run at all: any letter, kept only as one of a set
            if not holes:
                return
        # blobs the first passes saw but did not read as labels (a coloured letter's darkest fragment) are read again
        part = rescue_candidates(gray, tones, [c.box for c in out])
        if not part:
            return
        lum = {"dark": gray, "light": gray}
        imgs = {"tone": tones or lum, "gray": lum}
        score = label_prior(gray, [(p, b) for _, p, b in part])  # reading order among them only
        part = [part[int(i)] for i in np.argsort(-score, kind="stable")[:RESCUE_MAX]]
        n_before = len(out)
        for start in range(0, len(part), RESCUE_READS):
            chunk = part[start : start + RESCUE_READS]
            n0 = len(out)
            reads = read([_crop_for_ocr(imgs[src][p], b, p, unframe=True, stretch=True) for src, p, b in chunk])
            for (_, polarity, box), (text, sc) in zip(chunk, reads, strict=True):
                add(polarity, box, False, "top", text, sc)
            keep = holes or set(want)
            out[n0:] = [c for c in out[n0:] if c.key in keep]
            if want and _complete(out, want):
                break
        # a rescued letter is kept only as one of a set: in line (row or column, a panel apart) with a label-like
        # read of another letter and of its size (a texture or a coin read as the missing "b" stands alone)
        named = set(want) or {c.key for c in run_now} | holes  # the letters sought: the caption's, or the run's
        sure = [c for c in out if c.score >= 0.5 and c.key in named]
        tol = lambda c: max(4, int(0.6 * c.height))  # noqa: E731
        out[n_before:] = [c for c in out[n_before:] if _alignment(c, sure, tol(c), sized=True) >= 1]

    def read_corners(ks: Sequence[int], second: bool) -> list[int]:
        """Read corners ``ks``; the corners that gave no label-like read. First reads: the glyph words of the
        corner (:func:`_corner_words`, the glyphs alone) and the padded box of its extreme pixels; second reads:
        the whole corner crop in both polarities."""
        variants: list[list[tuple[str, Box, np.ndarray]]] = []
        for k in ks:
            p, c, e, _, words = corners[k]
            if second:
                variants.append([(q, c, _crop_for_ocr(gray, c, q)) for q in (p, flip[p])])
                continue
            pad = max(2, (e[3] - e[1]) // 4)
            tight = (max(c[0], e[0] - pad), max(c[1], e[1] - pad), min(c[2], e[2] + pad), min(c[3], e[3] + pad))
            variants.append(list(words) + [(p, e, _crop_for_ocr(gray, tight, p))])
        flat = [v for vs in variants for v in vs]
        reads = read([img for _, _, img in flat]) if flat else []
        missed = []
        at = 0
        for vs, k in zip(variants, ks, strict=True):
            options = reads[at : at + len(vs)]
            at += len(vs)
            best = max(range(len(vs)), key=lambda v: (label_key(ascii_text(options[v][0])) is not None, options[v][1]))
            pol, box, _ = vs[best]
            if second:
                box = next((wb for q, wb, _ in corners[k][4] if q == pol), corners[k][2])
            if not add(pol, box, True, corners[k][3], *options[best]):
                missed.append(k)
        return missed

    want = [w.lower() for w in expected] if expected else []
    if nothing:
        read_rescue()
        return out
    if not staged:
        read_free(boxes)
        missed = read_corners(all_corners(), False)
        read_corners(missed, True)
        read_rescue()
        return out
    n_sure = int((prior[:n_first] > 0).sum())
    first = min(len(boxes), max(FIRST_READS, len(want) + 4, n_sure))
    read_free(boxes[:first])
    if want and _complete(out, want):
        return out
    missed = read_corners(all_corners(), False)
    if want and _complete(out, want):
        return out
    run = _sequence(_per_key([c for c in out if c.score >= 0.5])) if not want else []
    seq, stale = len(run), 0
    size = (gray.shape[1], gray.shape[0])
    for start in range(first, len(boxes), MORE_READS):
        n0 = len(out)
        read_free(boxes[start : start + MORE_READS])
        if want:
            if _complete(out, want):
                return out
            continue
        if stale:
            # reading on for a hole in the run: only the missing letters are kept (every other read of these batches,
            # words and ticks, would pull the label-height median down and drop the real labels as outliers)
            holes = _holes(run, size)
            out[n0:] = [c for c in out[n0:] if c.key in holes]
        now = _sequence(_per_key([c for c in out if c.score >= 0.5]))
        if len(now) <= seq:
            # a run with a hole ("a c d e g h": b and f printed beside text that lowers their prior) is read on for
            # GAP_BATCHES more batches before giving up; a run without one stops at once
            stale += 1
            if stale > (GAP_BATCHES if _holes(run, size) else 0):
                break
            continue
        run, seq, stale = now, len(now), 0
    read_corners(missed, True)
    read_rescue()
    return out


def _in_word(box: Box, leaves: Sequence[Box], blank: np.ndarray | None) -> bool:
    """The blob is a letter inside a rotated word (a y-axis title read glyph by glyph; labels are never printed
    rotated): the leaf block holding it is a vertical line at least three times as tall as the blob, no wider
    than 1.6 times it, and the word's ink goes on within one glyph height above and below the blob. Labels
    stacked in a margin column (a panel apart) and a label over a y-axis title (at the line's top) stay."""
    if blank is None:
        return False
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for bx0, by0, bx1, by1 in leaves:
        if bx0 <= cx < bx1 and by0 <= cy < by1:
            if by1 - by0 < 3 * h or bx1 - bx0 > 1.6 * max(w, h):
                return False
            above = blank[max(by0, y0 - h) : y0 - 2, bx0:bx1]  # 2 px off the blob: its box may miss an edge row
            below = blank[y1 + 2 : min(by1, y1 + h), bx0:bx1]
            return bool(above.size and below.size and (~above).any() and (~below).any())
    return False


def _right_of_block(box: Box, leaves: Sequence[Box]) -> bool:
    """A label printed at the top-right of its picture or plot frame ("(g)" inside a spectrum's frame): the blob
    lies in the top 30 % of the leaf block holding it, beyond 60 % of its width and near its right edge."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for bx0, by0, bx1, by1 in leaves:
        if bx0 <= cx < bx1 and by0 <= cy < by1:
            bw, bh = bx1 - bx0, by1 - by0
            h = box[3] - box[1]
            if bw < 6 * h or bh < 4 * h:
                return False  # the label's own block, or a small one
            near = bx1 - box[2] <= max(3 * h, 0.15 * bw)
            return box[0] - bx0 >= 0.6 * bw and near and box[1] - by0 <= 0.3 * bh
    return False


def _complete(cands: Sequence[LabelCandidate], want: Sequence[str]) -> bool:
    """Every expected label read at least once (digits the recogniser confuses count for their letter), and the
    best read of each key has a plausible height (0.55–1.8 × the median) and lines up with another label's row or
    column (or was read clearly, dark on a plain margin), and the reads run in reading order
    (:func:`_reading_order`): then reading more blobs cannot change the choice much."""
    best: dict[str, LabelCandidate] = {}
    for c in cands:
        key = _CONFUSIONS.get(c.key, c.key) if c.key not in want and not c.mates else c.key
        if key in want and c.score >= 0.5 and (key not in best or c.score > best[key].score):
            best[key] = c if key == c.key else replace(c, key=key)
    if len(best) < len(set(want)):
        return False
    chosen = list(best.values())
    hs = [c.height for c in chosen if not c.corner]
    mh = float(np.median(hs)) if hs else 0.0
    tol = max(4, int(0.6 * mh))
    for c in chosen:
        if mh and not c.corner and not 0.55 * mh <= c.height <= 1.8 * mh:
            return False
        sure = c.polarity == "dark" and not c.corner and c.score >= 0.9  # read clearly in a margin
        if len(chosen) > 1 and not sure and _alignment(c, chosen, tol) < 1:
            return False
    return len(_reading_order(chosen, [])) == len(chosen)  # a read out of reading order: read on for the real one


# ----------------------------------------------------------------------------------------------------------------
# Choosing the labels


def _family(key: str) -> str:
    if re.fullmatch(r"[a-z]\d+", key):
        return "letter+number"
    if key in _ROMAN and len(key) > 1:
        return "roman"
    return "letter"


def _order(key: str) -> int:
    if re.fullmatch(r"[a-z]\d+", key):
        return (ord(key[0]) - 97) * 100 + int(key[1:])
    if key in _ROMAN and len(key) > 1:
        return _ROMAN.index(key)
    return ord(key[0]) - 97


def _case_of(c: LabelCandidate) -> str | None:
    letters = [ch for ch in c.text if ch.isalpha()]
    if not letters or letters[0].lower() in _CASELESS:
        return None
    return "upper" if letters[0].isupper() else "lower"


def _alignment(c: LabelCandidate, others: Sequence[LabelCandidate], tol: int, sized: bool = False) -> int:
    """How many other keys' candidates share ``c``'s column (left edge) or row (top edge) at a distance: panel
    labels of a grid lie a panel apart. Letters closer than 2.5 label heights along the shared line are one word
    (a rotated axis title read letter by letter, "E", "A", "L" stacked in a column), not a row of labels."""
    n = 0
    for o in others:
        if o is c or o.key == c.key:
            continue
        if sized and not 0.6 <= o.height / max(1, c.height) <= 1.67:
            continue  # ``sized``: the labels of one set have one size (a 6-px "a" is not in line with a 13-px "b")
        far = 2.5 * max(c.height, o.height)
        if abs(o.box[0] - c.box[0]) <= tol and abs(o.cy - c.cy) > far:
            n += 1
        elif abs(o.box[1] - c.box[1]) <= tol and abs(o.cx - c.cx) > far:
            n += 1
    return n


def _prior(c: LabelCandidate, median_h: float) -> float:
    """How much a candidate looks like a panel label on its own (before alignment)."""
    s = c.score
    s += 0.6 if (c.polarity == "dark" or c.corner) else 0.0  # in the margins, or at a picture's corner
    if median_h > 0 and not c.corner:  # a corner read's box is only an estimate
        s -= min(1.0, abs(c.height - median_h) / median_h)
    return s


def _per_key(pool: Sequence[LabelCandidate]) -> list[LabelCandidate]:
    """One candidate per key: the best prior plus alignment with the other keys' candidates; size outliers out."""
    if not pool:
        return []

    def med(cs: Sequence[LabelCandidate]) -> float:
        hs = [c.height for c in cs if not c.corner]
        return float(np.median(hs)) if hs else 0.0

    median_h = med(pool)
    tol = max(4, int(0.6 * median_h))
    best: dict[str, LabelCandidate] = {}
    for _ in range(2):  # second pass: align against the chosen set only
        ref = list(best.values()) if best else list(pool)
        chosen: dict[str, tuple[float, LabelCandidate]] = {}
        for c in pool:
            s = _prior(c, median_h) + 0.5 * min(4, _alignment(c, ref, tol, sized=True))
            if c.key not in chosen or s > chosen[c.key][0]:
                chosen[c.key] = (s, c)
        best = {k: v[1] for k, v in chosen.items()}
        median_h = med(list(best.values())) or median_h
    # size outliers are not labels (axis letters, sample names in another font); the size is that of the keys that
    # line up with another key when two or more do (session 9: small letters read inside a picture, "N", "D", had
    # pulled the median under a margin label "B" that lines up with the corner label "A", and "B" went out)
    keys = list(best.values())
    lined = [c.height for c in keys if _alignment(c, keys, tol) >= 1]
    if len(lined) >= 2:
        median_h = float(np.median(lined))
    return [c for c in keys if c.corner or not median_h or 0.55 * median_h <= c.height <= 1.8 * median_h]


def choose_labels(
    candidates: Sequence[LabelCandidate],
    expected: Sequence[str] | None,
    explain: list[str],
    leaves: Sequence[Box] | None = None,
    blank: np.ndarray | None = None,
) -> list[LabelCandidate]:
    """Pick one candidate per panel label (see the module docstring); ``leaves``: the figure's picture blocks
    (:func:`blocks`), to tell a letter inside another label's picture from a label of its own; ``blank``: the
    background mask, to tell pictures from plots (:func:`_interior_out`)."""
    if not candidates:
        return []
    if INTERIOR_OUT and leaves and blank is not None:
        candidates = _interior_out(candidates, leaves, blank, explain)
    if expected:
        want = [e.lower() for e in expected]
        pool: list[LabelCandidate] = []
        for c in candidates:
            key = c.key
            if key not in want and key in _CONFUSIONS and _CONFUSIONS[key] in want and not c.mates:
                key = _CONFUSIONS[key]  # a lone digit ("6" for "b"); one in a run of same-height blobs is a tick
            if key in want:
                pool.append(replace(c, key=key))
        explain.append(f"caption labels {want}: {len(pool)} candidate(s) read in the image")
        picked = _by_case(pool, explain, leaves)
        picked += _missing_from_caption(candidates, picked, explain, want)
    else:
        picked = []
        best_score = -1.0
        for case in ("lower", "upper"):
            pool = [
                c for c in candidates if c.key not in _CONFUSIONS and c.score >= 0.5 and _case_of(c) in (None, case)
            ]
            run = _reading_order(_unaligned_out(_sequence(_per_key(pool)), explain, leaves), explain)
            # the filters can drop the run's first letters ("a" read inside a plot's axis title, out of reading
            # order): what is left must still start the sequence ("c", "d" alone are letters of words)
            if run and min(_order(c.key[0]) if _family(c.key) == "letter+number" else _order(c.key) for c in run) > 1:
                explain.append("the run no longer starts at its first letter: " + ", ".join(c.key for c in run))
                run = []
            score = len(run) + 0.01 * sum(c.score for c in run)
            if len(run) >= 2 and score > best_score:
                picked, best_score = run, score
        if not picked:
            explain.append("no label sequence found: one panel")
        else:
            picked += _stroke_letter(candidates, picked, explain)
    picked = _repeated_rows(candidates, picked, explain)
    picked.sort(key=lambda c: (c.box[1], c.box[0]))
    explain.append("labels: " + ", ".join(f"{c.key}@{c.box[0]},{c.box[1]}" for c in picked))
    return picked


CORNERS_WITH_CAPTION = True  # session 10: a lone caption label off the figure's corner is dropped (analyse)
INTERIOR_OUT = True  # session 10: letters read in a picture's interior are markers, not labels (_interior_out)
INTERIOR_SHARE = 0.2  # "interior": farther than this share of the picture's side (and 2 label heights) from each edge
PICTURE_FILL = 0.5  # a leaf block is a picture when at most this share of it is background (plots are mostly blank)


def _interior(c: LabelCandidate, leaves: Sequence[Box], blank: np.ndarray) -> bool:
    """``c`` is a free read in the interior of a picture: a leaf block at least 6 label heights on each side, mostly
    non-background (a micrograph or photo, not a plot), holding ``c`` farther than ``INTERIOR_SHARE`` of its side
    and two label heights from each of its four edges."""
    if c.corner:
        return False
    h = max(1, c.height)
    for b in leaves:
        bw, bh = b[2] - b[0], b[3] - b[1]
        if bw < 6 * h or bh < 6 * h or not (b[0] <= c.cx < b[2] and b[1] <= c.cy < b[3]):
            continue
        if float(blank[b[1] : b[3], b[0] : b[2]].mean()) > PICTURE_FILL:
            continue
        mx, my = max(INTERIOR_SHARE * bw, 2 * h), max(INTERIOR_SHARE * bh, 2 * h)
        if c.box[0] - b[0] > mx and b[2] - c.box[2] > mx and c.box[1] - b[1] > my and b[3] - c.box[3] > my:
            return True
    return False


def _interior_out(
    candidates: Sequence[LabelCandidate], leaves: Sequence[Box], blank: np.ndarray, explain: list[str]
) -> list[LabelCandidate]:
    """Letters printed in the interior of a picture (region markers "A", "B"; a feature letter beside an arrow; an
    element symbol on a map) are not panel labels: panel labels sit at a picture's edge or corner, in a margin,
    or over or under a plot. One is kept when it lines up (row or column, similar size) with a label-like read of
    another key outside every picture's interior (the labels of a no-gutter strip that a missed seam left in one
    block)."""
    inner = [c for c in candidates if _interior(c, leaves, blank)]
    if not inner:
        return list(candidates)
    outer = [c for c in candidates if c.score >= 0.5 and all(c is not i for i in inner)]
    hs = [c.height for c in outer if not c.corner]
    tol = max(4, int(0.6 * float(np.median(hs)))) if hs else 4
    drop = [c for c in inner if _alignment(c, outer, tol, sized=True) == 0]
    if not drop:
        return list(candidates)
    explain.append(
        "inside a picture, no label: " + ", ".join(f"{c.key}@{c.box[0]},{c.box[1]}" for c in drop if c.score >= 0.5)
    )
    return [c for c in candidates if all(c is not d for d in drop)]


_STROKES = {"1", "l", "i", "|", "I", "!"}  # what OCR makes of a lone vertical stroke ("I", "l")


def _stroke_letter(
    candidates: Sequence[LabelCandidate], picked: list[LabelCandidate], explain: list[str]
) -> list[LabelCandidate]:
    """Without a caption: a lone vertical stroke is "I" in an upper-case run and "l" in a lower-case one, and OCR
    reads it as "1", "l", "I" or "|" at random. When the run's next letter (or a hole in it) is that letter, a
    stroke read that lines up with two of the run's labels and has their height takes the slot ("A"-"H" then a "1"
    level with "G" and "H": the "I" of a 3x3 grid)."""
    if len(picked) < 3 or any(_family(c.key) != "letter" for c in picked):
        return []
    cases = {_case_of(c) for c in picked} - {None}
    if len(cases) != 1:
        return []
    key = "i" if cases == {"upper"} else "l"
    orders = sorted(_order(c.key) for c in picked)
    k = _order(key)
    median_h = float(np.median([c.height for c in picked]))
    tol = max(4, int(0.6 * median_h))
    held = [c for c in picked if c.key == key]
    if held and _alignment(held[0], picked, tol) >= 2:
        return []  # the slot is taken by a read that lines up with the run
    if not (orders[0] < k <= orders[-1] + 1):
        return []
    best: LabelCandidate | None = None
    for c in candidates:
        if c.text.strip("()[].,:") not in _STROKES or c.score < 0.5 or any(c is h for h in held):
            continue
        if not (0.8 * median_h <= c.height <= 1.25 * median_h) or _alignment(c, picked, tol) < 2:
            continue
        if best is None or c.score > best.score:
            best = c
    if best is None:
        return []
    explain.append(f"a lone stroke read as {best.text!r} is {key}: {best.box[0]},{best.box[1]}")
    for h in held:  # an "i" read elsewhere (inside a plot) that lines up with nothing gives the slot up
        picked.remove(h)
    return [replace(best, key=key)]


def _by_case(
    pool: Sequence[LabelCandidate], explain: list[str], leaves: Sequence[Box] | None = None
) -> list[LabelCandidate]:
    """The caption's labels are printed in one case: the case whose reads give the larger consistent label set
    (one read per key, aligned, in reading order) wins, ties to the surer reads. Counting reads instead lets a
    picture's texture win: a strip's grain read as a dozen "I"/"D" blobs outvoted the five "a)"…"e)" printed in
    its frames. Caseless letters ("c", "o", "s") join either case."""
    cases = {cs for cs in (_case_of(c) for c in pool) if cs}
    if len(cases) < 2:
        return _reading_order(_unaligned_out(_per_key(pool), explain, leaves), explain)
    best: tuple[float, list[LabelCandidate], list[str]] | None = None
    for case in ("lower", "upper"):
        notes: list[str] = []
        sub = [c for c in pool if _case_of(c) in (None, case)]
        run = _reading_order(_unaligned_out(_per_key(sub), notes, leaves), notes)
        score = sum(1.0 for c in run if _case_of(c) == case) + 0.5 * sum(1.0 for c in run if _case_of(c) is None)
        score += 0.01 * sum(c.score for c in run)
        if best is None or score > best[0]:
            best = (score, run, [f"{case} case: {len(run)} label(s)", *notes])
    assert best is not None
    explain.extend(best[2])
    return best[1]


def _reading_order(picked: list[LabelCandidate], explain: list[str]) -> list[LabelCandidate]:
    """Panel labels run in reading order: a later letter never lies above an earlier one unless it also lies to its
    right, nor left of it unless it also lies below it (row-major, column-major and nested layouts all keep this).
    Labels that break the order (a letter of a rotated axis title, a tick read as "I" between two rows of labels)
    are dropped, the one in most conflicts first; on a tie the one that looks less like a label (prior and
    alignment with the others, as in :func:`_per_key`)."""
    if len(picked) < 2:
        return picked
    hs = [c.height for c in picked if not c.corner] or [c.height for c in picked]
    median_h = float(np.median(hs))
    tol = max(4.0, 0.6 * median_h)

    def conflict(p: LabelCandidate, q: LabelCandidate) -> bool:  # p comes before q in letter order
        dx, dy = q.box[0] - p.box[0], q.box[1] - p.box[1]
        return (dy < -tol and dx <= tol) or (dx < -tol and dy <= tol)

    keep = list(picked)
    dropped: list[LabelCandidate] = []
    while True:
        counts = [0] * len(keep)
        for i in range(len(keep)):
            for j in range(i + 1, len(keep)):
                a, b = keep[i], keep[j]
                if _family(a.key) == _family(b.key) and _order(a.key) < _order(b.key) and conflict(a, b):
                    counts[i] += 1
                    counts[j] += 1
        if not any(counts):
            break
        worst = max(
            range(len(keep)),
            key=lambda i: (counts[i], -_prior(keep[i], median_h) - 0.5 * min(4, _alignment(keep[i], keep, int(tol)))),
        )
        dropped.append(keep.pop(worst))
    if dropped:
        explain.append("out of reading order, dropped: " + ", ".join(f"{c.key}@{c.box[0]},{c.box[1]}" for c in dropped))
    return [c for c in picked if any(c is k for k in keep)]


def _inside_other(c: LabelCandidate, picked: Sequence[LabelCandidate], leaves: Sequence[Box]) -> bool:
    """``c`` lies inside a picture or plot (a leaf block) that another picked label owns (sits at its top-left,
    over or under it, :func:`_owns`) and not at that block's top-left itself: a letter inside someone else's panel
    (a marker, an inset letter, a word of a plot), not the label of a panel of its own."""
    for b in leaves:
        if not (b[0] <= c.cx < b[2] and b[1] <= c.cy < b[3]) or _owns(c, b):
            continue
        if any(o is not c and o.key != c.key and _owns(o, b) for o in picked):
            return True
    return False


def _unaligned_out(
    picked: list[LabelCandidate], explain: list[str], leaves: Sequence[Box] | None = None
) -> list[LabelCandidate]:
    """Among four or more labels whose others form a grid (two or more rows and columns), a free read that lines up
    with no other label's row or column is a misread (a letter inside a plot, "e" of a scatter's marker) standing in
    for a label the reader missed: it is dropped rather than given a region (labels of a grid share rows and
    columns; a corner read's box is only an estimate and is kept). The label of a wide panel above (below) all the
    others, or between two rows (every earlier letter above it, every later one below, none left of it), is kept:
    it lines up with no other label by its nature, unless it lies inside a picture another label owns (``leaves``,
    :func:`_inside_other`). When the others form a single row or column, an unaligned read is dropped only when
    it lies inside another label's picture ("E" read inside plot b of a row of four plots)."""
    if len(picked) < 4:
        return picked
    hs = [c.height for c in picked if not c.corner]
    tol = max(4, int(0.6 * float(np.median(hs)))) if hs else 4

    def inside(c: LabelCandidate) -> bool:
        return bool(leaves) and _inside_other(c, picked, leaves or ())

    def wide(c: LabelCandidate) -> bool:
        """The label of a panel as wide as the figure: every earlier letter above it and every later one below it
        (the first letter over a grid, the last under it, or a wide panel between two rows, then at or left of
        every other label), and not inside another label's picture."""
        k = _order(c.key)
        others = [o for o in picked if o is not c and _family(o.key) == _family(c.key)]
        earlier = [o for o in others if _order(o.key) < k]
        later = [o for o in others if _order(o.key) > k]
        if not all(o.box[3] <= c.box[1] for o in earlier) or not all(o.box[1] >= c.box[3] for o in later):
            return False
        # between two rows, a wide panel's label starts the figure's width: at or left of every other label
        between = bool(earlier) and bool(later)
        return not inside(c) and (not between or c.box[0] <= min(o.box[0] for o in others) + tol)

    off = [c for c in picked if not c.corner and _alignment(c, picked, tol) == 0 and not wide(c)]
    if not off or len(off) > len(picked) // 4:
        return picked
    rest = [c for c in picked if all(c is not o for o in off)]

    def lines(vals: list[int]) -> int:
        vals = sorted(vals)
        return 1 + sum(b - a > tol for a, b in zip(vals[:-1], vals[1:], strict=False))

    if lines([c.box[0] for c in rest]) < 2 or lines([c.box[1] for c in rest]) < 2:
        # the others form one row or column: a label alone in its own row (a wide panel) is kept, one inside
        # another label's picture is not
        off = [c for c in off if inside(c)]
        if not off:
            return picked
    explain.append("lines up with no other label, dropped: " + ", ".join(f"{c.key}@{c.box[0]},{c.box[1]}" for c in off))
    return [c for c in picked if all(c is not o for o in off)]


def _repeated_rows(
    candidates: Sequence[LabelCandidate], picked: list[LabelCandidate], explain: list[str]
) -> list[LabelCandidate]:
    """Series printed as rows that repeat the same labels ("a) b) c) d)" under each of three headings): when two or
    more rows of label candidates each run in label order left to right and their columns line up with the same
    keys, every row's labels are kept (one panel per printed label, several panels per key)."""
    if len(picked) < 2:
        return picked
    keys = {c.key for c in picked}
    h = float(np.median([c.height for c in picked]))
    tol = max(4.0, 0.6 * h)
    pool = [c for c in candidates if c.key in keys and c.score >= 0.5 and (c.corner or 0.55 * h <= c.height <= 1.8 * h)]
    pool = list({id(c): c for c in list(picked) + pool}.values())
    rows: list[list[LabelCandidate]] = []
    for c in sorted(pool, key=lambda c: c.cy):
        if rows and abs(rows[-1][-1].cy - c.cy) <= tol:
            rows[-1].append(c)
        else:
            rows.append([c])
    ordered: list[list[LabelCandidate]] = []
    for row in rows:
        best: dict[str, LabelCandidate] = {}
        for c in row:
            if c.key not in best or c.score > best[c.key].score:
                best[c.key] = c
        run = sorted(best.values(), key=lambda c: c.cx)
        if len(run) >= 2 and all(_order(a.key) < _order(b.key) for a, b in zip(run[:-1], run[1:], strict=False)):
            ordered.append(run)
    if len(ordered) < 2:
        return picked
    ref = max(ordered, key=len)
    ref_x = {c.key: c.cx for c in ref}
    good = [r for r in ordered if all(c.key in ref_x and abs(c.cx - ref_x[c.key]) <= 3 * h for c in r)]
    if len(good) < 2 or sum(len(r) for r in good) <= len(picked):
        return picked
    explain.append(f"{len(good)} rows repeat the labels {sorted(ref_x)}: one panel per printed label")
    return [c for r in good for c in r]


def _missing_from_caption(
    candidates: Sequence[LabelCandidate], picked: list[LabelCandidate], explain: list[str], want: Sequence[str] = ()
) -> list[LabelCandidate]:
    """Labels the image shows but the caption's parse missed ("v" between "iv" and "vi"): kept when they fill a
    gap in the picked sequence, inside the caption's own range (a letter past the caption's last label, "i" after
    "(a-h)", is a letter of a picture or a heading), sit in a margin or a picture corner, and line up with it."""
    if len(picked) < 2:
        return []
    fam = _family(picked[0].key)
    orders = sorted(_order(c.key) for c in picked if _family(c.key) == fam)
    last = max([_order(w) for w in want if _family(w) == fam] + orders)
    have = {c.key for c in picked}
    median_h = float(np.median([c.height for c in picked]))
    tol = max(4, int(0.6 * median_h))
    extra: dict[str, LabelCandidate] = {}
    for c in candidates:
        if c.key in have or c.key in want or c.key in _CONFUSIONS or _family(c.key) != fam or c.score < 0.6:
            continue
        k = _order(c.key)
        if not (orders[0] < k < last) or not (c.polarity == "dark" or c.corner):
            continue
        if _alignment(c, picked, tol) < 1 or not (0.5 * median_h <= c.height <= 1.8 * median_h):
            continue
        if c.key not in extra or c.score > extra[c.key].score:
            extra[c.key] = c
    if extra:
        explain.append(f"labels read in the image but not in the caption: {sorted(extra)}")
    return list(extra.values())


RUN_SKIPS_DIGITS = True  # session 9: a digit read (kept for the caption's confusions) does not end the run measure


def _sequence(picked: list[LabelCandidate]) -> list[LabelCandidate]:
    """Without a caption: the family that starts at the first label and runs on with gaps of at most one (a gap
    must be followed by two consecutive letters)."""
    best: list[LabelCandidate] = []
    keys = {c.key for c in picked}

    def lonely(c: LabelCandidate) -> bool:
        """ "b1" beside "b" with no "b2": a misread of a word or tick, not a sub-panel (those come in runs)."""
        numbered = [k for k in keys if _family(k) == "letter+number" and k[0] == c.key[0]]
        return _family(c.key) == "letter+number" and c.key[0] in keys and len(numbered) < 2

    for fam in ("letter", "roman"):
        members = sorted(
            (
                c
                for c in picked
                if _family(c.key) in ((fam, "letter+number") if fam == "letter" else (fam,))
                and not lonely(c)
                and not (
                    RUN_SKIPS_DIGITS and c.key.isdigit()
                )  # a digit kept for the caption's confusions ("1" = l) is no letter here
            ),
            key=lambda c: _order(c.key) if _family(c.key) == fam else _order(c.key[0]) + 0.01 * int(c.key[1:]),
        )
        run: list[LabelCandidate] = []
        orders: list[int] = []
        prev = -1
        for c in members:
            k = _order(c.key[0]) if _family(c.key) == "letter+number" else _order(c.key)
            if k - prev > 2:
                break
            run.append(c)
            orders.append(k)
            prev = k
        # a misread label leaves an isolated gap that the next letters continue; stray letters (axis letters,
        # cross-references) come one by one: a member after a gap must be followed by its successor
        for n in range(1, len(run)):
            if orders[n] - orders[n - 1] == 2 and not (n + 1 < len(run) and orders[n + 1] == orders[n] + 1):
                run = run[:n]
                break
        if len(run) > len(best):
            best = run
    return best


# ----------------------------------------------------------------------------------------------------------------
# Partition


def _content_box(ink: np.ndarray, box: Box) -> Box:
    x0, y0, x1, y1 = box
    sub = ink[y0:y1, x0:x1]
    ys = np.flatnonzero(sub.any(axis=1))
    xs = np.flatnonzero(sub.any(axis=0))
    if len(xs) == 0 or len(ys) == 0:
        return box
    return (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)


def _runs(blank: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of runs of True in a 1-D array."""
    if not blank.any():
        return []
    d = np.diff(np.concatenate(([0], blank.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@dataclass
class _Cut:
    axis: str  # "x": vertical line at x = pos, "y": horizontal line
    pos: int
    score: float
    method: str


def _label_side(c: LabelCandidate, axis: str, pos: int) -> bool:
    """True when the label lies after the cut (right of / below it)."""
    return (c.cx if axis == "x" else c.cy) >= pos


def _same_place(
    before: Sequence[LabelCandidate], after: Sequence[LabelCandidate], axis: str, lo_content: Box, hi_content: Box
) -> bool:
    """The labels sit at the same place in their panels on both sides of a cut: the first label of each side lies
    as far from that side's leading edge (within 2 label heights or 15 % of the step between the two label columns
    (rows) next to the cut). Graph grids print labels in titles above the plots ("(a) mode=..."), centred under
    them, or mid-way down a frame: not at the top-left, but at one place in every panel."""
    i = 0 if axis == "x" else 1
    lead_lo = min(c.box[i] for c in before) - lo_content[i]
    lead_hi = min(c.box[i] for c in after) - hi_content[i]
    step = min(c.box[i] for c in after) - max(c.box[i] for c in before)
    h = float(np.median([c.height for c in (*before, *after)]))
    return lead_lo >= 0 and lead_hi >= 0 and step > 0 and abs(lead_lo - lead_hi) <= max(2 * h, 0.15 * step)


def _cut_ok(
    labels: Sequence[LabelCandidate],
    axis: str,
    pos: int,
    content: Box,
    lo_box: Box,
    hi_box: Box,
    ink: np.ndarray | None = None,
) -> bool:
    """Whether a cut at ``pos`` may separate ``labels``: labels on both sides, none straddling it, and the far side's
    first label at its leading edge (labels are top-left of their panels) — or at its trailing edge for labels
    printed at the bottom/right of their frames. With ``ink`` (cuts along gutters and seams), also when the labels
    sit at the same place in their panels on both sides (:func:`_same_place`), and never when a side's content is
    less than 2.5 label heights deep (a side that is only a line of labels)."""
    before = [c for c in labels if not _label_side(c, axis, pos)]
    after = [c for c in labels if _label_side(c, axis, pos)]
    if not before or not after:
        return False
    # labels must not straddle the cut
    for c in labels:
        a, b = (c.box[0], c.box[2]) if axis == "x" else (c.box[1], c.box[3])
        if a < pos < b:
            return False
    if ink is None:
        return _lead_or_trail(before, after, axis, pos, lo_box, hi_box, labels)
    # a side that holds little more than its labels (the line of sub-captions under a row of plots) is no panel
    i = 0 if axis == "x" else 1
    lo_content = _content_box(ink, lo_box)
    least = 2.5 * float(np.median([c.height for c in labels]))
    if hi_box[i + 2] - hi_box[i] < least or lo_content[i + 2] - lo_content[i] < least:
        return False
    if _lead_or_trail(before, after, axis, pos, lo_box, hi_box, labels):
        return True
    return _same_place(before, after, axis, lo_content, hi_box)


def _lead_or_trail(
    before: Sequence[LabelCandidate],
    after: Sequence[LabelCandidate],
    axis: str,
    pos: int,
    lo_box: Box,
    hi_box: Box,
    labels: Sequence[LabelCandidate],
) -> bool:
    # the far side's first label sits near that side's leading edge (labels are top-left of their panel)
    if axis == "x":
        lead = min(c.box[0] for c in after) - hi_box[0]
        span = hi_box[2] - hi_box[0]
        if lead <= max(24, 0.3 * span):
            return True
        # labels printed at the top-right of their frames: the near side's labels end close to its right edge
        if not all(c.anchor == "right" for c in labels):
            return False
        trail = pos - max(c.box[2] for c in before)
        return trail <= max(24, 0.3 * (pos - lo_box[0]))
    lead = min(c.box[1] for c in after) - hi_box[1]
    span = hi_box[3] - hi_box[1]
    if lead <= max(24, 0.3 * span):
        return True
    # labels printed at the bottom of their pictures: the near side's labels end close to its bottom edge
    if not all(c.anchor == "bottom" for c in labels):
        return False
    trail = lo_box[3] - max(c.box[3] for c in before)
    return trail <= max(24, 0.3 * (lo_box[3] - lo_box[1]))


def _best_cut(
    ink: np.ndarray, blank: np.ndarray, box: Box, labels: Sequence[LabelCandidate], gray: np.ndarray | None = None
) -> _Cut | None:
    x0, y0, x1, y1 = box
    content = _content_box(ink, box)
    cx0, cy0, cx1, cy1 = content
    cuts: list[_Cut] = []
    median_h = float(np.median([c.height for c in labels]))
    for axis in ("y", "x"):
        if axis == "y":
            sub = blank[cy0:cy1, cx0:cx1]
            line_blank = sub.mean(axis=1) >= 0.997
            offset = cy0
        else:
            sub = blank[cy0:cy1, cx0:cx1]
            line_blank = sub.mean(axis=0) >= 0.997
            offset = cx0
        for s, e in _runs(line_blank):
            if s == 0 or e == len(line_blank):
                continue  # margins
            if e - s >= 3 and _crossed(sub, s, e, axis):
                continue  # an axis line or a frame runs across it: the gap between two boxes of one plot
            pos = offset + (s + e) // 2
            lo_box: Box = (x0, y0, pos, y1) if axis == "x" else (x0, y0, x1, pos)
            hi_box: Box = (pos, y0, x1, y1) if axis == "x" else (x0, pos, x1, y1)
            hi_box = _content_box(ink, hi_box)
            if not _cut_ok(labels, axis, pos, content, lo_box, hi_box, ink):
                continue
            after = [c for c in labels if _label_side(c, axis, pos)]
            lead_gap = min((c.box[0] if axis == "x" else c.box[1]) for c in after) - (offset + e)
            score = float(e - s) + (6.0 if lead_gap <= 1.5 * median_h + 4 else 0.0)
            cuts.append(_Cut(axis, pos, score, "gutter"))
    if cuts:
        return max(cuts, key=lambda c: c.score)
    edge_cuts = _label_edge_cuts(ink, box, content, labels)
    # an almost blank line along a label's edge (a gutter crossed only by an arrow or a thin connector) beats a seam
    near_gutter = [c for c in edge_cuts if c.score >= -NEAR_GUTTER_INK]
    if near_gutter:
        return max(near_gutter, key=lambda c: c.score)
    if gray is not None:  # pictures that touch: their seam is a gutter of width 0
        for axis in ("y", "x"):
            for pos in seams(gray, content, axis):
                lo_box = (x0, y0, pos, y1) if axis == "x" else (x0, y0, x1, pos)
                hi_box = _content_box(ink, (pos, y0, x1, y1) if axis == "x" else (x0, pos, x1, y1))
                if _cut_ok(labels, axis, pos, content, lo_box, hi_box, ink):
                    cuts.append(_Cut(axis, pos, 1.0, "seam"))
    if cuts:
        return max(cuts, key=lambda c: c.score)
    return max(edge_cuts, key=lambda c: c.score) if edge_cuts else None


def _crossed(blank: np.ndarray, s: int, e: int, axis: str) -> bool:
    """A stroke runs across the whole gutter ``[s, e)`` (rows for ``axis`` "y", columns for "x") of ``blank``: a
    plot's axis line or frame that spans it (the line of blank pixels is only almost blank, >= 99.7 %)."""
    band = blank[s:e, :] if axis == "y" else blank[:, s:e].T
    return bool((~band).all(axis=0).any())


NEAR_GUTTER_INK = 0.02  # share of a cut line's pixels that may be ink for it to count as a crossed gutter


def _label_edge_cuts(ink: np.ndarray, box: Box, content: Box, labels: Sequence[LabelCandidate]) -> list[_Cut]:
    """Cuts along a label's left or top edge where the fewest ink pixels are crossed (no gutter separates the
    labels); score = minus the share of ink on the line."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = content
    cuts: list[_Cut] = []
    for c in labels:
        for axis in ("x", "y"):
            edge = c.box[0] if axis == "x" else c.box[1]
            lo = max((x0 if axis == "x" else y0) + 1, edge - max(6, c.height))
            hi = edge
            if hi <= lo:
                continue
            if axis == "x":
                counts = ink[cy0:cy1, lo:hi].sum(axis=0) / max(1, cy1 - cy0)
            else:
                counts = ink[lo:hi, cx0:cx1].sum(axis=1) / max(1, cx1 - cx0)
            k = int(np.argmin(counts))
            pos = lo + k
            lo_box = (x0, y0, pos, y1) if axis == "x" else (x0, y0, x1, pos)
            hi_box = _content_box(ink, (pos, y0, x1, y1) if axis == "x" else (x0, pos, x1, y1))
            if not _cut_ok(labels, axis, pos, content, lo_box, hi_box):
                continue
            # no side may be only a label: a letter read inside the next plot ("E" of a marker) would leave the real
            # label a sliver of its own width and take the plot
            i = 0 if axis == "x" else 1
            least = 2.5 * float(np.median([lab.height for lab in labels]))
            lo_content = _content_box(ink, lo_box)
            if hi_box[i + 2] - hi_box[i] < least or lo_content[i + 2] - lo_content[i] < least:
                continue
            cuts.append(_Cut(axis, pos, -float(counts[k]), "label-edge"))
    return cuts


def partition(
    image: Image.Image,
    labels: Sequence[LabelCandidate],
    explain: list[str] | None = None,
    *,
    blank: np.ndarray | None = None,
    gray: np.ndarray | None = None,
) -> list[Region]:
    """Regions, one per label (one region for the whole figure when there are no labels)."""
    explain = explain if explain is not None else []
    blank = background_mask(image) if blank is None else blank
    gray = gray_array(image) if gray is None else gray
    ink = ~blank
    w, h = image.size
    out: list[Region] = []

    def rec(box: Box, labs: list[LabelCandidate], method: str) -> None:
        if len(labs) <= 1:
            out.append(Region(labs[0] if labs else None, box, _content_box(ink, box), method))
            return
        cut = _best_cut(ink, blank, box, labs, gray)
        if cut is None:
            # cannot separate: keep the labels' region as one panel under the first label, note the others
            explain.append(f"could not separate labels {[c.key for c in labs]} in {box}")
            first = min(labs, key=lambda c: (c.box[1], c.box[0]))
            out.append(Region(first, box, _content_box(ink, box), "unseparated"))
            return
        x0, y0, x1, y1 = box
        lo: Box = (x0, y0, cut.pos, y1) if cut.axis == "x" else (x0, y0, x1, cut.pos)
        hi: Box = (cut.pos, y0, x1, y1) if cut.axis == "x" else (x0, cut.pos, x1, y1)
        rec(lo, [c for c in labs if not _label_side(c, cut.axis, cut.pos)], cut.method)
        rec(hi, [c for c in labs if _label_side(c, cut.axis, cut.pos)], cut.method)

    rec((0, 0, w, h), list(labels), "whole")
    return out


def _at_corner(region: Region, share: float = 0.4) -> bool:
    """The region's label lies within ``share`` of its content box from the left and from the top (or, for a label
    read at a picture's bottom-left corner, from the bottom)."""
    c = region.label
    if c is None:
        return True
    x0, y0, x1, y1 = region.content
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    dx = (x1 - c.box[2]) / w if c.anchor == "right" else (c.box[0] - x0) / w
    dy = (y1 - c.box[3]) / h if c.anchor == "bottom" else (c.box[1] - y0) / h
    return dx <= share and dy <= share


def _place(region: Region) -> tuple[float, float] | None:
    """Where the region's label sits in its content box: (x, y) of the label's centre as shares of its width and
    height."""
    c = region.label
    if c is None:
        return None
    x0, y0, x1, y1 = region.content
    return (c.cx - x0) / max(1, x1 - x0), (c.cy - y0) / max(1, y1 - y0)


def _common_place(regions: Sequence[Region]) -> tuple[float, float] | None:
    """The place most labels share in their regions (titles above graphs: top centre; sub-captions: bottom
    centre), when at least half of the labels sit within 15 % of the median place."""
    places = [p for p in (_place(r) for r in regions) if p is not None]
    if len(places) < 3:
        return None
    mx, my = float(np.median([p[0] for p in places])), float(np.median([p[1] for p in places]))
    near = sum(abs(px - mx) <= 0.15 and abs(py - my) <= 0.15 for px, py in places)
    return (mx, my) if 2 * near >= len(places) else None


def _at_place(region: Region, common: tuple[float, float] | None) -> bool:
    """The region's label sits where most labels sit in their regions (:func:`_common_place`)."""
    p = _place(region)
    return common is not None and p is not None and abs(p[0] - common[0]) <= 0.15 and abs(p[1] - common[1]) <= 0.15


def analyse(image: Image.Image, expected_labels: Sequence[str] | None = None, ocr: OcrBatch | None = None) -> Layout:
    """Labels and regions of a figure. ``expected_labels`` (from the caption) restricts which labels are read."""
    explain: list[str] = []
    gray = gray_array(image)
    blank = background_mask(image)
    leaves = blocks(blank, gray=gray)  # the picture-like blocks: read for corner labels, then for the gaps
    tones = label_tones(image)
    candidates = read_candidates(gray, ocr, blank, expected_labels, staged=STAGED_READS, leaves=leaves, tones=tones)
    labels = choose_labels(candidates, expected_labels, explain, leaves, blank)
    if expected_labels and not labels:
        explain.append("none of the caption's labels was read in the image: one panel")
    regions = partition(image, labels, explain, blank=blank, gray=gray)
    if expected_labels and labels and CAPTION_EXTEND and any(_swallows_below(r, blank) for r in regions):
        more = _past_caption(gray, ocr, blank, leaves, labels, expected_labels, explain, tones)
        if more:
            labels = more
            regions = partition(image, labels, explain, blank=blank, gray=gray)
    if not expected_labels and len(labels) >= 3:
        # without a caption, a letter read inside a picture (a cross-reference, an axis letter) can join the sequence;
        # a panel label sits at a corner of the region it gets: one that lands inside its region is dropped (with a
        # caption this cost labels in titles and under plots on the synthetic grids, session 10: not applied)
        common = _common_place(regions)
        off = [r.label for r in regions if r.label is not None and not _at_corner(r) and not _at_place(r, common)]
        if off and len(labels) - len(off) >= 2:
            explain.append(
                "not at a corner of their regions, dropped: " + ", ".join(f"{c.key}@{c.box[0]},{c.box[1]}" for c in off)
            )
            labels = [c for c in labels if all(c is not o for o in off)]
            regions = partition(image, labels, explain, blank=blank, gray=gray)
    if _alone_off_corner(labels, regions, expected_labels):
        c = labels[0]
        explain.append(
            f"the caption's only label read is off the figure's corner, dropped: {c.key}@{c.box[0]},{c.box[1]}"
        )
        labels = []
        regions = partition(image, labels, explain, blank=blank, gray=gray)
    if not labels and not expected_labels:
        lone = _lone_corner_label(candidates, leaves, gray)
        if lone is not None:
            explain.append(f"one label at the figure's top-left corner: {lone.key}@{lone.box[0]},{lone.box[1]}")
            labels = [lone]
            regions = [
                Region(lone, (0, 0, image.width, image.height), _content_box(~blank, (0, 0, image.width, image.height)))
            ]
    regions = _fill_gaps(regions, lambda: leaves, ~blank, expected_labels, explain)
    lattice = _lattice(regions, labels, blank, gray, expected_labels, explain)
    if lattice is None and STRUCTURE_GRID:
        lattice = _structure_grid(regions, blank, gray, expected_labels, explain)
    if lattice is None and SUB_LATTICE:
        lattice = _sub_lattice(regions, labels, blank, gray, expected_labels, explain)
    if lattice is None and REGION_FRAMES:
        regions = _region_frames(regions, leaves, blank, gray, expected_labels, explain)
    regions = lattice or _unlabelled_above(regions, blank, explain)
    return Layout(image.width, image.height, regions, candidates, explain)


CAPTION_EXTEND = True  # session 9: letters the caption's parse missed past its last label, see _past_caption


def _alone_off_corner(
    labels: Sequence[LabelCandidate], regions: Sequence[Region], expected: Sequence[str] | None
) -> bool:
    """The caption names two or more labels and one alone was read: its region is the whole figure, so it must sit
    at the figure's top-left (bottom-left) corner, as any label sits at its panel's (:func:`_at_corner`). A letter
    read elsewhere (a picture's texture, a marker the caption names in prose) is no label of the whole figure."""
    return (
        CORNERS_WITH_CAPTION
        and bool(expected)
        and len(set(expected or ())) >= 2
        and len(labels) == 1
        and len(regions) == 1
        and not _at_corner(regions[0])
    )


def _swallows_below(region: Region, blank: np.ndarray) -> bool:
    """The region's label (at its top) has a full-width gutter below its own picture and another picture-sized
    block under that gutter: the label would cover two panels' areas (the caption named too few letters)."""
    lab = region.label
    if lab is None or lab.anchor != "top":
        return False
    x0, y0, x1, y1 = region.box
    need = max(6 * lab.height, 0.2 * (y1 - y0))
    start = lab.box[3]
    if y1 - start < 2 * need:
        return False
    rows = np.asarray(blank[start:y1, x0:x1].all(axis=1))
    ink = ~blank
    for a, b in _runs(rows):
        if b - a < 2:
            continue
        cut = start + (a + b) // 2
        top = _content_box(ink, (x0, y0, x1, cut))
        low = _content_box(ink, (x0, cut, x1, y1))
        if top[3] - top[1] >= need and low[3] - low[1] >= need and low[2] - low[0] >= 0.3 * (x1 - x0):
            return True
    return False


def _past_caption(
    gray: np.ndarray,
    ocr: OcrBatch | None,
    blank: np.ndarray,
    leaves: list[Box],
    labels: list[LabelCandidate],
    expected: Sequence[str],
    explain: list[str],
    tones: Tones | None = None,
) -> list[LabelCandidate] | None:
    """When a caption label covers two panels' areas (:func:`_swallows_below`), the figure is read again as if
    there were no caption; that reading wins when it holds every caption label the caption reading placed (same
    letter, same place) and adds only letters past the caption's last one ("spectra of c, d" in prose that the
    caption parse missed). Letters inside the caption's range are :func:`_missing_from_caption`'s business."""
    notes: list[str] = []
    again = choose_labels(
        read_candidates(gray, ocr, blank, None, staged=STAGED_READS, leaves=leaves, tones=tones),
        None,
        notes,
        leaves,
        blank,
    )
    fam = _family(labels[0].key)
    last = max(_order(w.lower()) for w in expected if _family(w.lower()) == fam) if fam == "letter" else None
    if last is None or len(again) <= len(labels):
        return None
    for c in labels:
        tol = max(4, c.height)
        if not any(
            d.key == c.key and abs(d.box[0] - c.box[0]) <= tol and abs(d.box[1] - c.box[1]) <= tol for d in again
        ):
            return None
    have = {c.key for c in labels}
    extra = [d for d in again if d.key not in have]
    if not extra or any(_family(d.key) != "letter" or _order(d.key) <= last for d in extra):
        return None
    explain.append(
        "a caption label covered two panels; letters past the caption's last, read without it: "
        + ", ".join(f"{d.key}@{d.box[0]},{d.box[1]}" for d in extra)
    )
    return sorted(labels + extra, key=lambda c: (c.box[1], c.box[0]))


def _crisp(gray: np.ndarray, c: LabelCandidate) -> bool:
    """The glyph is printed ink: its extreme pixels are saturated (white >= 225 or black <= 40) and stand far
    (>= 120 grey levels) from the median of a ring around it. A dark blob of a micrograph's texture read as "n"
    has neither."""
    x0, y0, x1, y1 = c.box
    sub = gray[y0:y1, x0:x1].astype(np.float32)
    if sub.size == 0:
        return False
    p = max(2, (y1 - y0) // 3)
    ring = np.concatenate(
        [
            gray[max(0, y0 - p) : y0, x0:x1].ravel(),
            gray[y1 : y1 + p, x0:x1].ravel(),
            gray[y0:y1, max(0, x0 - p) : x0].ravel(),
            gray[y0:y1, x1 : x1 + p].ravel(),
        ]
    ).astype(np.float32)
    if ring.size == 0:
        return False
    ink = np.sort(sub.ravel())
    k = max(1, ink.size // 6)
    ext = float(ink[-k:].mean()) if c.polarity == "light" else float(ink[:k].mean())
    saturated = ext >= 225 if c.polarity == "light" else ext <= 40
    return saturated and abs(ext - float(np.median(ring))) >= 120


def _lone_corner_label(
    candidates: Sequence[LabelCandidate], leaves: Sequence[Box], gray: np.ndarray
) -> LabelCandidate | None:
    """A figure that is one picture with one letter printed in its top-left corner (a sub-figure of a web or
    MyST paper, "B" on its micrograph): the letter is the panel's label although no sequence can be formed. Only a
    letter read at the corner of the picture (not a word's first letter: no same-height blobs beside it), surely
    read, printed crisp (:func:`_crisp`), at the figure's top-left, on a picture that fills most of the figure; "i",
    "l", "o" and digit look-alikes are left out (a tick, a bar, a ring)."""
    h, w = gray.shape[:2]
    big = [b for b in leaves if (b[2] - b[0]) * (b[3] - b[1]) >= 0.6 * w * h]
    if len(big) != 1:
        return None
    pic = big[0]
    found = {
        (c.key, c.box): c
        for c in candidates
        if c.corner
        and c.anchor == "top"
        and len(c.key) == 1
        and c.key.isalpha()
        and c.key not in "ilo"
        and c.key not in _CONFUSIONS
        and c.score >= 0.9
        and c.mates == 0
        and c.box[0] - pic[0] <= 0.06 * (pic[2] - pic[0])
        and c.box[1] - pic[1] <= 0.06 * (pic[3] - pic[1])
        and pic[0] <= 0.05 * w
        and pic[1] <= 0.05 * h
        and _crisp(gray, c)
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _unlabelled_above(regions: list[Region], blank: np.ndarray, explain: list[str]) -> list[Region]:
    """A label never covers two panels' areas: a region whose label sits at the top-left of its own picture, with a
    full-width gutter above the label and a picture-sized block above that gutter (an unlettered row over a row of
    lettered panels, which the caption calls "left" / "right"), gives that block up as a panel without a label.
    Titles and tick labels over a panel are a line or two high, and a label under its picture (a sub-caption) has
    no picture below it: neither is cut. Neighbouring parts given up by one cut row join when a picture runs across
    the line between them."""
    ink = ~blank
    out: list[Region] = []
    above: list[Region] = []
    for r in regions:
        lab = r.label
        if lab is None or lab.anchor != "top" or len(regions) < 2:
            out.append(r)
            continue
        x0, y0, x1, y1 = r.box
        ly = lab.box[1]
        need = max(6 * lab.height, 0.2 * (y1 - y0))
        if ly - y0 < need:
            out.append(r)
            continue
        rows = np.asarray(blank[y0:ly, x0:x1].all(axis=1))
        runs = [(a, b) for a, b in _runs(rows) if b - a >= 2]
        if not runs:
            out.append(r)
            continue
        g0, g1 = runs[-1]
        top = _content_box(ink, (x0, y0, x1, y0 + g0))
        own = _content_box(ink, (x0, y0 + g1, x1, y1))
        if top[3] - top[1] < need or own[3] - own[1] < need or top[2] - top[0] < 0.3 * (x1 - x0):
            out.append(r)
            continue
        cut = y0 + (g0 + g1) // 2
        out.append(Region(lab, (x0, cut, x1, y1), _content_box(ink, (x0, cut, x1, y1)), r.method))
        above.append(Region(None, (x0, y0, x1, cut), top, "above-label"))
    if not above:
        return regions
    above.sort(key=lambda r: (r.box[1], r.box[0]))
    merged: list[Region] = []
    for r in above:
        m = merged[-1] if merged else None
        if m is not None and m.box[2] == r.box[0] and abs(m.box[1] - r.box[1]) <= 4 and abs(m.box[3] - r.box[3]) <= 4:
            ys = slice(max(m.content[1], r.content[1]), min(m.content[3], r.content[3]))
            line = ink[ys, max(0, r.box[0] - 1) : r.box[0] + 1].any(axis=1)
            if line.size and line.mean() >= 0.3:  # one picture runs across the line between the two parts
                box = (m.box[0], min(m.box[1], r.box[1]), r.box[2], max(m.box[3], r.box[3]))
                merged[-1] = Region(None, box, _content_box(ink, box), "above-label")
                continue
        merged.append(r)
    explain.append("unlettered picture(s) above lettered panels: " + ", ".join(str(r.content) for r in merged))
    return out + merged


LATTICE_MAX = 26  # cells of an equal-frame grid at most


def _line_support(blank: np.ndarray, gray: np.ndarray, axis: str, pos: int, span: tuple[int, int]) -> bool:
    """A frame boundary at ``pos`` (a column for ``axis`` "x", a row for "y") over ``span``: a blank gutter line that
    no stroke crosses (an axis line across it: one plot, not two frames), or an intensity step along at least 35 %
    of it (two pictures that touch), within 3 px."""
    a, b = span
    for q in range(pos - 3, pos + 4):
        if axis == "x":
            if q < 1 or q >= blank.shape[1]:
                continue
            if blank[a:b, q].mean() >= 0.97 and not _crossed(blank[a:b], q - 2, q + 3, "x"):
                return True
            step = np.abs(gray[a:b, q].astype(np.int16) - gray[a:b, q - 1].astype(np.int16)) > 18
        else:
            if q < 1 or q >= blank.shape[0]:
                continue
            if blank[q, a:b].mean() >= 0.97 and not _crossed(blank[:, a:b], q - 2, q + 3, "y"):
                return True
            step = np.abs(gray[q, a:b].astype(np.int16) - gray[q - 1, a:b].astype(np.int16)) > 18
        if step.mean() >= 0.35:
            return True
    return False


def _grid_drawn(blank: np.ndarray, gray: np.ndarray, box: Box, rows: int, cols: int) -> bool:
    """Every inner line of a ``rows x cols`` grid over ``box`` is a gutter or a seam in the image."""
    X0, Y0, X1, Y1 = box
    dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
    inner = [("x", round(X0 + k * dx), (Y0, Y1)) for k in range(1, cols)]
    inner += [("y", round(Y0 + k * dy), (X0, X1)) for k in range(1, rows)]
    return all(_line_support(blank, gray, ax, pos, span) for ax, pos, span in inner)


def _disagrees(
    regions: Sequence[Region], fit: dict[int, LabelCandidate], box: Box, rows: int, cols: int, order: str
) -> bool:
    """Some label's region overlaps its own grid cell by IoU < 0.6 (the partition cut the frames elsewhere: labels
    at the frames' bottom-left read as top labels, a cut along a label's edge inside a frame)."""
    X0, Y0, X1, Y1 = box
    dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
    for k, c in fit.items():
        row, col = (k // cols, k % cols) if order == "row" else (k % rows, k // rows)
        cell = (X0 + col * dx, Y0 + row * dy, X0 + (col + 1) * dx, Y0 + (row + 1) * dy)
        reg = next((r.content for r in regions if r.label is c), None)
        if reg is None:
            return True
        ix = max(0.0, min(cell[2], reg[2]) - max(cell[0], reg[0]))
        iy = max(0.0, min(cell[3], reg[3]) - max(cell[1], reg[1]))
        inter = ix * iy
        union = dx * dy + (reg[2] - reg[0]) * (reg[3] - reg[1]) - inter
        if inter / max(1.0, union) < 0.6:
            return True
    return False


def _filled(ink: np.ndarray, X0: int, Y0: int, dx: float, dy: float, row: int, col: int) -> bool:
    """The grid cell (row, col) holds a picture: its ink spans at least 60 % of the cell's width and height."""
    x0, y0 = round(X0 + col * dx), round(Y0 + row * dy)
    sub = ink[y0 : round(y0 + dy), x0 : round(x0 + dx)]
    if sub.size == 0:
        return False
    xs, ys = np.flatnonzero(sub.any(axis=0)), np.flatnonzero(sub.any(axis=1))
    return len(xs) > 0 and xs[-1] - xs[0] >= 0.6 * sub.shape[1] and ys[-1] - ys[0] >= 0.6 * sub.shape[0]


def _lattice(
    regions: list[Region],
    labels: Sequence[LabelCandidate],
    blank: np.ndarray,
    gray: np.ndarray,
    expected: Sequence[str] | None,
    explain: list[str],
    part: bool = False,
) -> list[Region] | None:
    """Equal frames (film strips, time series, graph grids): when the read letter labels sit at the same place in
    the cells of a regular ``rows x cols`` grid that tiles the figure's ink box, and their letters run in the grid's
    reading order (row- or column-major), the panels are the grid's cells. Used only when the grid gives more
    panels than the partition did (labels unread or misread in a strip without gutters, a region covering several
    frames), or as many when every label fits the grid and some region disagrees with its cell (:func:`_disagrees`:
    bottom-left labels read as top ones). The letters: the caption's (their number must equal the cells');
    without a caption ``a`` onwards, the grid holding the highest letter read, and a grid with more cells than that
    only when each of its inner lines is a gutter or a seam in the image and each of its rows (columns, when
    column-major) shows a read label. A read label that does not fit the grid (a misread letter) gives way to the
    grid's letter for its cell. ``part``: a part of the figure (:func:`_sub_lattice`) — labels at the left of their
    cells, also with a caption. ``None``: no such grid."""
    ink = ~blank
    letters = [c for c in labels if _family(c.key) == "letter" and len(c.key) == 1]
    if len(letters) < 2 or len(letters) != len(labels):
        return None
    if expected:
        want = sorted({e.lower() for e in expected}, key=_order)
        if any(_family(k) != "letter" or len(k) != 1 for k in want) or len(want) > LATTICE_MAX:
            return None
    have = len([r for r in regions if r.label is not None])
    ys_, xs_ = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(xs_) == 0:
        return None
    X0, Y0, X1, Y1 = int(xs_[0]), int(ys_[0]), int(xs_[-1]) + 1, int(ys_[-1]) + 1
    h = float(np.median([c.height for c in letters]))
    tol = max(6.0, 0.8 * h)
    best: tuple[int, int, int, int, str, dict[int, LabelCandidate]] | None = None  # fits, -cells, rows, cols, order
    for rows in range(1, 13):
        for cols in range(1, 13):
            n = rows * cols
            if n < 2 or n > LATTICE_MAX or (expected and n != len(want)):
                continue
            if n < have:
                continue  # fewer panels than the partition gave
            dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
            if dx < 3 * h or dy < 3 * h or not 0.2 <= dx / dy <= 5:
                continue
            placed_at = []
            for c in letters:
                col, row = min(int((c.box[0] - X0) // dx), cols - 1), min(int((c.box[1] - Y0) // dy), rows - 1)
                placed_at.append((row, col, c.box[0] - X0 - col * dx, c.box[1] - Y0 - row * dy, c))
            mx = float(np.median([p[2] for p in placed_at]))
            my = float(np.median([p[3] for p in placed_at]))
            tol_x = tol_y = tol
            if mx > 0.4 * dx:
                if not expected or part:
                    continue  # labels sit at the left of their frames (always in a part: its box is a guess)
                # with the caption's count: labels at one place of every frame but not at its left (in titles above
                # graphs, centred under them), where titles of different lengths and plots of slightly different
                # sizes move them a little
                tol_x, tol_y = max(tol, 0.15 * dx), max(tol, 0.1 * dy)
            # every label at the same place of its frame (top-left, or bottom-left in all frames); the others are
            # misreads (a letter of a heading, a speck) and take no part
            cells: dict[tuple[int, int], LabelCandidate] = {}
            for row, col, ox, oy, c in placed_at:
                if abs(ox - mx) <= tol_x and abs(oy - my) <= tol_y and (row, col) not in cells:
                    cells[(row, col)] = c
            if len(cells) < 2:
                continue
            if not all(_filled(ink, X0, Y0, dx, dy, row, col) for row in range(rows) for col in range(cols)):
                continue  # every cell holds a picture
            names = want if expected else [chr(97 + k) for k in range(n)]
            for order in ("row", "col"):
                fit = {}
                for (row, col), c in cells.items():
                    k = row * cols + col if order == "row" else col * rows + row
                    if names[k] == c.key:
                        fit[k] = c
                if not expected and fit and n > max(fit) + 1:
                    # letters beyond the last one read: only inside rows (columns) that show a read label (a whole
                    # unlabelled row is more likely the labelled row's second picture, an FFT or a map, than new
                    # panels), and only when the image draws the grid's lines
                    lines = {(k // cols if order == "row" else k // rows) for k in fit}
                    if len(lines) < (rows if order == "row" else cols):
                        continue
                    if not _grid_drawn(blank, gray, (X0, Y0, X1, Y1), rows, cols):
                        continue
                if n == have and len(fit) < n:
                    continue  # as many panels as the partition gave: only a grid that every label fits can redraw
                cand = (len(fit), -n, rows, cols, order, fit)
                if best is None or cand[:2] > best[:2]:
                    best = cand
    if best is None:
        return None
    nfit, _, rows, cols, order, fit = best
    if rows * cols == have and not _disagrees(regions, fit, (X0, Y0, X1, Y1), rows, cols, order):
        return None
    share = 0.6 if expected else 0.75  # with a caption the grid's size is the caption's label count
    if nfit < max(2, int(np.ceil(share * len(letters)))) or (nfit < 3 and rows * cols > 4):
        return None
    names = want if expected else [chr(97 + k) for k in range(rows * cols)]
    dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
    out: list[Region] = []
    for row in range(rows):
        for col in range(cols):
            k = row * cols + col if order == "row" else col * rows + row
            box = (
                X0 + round(col * dx),
                Y0 + round(row * dy),
                X1 if col == cols - 1 else X0 + round((col + 1) * dx),
                Y1 if row == rows - 1 else Y0 + round((row + 1) * dy),
            )
            est = (box[0], box[1], box[0], box[1])
            lab = fit.get(k) or LabelCandidate(names[k], names[k], est, 0.0, "dark", int(h))
            out.append(Region(lab, box, _content_box(ink, box), "lattice"))
    explain.append(
        f"equal frames: {rows}x{cols} grid ({order}-major), {nfit} of {len(letters)} read labels fit; "
        f"{rows * cols - nfit} cell(s) take their letter from the grid"
    )
    return out


STRUCTURE_GRID = True  # session 11: caption labels that were not read take the frames the image draws (_structure_grid)
STRUCTURE_ANY_ORDER = True  # session 12: the drawn frames may run column-major when the read labels say so


def _structure_grid(
    regions: list[Region],
    blank: np.ndarray,
    gray: np.ndarray,
    expected: Sequence[str] | None,
    explain: list[str],
) -> list[Region] | None:
    """Labels too small or faint to read (session 11): the caption names ``n`` letters, fewer than ``n`` regions
    got a label, and the image itself draws a grid of exactly ``n`` equal frames over its ink box — one ``rows x
    cols`` factorisation of ``n`` (and only one) whose every inner line is a gutter or a seam (:func:`_grid_drawn`)
    and whose every cell holds a picture (:func:`_filled`), cells at least 48 px a side. The frames are the panels,
    named in reading order (row-major; column-major when the read labels fit that order and not the other, session
    12; a single row or column has no other order), and every label that was read must sit in the frame that order
    gives it — otherwise (a misread) nothing changes."""
    if not expected:
        return None
    want = sorted({e.lower() for e in expected}, key=_order)
    n = len(want)
    if n < 2 or n > LATTICE_MAX or any(_family(k) != "letter" or len(k) != 1 for k in want):
        return None
    have = [r for r in regions if r.label is not None]
    if len(have) >= n:
        return None
    ink = ~blank
    ys_, xs_ = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(xs_) == 0:
        return None
    X0, Y0, X1, Y1 = int(xs_[0]), int(ys_[0]), int(xs_[-1]) + 1, int(ys_[-1]) + 1
    fits = []
    for rows in range(1, n + 1):
        if n % rows:
            continue
        cols = n // rows
        dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
        if min(dx, dy) < 48 or not 0.2 <= dx / dy <= 5:
            continue
        if not all(_filled(ink, X0, Y0, dx, dy, r, c) for r in range(rows) for c in range(cols)):
            continue
        if _grid_drawn(blank, gray, (X0, Y0, X1, Y1), rows, cols):
            fits.append((rows, cols))
    if len(fits) != 1:
        return None
    rows, cols = fits[0]
    dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
    read: dict[int, LabelCandidate] = {}
    orders = ("row", "col") if STRUCTURE_ANY_ORDER and rows > 1 and cols > 1 else ("row",)
    for order in orders:  # row-major first; column-major when the read labels say so (session 12)
        read = {}
        for r in have:
            c = r.label
            assert c is not None
            col = min(max(0, int((c.cx - X0) // dx)), cols - 1)
            row = min(max(0, int((c.cy - Y0) // dy)), rows - 1)
            k = row * cols + col if order == "row" else col * rows + row
            if want[k] != c.key or k in read:
                break  # a read label this reading order does not give that frame
            read[k] = c
        else:
            break
    else:
        return None
    h = int(np.median([c.height for c in read.values()])) if read else 10
    out: list[Region] = []
    for row in range(rows):
        for col in range(cols):
            k = row * cols + col if order == "row" else col * rows + row
            box = (
                X0 + round(col * dx),
                Y0 + round(row * dy),
                X1 if col == cols - 1 else X0 + round((col + 1) * dx),
                Y1 if row == rows - 1 else Y0 + round((row + 1) * dy),
            )
            lab = read.get(k) or LabelCandidate(want[k], want[k], (box[0], box[1], box[0], box[1]), 0.0, "dark", h)
            out.append(Region(lab, box, _content_box(ink, box), "structure"))
    explain.append(
        f"caption labels unread: the image draws {rows}x{cols} equal frames for the caption's {n} labels "
        f"({len(read)} read, {n - len(read)} named in {order}-major order)"
    )
    return out


REGION_FRAMES = True  # session 12: a labelled region that the image draws as equal frames gives the next letters
# their frames (_region_frames): one label never covers a series' other frames


def _boundary(blank: np.ndarray, gray: np.ndarray, axis: str, pos: int, span: tuple[int, int]) -> bool:
    """A frame boundary at ``pos`` over ``span``, stricter than :func:`_line_support` (a region's interior, not the
    figure's lattice): a blank gutter line no stroke crosses, or a seam — an intensity step (> 18 grey levels) on at
    least 40 % of the line, within 3 px, where the lines 4-12 px to either side step at most half as often (a
    textured micrograph steps everywhere, two frames that touch step at their joint)."""
    a, b = span
    lim = blank.shape[1] if axis == "x" else blank.shape[0]
    if pos - 14 < 1 or pos + 14 >= lim or b - a < 16:
        return False
    for q in range(pos - 3, pos + 4):
        if axis == "x":
            if blank[a:b, q].mean() >= 0.97 and not _crossed(blank[a:b], q - 2, q + 3, "x"):
                return True
        elif blank[q, a:b].mean() >= 0.97 and not _crossed(blank[:, a:b], q - 2, q + 3, "y"):
            return True
    sub = gray[a:b, pos - 14 : pos + 15] if axis == "x" else gray[pos - 14 : pos + 15, a:b].T
    frac = (np.abs(np.diff(sub.astype(np.int16), axis=1)) > 18).mean(axis=0)  # frac[k]: step from pos-14+k
    mid = frac[10:17]  # steps into pos-3 .. pos+3
    side = np.concatenate([frac[1:9], frac[19:27]])
    return bool(mid.max() >= 0.4 and mid.max() >= 2 * float(np.median(side)))


SUB_LATTICE = True  # session 12: equal frames / graph grids that are a part of the figure (_sub_lattice)
SUB_PIECES = 16  # gutter-separated pieces per axis at most (the sub-boxes tried are runs of consecutive pieces)


def _pieces(blank: np.ndarray, box: Box, axis: str) -> list[Box]:
    """The parts of ``box`` between its full-span blank lines along ``axis`` ("y": rows of pieces), tight."""
    x0, y0, x1, y1 = box
    sub = blank[y0:y1, x0:x1]
    line = np.asarray(sub.all(axis=1) if axis == "y" else sub.all(axis=0))
    ink_runs = _runs(~line)
    out = []
    for a, b in ink_runs:
        part = (x0, y0 + a, x1, y0 + b) if axis == "y" else (x0 + a, y0, x0 + b, y1)
        out.append(_content_box(~blank, part))
    return out


def _sub_lattice(
    regions: list[Region],
    labels: Sequence[LabelCandidate],
    blank: np.ndarray,
    gray: np.ndarray,
    expected: Sequence[str] | None,
    explain: list[str],
) -> list[Region] | None:
    """Equal frames that are only a part of the figure (session 12): a graph grid or image series under a schematic,
    beside a column of plots, above a row of spectra — the whole-figure grid (:func:`_lattice`) cannot tile them.
    The sub-boxes tried are runs of consecutive gutter-separated pieces of the figure (rows of pieces, then the
    columns inside each run of rows). For a sub-box holding read letters, the letters it may hold run from its
    lowest to its highest read letter, extended below and above through letters that are missing (named by the
    caption and read nowhere; without a caption, holes of the read run), never taking a letter read outside it;
    :func:`_lattice` on the sub-box with those letters as its caption decides (every cell a picture or plot, the
    labels at one place of their cells, in row- or column-major order). The largest letter range that fits wins;
    regions that reach into the sub-box keep their part beside it. ``None``: no sub-box fits."""
    letters = [c for c in labels if _family(c.key) == "letter" and len(c.key) == 1]
    if len(letters) < 2 or len(letters) != len(labels):
        return None
    # the regions' labels: the read ones and those the gaps gave (_fill_gaps), which are placed as well
    letters = [r.label for r in regions if r.label is not None and _family(r.label.key) == "letter"]
    if any(len(c.key) != 1 for c in letters):
        return None
    have = {_order(c.key) for c in letters}
    if expected:
        want = {_order(e.lower()) for e in expected if len(e) == 1 and e.isalpha()}
    else:
        want = set(range(min(have), max(have) + 1))
    missing = want - have
    if not missing:
        return None
    H, W = blank.shape
    ink = ~blank
    whole = _content_box(ink, (0, 0, W, H))

    def holds(b: Box) -> list[LabelCandidate]:
        return [c for c in letters if b[0] <= c.cx < b[2] and b[1] <= c.cy < b[3]]

    boxes: list[Box] = []
    rows_ = _pieces(blank, whole, "y")[:SUB_PIECES]
    for i in range(len(rows_)):
        for j in range(i, len(rows_)):
            band = (whole[0], rows_[i][1], whole[2], rows_[j][3])
            if len(holds(band)) < 2:
                continue
            band = _content_box(ink, band)
            boxes.append(band)
            cols_ = _pieces(blank, band, "x")[:SUB_PIECES]
            for a in range(len(cols_)):
                for b in range(a, len(cols_)):
                    part = (cols_[a][0], band[1], cols_[b][2], band[3])
                    if (a, b) != (0, len(cols_) - 1) and len(holds(part)) >= 2:
                        boxes.append(_content_box(ink, part))
    seen: set[Box] = {whole}
    best: tuple[tuple[int, int, int], Box, list[Region], str] | None = None
    for B in boxes:
        if B in seen:
            continue
        seen.add(B)
        x0, y0, x1, y1 = B
        inside = holds(B)
        if len(inside) < 2:
            continue
        keys = {_order(c.key) for c in inside}
        outside = have - keys
        lo_min, hi_max = min(keys), max(keys)
        while lo_min - 1 in missing:
            lo_min -= 1
        while hi_max + 1 in missing:
            hi_max += 1
        if any(lo_min <= k <= hi_max for k in outside):
            continue  # a letter read outside the box falls inside its range
        for lo in range(lo_min, min(keys) + 1):
            for hi in range(hi_max, max(keys) - 1, -1):
                n = hi - lo + 1
                if n <= len(inside) or (best is not None and n < best[0][0]) or n > LATTICE_MAX:
                    continue
                sub_regions = []
                for r in regions:
                    if r.label is not None and any(r.label is c for c in inside):
                        sub_regions.append(r)
                sub_labels = [
                    replace(c, box=(c.box[0] - x0, c.box[1] - y0, c.box[2] - x0, c.box[3] - y0)) for c in inside
                ]
                shifted = [
                    Region(
                        next(s for s, c in zip(sub_labels, inside, strict=True) if c is r.label),
                        (max(0, r.box[0] - x0), max(0, r.box[1] - y0), min(x1, r.box[2]) - x0, min(y1, r.box[3]) - y0),
                        (r.content[0] - x0, r.content[1] - y0, r.content[2] - x0, r.content[3] - y0),
                        r.method,
                    )
                    for r in sub_regions
                ]
                note: list[str] = []
                names = [chr(97 + k) for k in range(lo, hi + 1)]
                got = _lattice(shifted, sub_labels, blank[y0:y1, x0:x1], gray[y0:y1, x0:x1], names, note, part=True)
                if got is None or sum(1 for g in got if g.label is not None) <= len(sub_regions):
                    continue
                nfit = sum(1 for g in got if any(g.label is c for c in sub_labels))
                if nfit < max(2, int(np.ceil(2 * len(sub_labels) / 3))):
                    continue  # two thirds of the labels read in the part fit its grid (a misread gives way)
                back = {id(s): c for s, c in zip(sub_labels, inside, strict=True)}
                cells = []
                for g in got:
                    lab = g.label
                    assert lab is not None
                    if id(lab) in back:
                        lab = back[id(lab)]
                    else:
                        lab = replace(lab, box=(lab.box[0] + x0, lab.box[1] + y0, lab.box[2] + x0, lab.box[3] + y0))
                    gb = (g.box[0] + x0, g.box[1] + y0, g.box[2] + x0, g.box[3] + y0)
                    cells.append(Region(lab, gb, _content_box(ink, gb), "sub-lattice"))
                kept: list[Region] = []
                for r in regions:
                    if any(r is q for q in sub_regions):
                        rest = _carve(Region(None, r.box, r.content, r.method), B, ink)
                        spill = (
                            0 if rest is None else int(ink[rest.box[1] : rest.box[3], rest.box[0] : rest.box[2]].sum())
                        )
                        if spill > 4 * max(c.height for c in inside) ** 2:
                            break  # this label's region holds ink outside the box: more than the grid's frames
                        continue
                    if r.box[2] <= x0 or r.box[0] >= x1 or r.box[3] <= y0 or r.box[1] >= y1:
                        kept.append(r)
                        continue
                    cv = _carve(r, B, ink)
                    if cv is None:
                        break
                    kept.append(cv)
                else:
                    rank = (n, sum(1 for g in cells if any(g.label is c for c in inside)), -(x1 - x0) * (y1 - y0))
                    if best is None or rank > best[0]:
                        best = (rank, B, kept + cells, "; ".join(note))
    if best is None:
        return None
    explain.append(f"part {best[1]} of the figure: {best[3]}")
    return best[2]


FRAMES_MIN_CELL = 48  # px: the smallest frame side of a block's drawn grid (_block_frames)


def _block_frames(leaf: Box, blank: np.ndarray, gray: np.ndarray, h: float) -> tuple[int, int] | None:
    """The finest ``rows x cols`` (>= 2 cells) grid of equal frames the image draws over a picture block (at most
    ``PICTURE_FILL`` background: micrographs and photos, not plots): every inner line a boundary
    (:func:`_boundary`), every cell a picture (:func:`_filled`), cells at least ``FRAMES_MIN_CELL`` px and 3 label
    heights a side, aspect 1:4 .. 4:1. ``None``: no such grid."""
    ink = ~blank
    X0, Y0, X1, Y1 = leaf
    if blank[Y0:Y1, X0:X1].mean() > PICTURE_FILL:
        return None  # a plot (mostly background): its spikes and axis lines are no frame boundaries
    side = max(FRAMES_MIN_CELL, 3 * h)
    best: tuple[int, int, int] | None = None
    for rows in range(1, 7):
        for cols in range(1, 9):
            n = rows * cols
            if n < 2 or n > LATTICE_MAX or (best is not None and n <= best[0]):
                continue
            dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
            if min(dx, dy) < side or not 0.25 <= dx / dy <= 4:
                continue
            lines = [("x", round(X0 + k * dx), (Y0, Y1)) for k in range(1, cols)]
            lines += [("y", round(Y0 + k * dy), (X0, X1)) for k in range(1, rows)]
            if not all(_boundary(blank, gray, ax, pos, sp) for ax, pos, sp in lines):
                continue
            if all(_filled(ink, X0, Y0, dx, dy, r, c) for r in range(rows) for c in range(cols)):
                best = (n, rows, cols)
    return None if best is None else (best[1], best[2])


def _carve(region: Region, g: Box, ink: np.ndarray) -> Region | None:
    """A region that overlaps a frame grid ``g`` keeps the largest part of its box beside the grid (left, right,
    above or below) that holds its label; ``None`` when no such part does."""
    x0, y0, x1, y1 = region.box
    parts = [(x0, y0, min(x1, g[0]), y1), (max(x0, g[2]), y0, x1, y1)]
    parts += [(x0, y0, x1, min(y1, g[1])), (x0, max(y0, g[3]), x1, y1)]
    lab = region.label
    ok = [
        b
        for b in parts
        if b[2] > b[0] and b[3] > b[1] and (lab is None or (b[0] <= lab.cx < b[2] and b[1] <= lab.cy < b[3]))
    ]
    if not ok:
        return None
    b = max(ok, key=lambda q: int(ink[q[1] : q[3], q[0] : q[2]].sum()))
    return Region(lab, b, _content_box(ink, b), region.method)


def _region_frames(
    regions: list[Region],
    leaves: Sequence[Box],
    blank: np.ndarray,
    gray: np.ndarray,
    expected: Sequence[str] | None,
    explain: list[str],
) -> list[Region]:
    """A label never covers two panels' areas (session 12): a picture block that the image draws as a grid of equal
    frames (:func:`_block_frames`: a film strip, a time series, set beside other panels so that its frames do not
    tile the figure — :func:`_lattice` and :func:`_structure_grid` look at the whole figure) gets one panel per
    frame when letters are missing. The read labels inside the block must all fit one reading order (row-major
    first, then column-major) with a constant letter offset; the other frames take the letters that order gives
    them, which must be missing (named by the caption and read nowhere; without a caption, holes below the highest
    letter read). A block with no label read takes the caption's missing letters only when they are exactly as many
    as its frames and run on without a gap. Regions that reach into the block keep their part beside it."""
    letters = [r for r in regions if r.label is not None and _family(r.label.key) == "letter"]
    if not letters or any(r.label is not None and len(r.label.key) != 1 for r in letters):
        return regions
    have = {_order(r.label.key) for r in letters if r.label is not None}
    if expected:
        want = {_order(e.lower()) for e in expected if len(e) == 1 and e.isalpha()}
    else:
        if len(have) < 2:
            return regions
        want = set(range(min(have), max(have) + 1))
    missing = want - have
    if not missing:
        return regions
    ink = ~blank
    H, W = blank.shape
    h = float(np.median([r.label.height for r in letters if r.label is not None]))
    big = [b for b in leaves if (b[2] - b[0]) * (b[3] - b[1]) >= 0.04 * W * H]
    for leaf in sorted(big, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if not missing:
            break
        grid = _block_frames(leaf, blank, gray, h)
        if grid is None:
            continue
        rows, cols = grid
        n = rows * cols
        X0, Y0, X1, Y1 = leaf
        dx, dy = (X1 - X0) / cols, (Y1 - Y0) / rows
        inside = [r for r in regions if r.label is not None and X0 <= r.label.cx < X1 and Y0 <= r.label.cy < Y1]
        if any(r.label is not None and all(r is not q for q in letters) for r in inside):
            continue
        named: tuple[str, int, dict[int, Region]] | None = None
        for order in ("row", "col") if rows > 1 and cols > 1 else ("row",):
            at: dict[int, Region] = {}
            for r in inside:
                assert r.label is not None
                col, row = min(int((r.label.cx - X0) // dx), cols - 1), min(int((r.label.cy - Y0) // dy), rows - 1)
                idx = row * cols + col if order == "row" else col * rows + row
                if idx in at:
                    break
                at[idx] = r
            else:
                offs = [_order(r.label.key) - idx for idx, r in at.items() if r.label is not None]
                if offs:
                    off = max(set(offs), key=offs.count)
                    # a misread letter inside the block (an "l" read as "i") gives way to the frame's letter when
                    # at least two read labels and two thirds of them agree
                    if offs.count(off) < len(offs) and (offs.count(off) < 2 or 3 * offs.count(off) < 2 * len(offs)):
                        continue
                elif expected and len(missing) == n and max(missing) - min(missing) == n - 1:
                    off = min(missing)
                else:
                    continue
                fit = {idx: r for idx, r in at.items() if r.label is not None and _order(r.label.key) - idx == off}
                free = missing | {_order(r.label.key) for r in at.values() if r.label is not None}
                if all(off + j in free for j in range(n) if j not in fit) and off >= 0:
                    named = (order, off, fit)
                    break
        if named is None or len(named[2]) == n:
            continue
        order, off, fit = named
        # the regions read inside the block give it up; their ink elsewhere must be another region's or none
        kept: list[Region] = []
        for r in regions:
            if any(r is q for q in inside):
                rest = _carve(Region(None, r.box, r.content, r.method), leaf, ink)
                spill = 0 if rest is None else int(ink[rest.box[1] : rest.box[3], rest.box[0] : rest.box[2]].sum())
                if spill > 4 * h * h:
                    break  # this label's region holds ink outside the block: more than the block's frames
                continue
            ov = not (r.box[2] <= X0 or r.box[0] >= X1 or r.box[3] <= Y0 or r.box[1] >= Y1)
            if not ov:
                kept.append(r)
                continue
            c = _carve(r, leaf, ink)
            if c is None:
                break
            kept.append(c)
        else:
            cells = []
            for row in range(rows):
                for col in range(cols):
                    idx = row * cols + col if order == "row" else col * rows + row
                    box = (
                        X0 + round(col * dx),
                        Y0 + round(row * dy),
                        X1 if col == cols - 1 else X0 + round((col + 1) * dx),
                        Y1 if row == rows - 1 else Y0 + round((row + 1) * dy),
                    )
                    if idx in fit:
                        lab = fit[idx].label
                        assert lab is not None
                    else:
                        letter = chr(97 + off + idx)
                        missing.discard(off + idx)
                        lab = LabelCandidate(letter, letter, (box[0], box[1], box[0], box[1]), 0.0, "dark", int(h))
                    cells.append(Region(lab, box, _content_box(ink, box), "frames"))
            explain.append(
                f"picture block {leaf} draws {rows}x{cols} equal frames ({order}-major): {len(fit)} read label(s) fit, "
                f"{n - len(fit)} frame(s) take letters {chr(97 + off)}-{chr(96 + off + n)}"
            )
            regions = kept + cells
    return regions


def _owns(lab: LabelCandidate, b: Box) -> bool:
    """The label sits at the picture's top-left (inside it, or in the margin above or left of it), or over or under
    it: in the margin just above (a title) or below it (a sub-caption line under a plot, below its axis labels)."""
    h = lab.height
    inside_x = b[0] - 2 * h <= lab.box[0] <= b[0] + 0.3 * (b[2] - b[0])
    if inside_x and b[1] - 2.5 * h <= lab.box[1] <= b[1] + 0.3 * (b[3] - b[1]):
        return True
    if not b[0] <= lab.cx <= b[2]:
        return False
    return b[1] - 2.5 * h <= lab.box[3] <= b[1] or b[3] <= lab.box[1] <= b[3] + 6 * h


def _fill_gaps(
    regions: list[Region],
    leaves_of: Callable[[], list[Box]],
    ink: np.ndarray,
    expected: Sequence[str] | None,
    explain: list[str],
) -> list[Region]:
    """Letters missing from the label sequence (unreadable, e.g. a faint "(f)" on a bright micrograph) leave their
    pictures inside other labels' regions. A region that holds two pictures of a panel's size, side by side or
    stacked with a gutter between them, one with the region's label at its top-left, has an *orphan* picture. When
    there are as many orphans as missing letters, the orphans (in reading order) become the missing letters' panels
    (in letter order). Letters are missing when the caption names them, or (without a caption) when they are gaps
    inside the read sequence."""
    labelled = [r for r in regions if r.label is not None and _family(r.label.key) == "letter"]
    if len(labelled) < 2:
        return regions
    have = {_order(r.label.key) for r in labelled if r.label is not None}
    if expected:
        want = {_order(e.lower()) for e in expected if len(e) == 1 and e.isalpha()}
        missing = sorted(k for k in want if k not in have)
    else:
        missing = [k for k in range(min(have) + 1, max(have)) if k not in have]
    if not missing:
        return regions
    leaves = leaves_of()
    big = [b for b in leaves if (b[2] - b[0]) * (b[3] - b[1]) >= 0.01 * ink.size]
    if not big:
        return regions
    typical = float(np.median([(b[2] - b[0]) * (b[3] - b[1]) for b in big]))
    splits: list[tuple[Region, Box, Box, Box]] = []  # region, its own part, the orphan's part, the orphan picture
    for r in labelled:
        lab = r.label
        assert lab is not None
        if lab.anchor != "top":
            continue
        x0, y0, x1, y1 = r.box
        pics = [
            b
            for b in big
            if b[0] >= x0
            and b[1] >= y0
            and b[2] <= x1
            and b[3] <= y1
            and (b[2] - b[0]) * (b[3] - b[1]) >= 0.4 * typical
        ]
        if len(pics) < 2:
            continue
        if max(b[2] - b[0] for b in pics) > 1.6 * min(b[2] - b[0] for b in pics):
            continue  # pictures of different sizes: sub-images of one panel
        own = [b for b in pics if _owns(lab, b)]
        if len(own) != 1:
            continue
        # the pictures in one row (or one column), separated by gutters: cut between neighbours
        for axis in (0, 1):
            seq = sorted(pics, key=lambda b: b[axis])
            if all(q[axis] >= p[axis + 2] for p, q in zip(seq[:-1], seq[1:], strict=False)):
                break
        else:
            continue
        cuts = [(p[axis + 2] + q[axis]) // 2 for p, q in zip(seq[:-1], seq[1:], strict=False)]
        lo, hi = (x0, x1) if axis == 0 else (y0, y1)
        edges = [lo, *cuts, hi]
        parts = [
            (e0, y0, e1, y1) if axis == 0 else (x0, e0, x1, e1) for e0, e1 in zip(edges[:-1], edges[1:], strict=False)
        ]
        mine = seq.index(own[0])
        for j, pic in enumerate(seq):
            if j != mine:
                splits.append((r, parts[mine], parts[j], pic))
    if len(splits) != len(missing):
        if splits:
            explain.append(f"{len(missing)} letter(s) not read, {len(splits)} unlabelled picture(s): left as they are")
        return regions
    row = max(8, int(0.25 * float(np.median([b[3] - b[1] for b in big]))))
    splits.sort(key=lambda t: (t[3][1] // row, t[3][0]))
    out = [r for r in regions if all(r is not t[0] for t in splits)]
    for r in {id(t[0]): t[0] for t in splits}.values():  # each split region keeps its own part
        own_box = next(t[1] for t in splits if t[0] is r)
        out.append(Region(r.label, own_box, _content_box(ink, own_box), "gap"))
    for k, (r, _, orphan_box, orphan) in zip(missing, splits, strict=True):
        letter = chr(97 + k)
        assert r.label is not None
        est = LabelCandidate(letter, letter, (orphan[0], orphan[1], orphan[0], orphan[1]), 0.0, "dark", r.label.height)
        out.append(Region(est, orphan_box, _content_box(ink, orphan_box), "gap"))
        explain.append(f"label {letter} not read: given to the unlabelled picture {orphan} in {r.label.key}'s region")
    return out
