"""Panel type: microscopy, diffraction (incl. FFT), graph, illustration, photo or other — with a probability.

A multinomial logistic regression on EfficientNet-Lite0 pooled features (the same vector the ``image`` search uses,
so typing costs nothing extra at ingest) plus a few cheap image statistics (white/black fractions, saturation,
edge density, colour count, long straight lines, central symmetry). Trained on generated panels
(:mod:`training.figures_synth`); weights ship as ``encoders/matsearch/encoders/weight_files/panel_type.pt``
(registered as ``panel-type`` in :data:`matsearch.encoders.weights.WEIGHTS`). Training command, seed and held-out
accuracy: ``training/train_panel_type.py`` (the numbers are stored inside the weight file too).

**A picture drawn inside plot axes** (a micrograph, FFT or photo shown with ``imshow``: ticks, axis labels, a title,
a colour bar, a viewer window) looks like a graph to the classifier. When it types a panel graph or other,
:func:`inner_picture` looks for the largest continuous-tone region (cells of a 256-px copy where nearly every pixel
differs from its neighbours: noise and texture, which rendered lines, text, flat fills and smooth colour maps do not
have); when that region covers ``INNER_MIN_SHARE``-``INNER_MAX_SHARE`` of the panel, the region alone is classified
(one more EfficientNet forward for such panels only) and a picture type (microscopy, diffraction, photo) with
probability >= ``INNER_MIN_PROB`` replaces the panel's type: the panel is typed by the picture it shows.

The panel's own caption segment is a second opinion (:func:`caption_cue`, :func:`fuse`): "Schematic of …",
"TEM image of …", "SAED pattern", "XRD patterns of …" name the kind of picture. In a segment shared by several
labels the words naming the panel's own label decide ("A HAADF-STEM image (f) and the corresponding EELS profiles
(g)"); else the kind the segment names first (its head: "TEM image and the corresponding SAED pattern" is a
micrograph). Where no word names a kind of picture, spelled-out technique names do (``keywords.TECHNIQUE_KIND``).
The cue wins over the image classifier unless that is near-certain (``CAPTION_OVERRIDE_BELOW``). Where the segment
names no kind, the panel's caption as indexed (shared text + segment, or the whole caption) speaks: for an
unlabelled panel as its own caption, for a labelled one only when it names one kind and the classifier is unsure
(``CONTEXT_OVERRIDE_BELOW``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.indexer.figures.keywords import TECHNIQUE_KIND, technique_pattern

PANEL_TYPES = ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
WEIGHTS_NAME = "panel-type"
STATS_DIM = 11

_lock = threading.Lock()
_model: dict[str, Any] | None = None

# Words of a caption segment that name the kind of picture (1-D spectra and patterns are plots: "graph"; 2-D
# diffraction patterns and FFTs are "diffraction"). Matched case-sensitively for acronyms, else case-insensitively.
_CUES: dict[str, tuple[str, ...]] = {
    "microscopy": (
        r"\b(?:HR-?|S|HAADF-?S?|ABF-?S?|BF-?|ADF-?|FE-?|cryo-?)?(?:TEM|SEM|STEM)\b(?![- ](?:spectr|EDS|EDX|EELS))",
        r"(?i:\bmicrograph|\belectron microscop|\bAFM\b|\bSTM\b(?! spectr)|\belemental map|\bEDS map|\bEDX map)",
        r"(?i:\b(?:bright|dark)[- ]field\b|\bfluorescence image|\bconfocal\b|\boptical micro)",
        # an inverse Fourier transform is a real-space image; "EDX) mapping": an elemental map
        r"\bIFFT\b|(?i:\binverse (?:FFT|fast fourier|fourier))|(?i:\b(?:EDS|EDX|EDXS|EELS)\)?\s+(?:elemental\s+)?map)",
    ),
    "diffraction": (
        r"\b(?<!nverse )(?:SAED|FFT|CBED|NBED)\b",
        r"(?i:(?<!x-ray )\belectron diffraction|\bdiffractogram|\bKikuchi)",
        # an inverse one is a real-space image; Fourier-transform infrared (FTIR) is a spectrum
        r"(?i:(?<!inverse )(?<!fast )\b(?:fast )?fourier transform(?:ed)?(?![- ]infrared|[- ]IR\b))",
        r"\b(?:SA)?ED patterns?\b",  # "simulated ED patterns" (electron diffraction)
    ),
    "graph": (
        r"\b(?:XRD|XPS|FTIR|FT-IR|UV-?vis|Raman|EELS(?!\)?\s+(?:elemental\s+)?map)|XANES|EXAFS|TGA|DSC|BET)\b",
        r"(?i:\bspectr(?:um|a)\b|\bcurves?\b|\bplots?\b|\bprofiles?\b|\bhistograms?\b|\bdistributions?\b)",
        r"(?i:\bline[- ]scans?\b|\bheat[- ]?maps?\b)",  # a heat map: a matrix plot (session 12)
        r"(?i:\bisotherms?\b|\bvoltammogram|\bnyquist\b|\bas a function of\b|\bversus\b|\bvs\.? )",
        r"(?i:\bx-ray diffraction\b|\bpatterns? of .{0,40}\b(?:XRD|x-ray)\b)",
    ),
    "illustration": (
        r"(?i:\bschematic|\billustration\b|\bdiagram\b|\bcartoon\b|\bstructural model|\bscheme\b)",
        r"(?i:\b(?:3D|3-D|atomic|atomistic|ball[- ]and[- ]stick|crystal|structure) models?\b)",
        # session 12: a drawing named by what it is ("Conceptual sketch of …", "Illustrated workflow …", flow charts)
        r"(?i:\bsketch(?:es|ed)?\b|\billustrated\b|\bworkflows?\b|\bflow[- ]?charts?\b)",
    ),
    "photo": (r"(?i:\bphotograph|\bphoto\b|\bdigital image|\bcamera\b)",),
}


def _either(patterns: Sequence[str]) -> re.Pattern[str]:
    """One pattern matching where any of ``patterns`` does (its search finds the leftmost start of any)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_CUE_RES = {kind: _either(pats) for kind, pats in _CUES.items()}
# Technique names (keywords.TECHNIQUES, "X-ray photoelectron spectroscopy", "cyclic voltammetry", "atomic force
# microscopy"): the kind their data is shown as (keywords.TECHNIQUE_KIND). A weaker cue, read only where the words
# above name no kind of picture ("STEM-EDS spectra" is a spectrum although STEM is a microscopy technique).
_TECHNIQUE_RES = {
    kind: _either([technique_pattern(t, short_acronyms=False).pattern for t, k in TECHNIQUE_KIND.items() if k == kind])
    for kind in sorted(set(TECHNIQUE_KIND.values()))
}
CAPTION_OVERRIDE_BELOW = 0.97  # the classifier keeps its type only when at least this sure of another
CONTEXT_OVERRIDE_BELOW = 0.8  # the same for a cue of the panel's wider caption text (see fuse)

# A picture inside plot axes (see the module doc): the region's share of the panel (cells), how much of its box the
# textured cells fill, and how sure the classifier must be of the region's picture type.
INNER_MIN_SHARE, INNER_MAX_SHARE, INNER_MIN_FILL, INNER_MIN_PROB = 0.15, 0.9, 0.6, 0.5
_INNER_SIDE, _INNER_CELL = 256, 6
_AXES_TYPES = ("graph", "other")  # types a picture inside axes is mistaken for
_PICTURE_TYPES = ("microscopy", "diffraction", "photo")


def _first_matches(text: str) -> dict[str, re.Match[str]]:
    """kind -> its first cue in ``text`` (the words naming a kind of picture; where there are none, the technique
    names)."""
    for table in (_CUE_RES, _TECHNIQUE_RES):
        out: dict[str, re.Match[str]] = {}
        for kind, rx in table.items():
            m = rx.search(text)
            if m is not None:
                out[kind] = m
        if out:
            return out
    return {}


def _first_cues(text: str) -> dict[str, int]:
    """kind -> where in ``text`` its first cue starts (see :func:`_first_matches`)."""
    return {kind: m.start() for kind, m in _first_matches(text).items()}


# A noun that names a picture, in a cue or within three words after it ("SEM image", "XRD patterns of", "TEM
# micrograph"): a cue with one names what is shown; a bare technique name ("SEM datasets", "BF-STEM and tilted
# CTEM", "for TEM analysis") only says how the data were taken.
_PICTURE_NOUN = re.compile(
    r"(?i:\b(?:images?|imaging|micrographs?|photo(?:graph)?s?|patterns?|spectr(?:um|a)|maps?|mapping|plots?"
    r"|curves?|profiles?|histograms?|diagrams?|schematics?|illustrations?|views?|models?|tomogra\w*|scans?"
    r"|heat ?maps?|isotherms?|voltammograms?|diffractograms?|cartoons?|schemes?)\b)"
)
_NEXT_WORDS = re.compile(r"^[\W_]{0,3}(?:[\w-]+[\W_]{1,3}){0,3}")


def _names_picture(text: str, m: re.Match[str]) -> bool:
    """Whether cue ``m`` of ``text`` names a picture (a picture noun in it or within three words after it)."""
    nxt = _NEXT_WORDS.match(text[m.end() :])
    return bool(_PICTURE_NOUN.search(m.group(0)) or (nxt and _PICTURE_NOUN.search(nxt.group(0))))


def _label_words(segment: str, label: str) -> str:
    """The words that name ``label`` in a segment shared by several labels: "A HAADF-STEM image (f) and the
    corresponding EELS profiles (g)" gives f "A HAADF-STEM image" and g "and the corresponding EELS profiles" (the
    text between the previous label mention and each mention of the label)."""
    from matsearch.indexer.figures.captions import normalize_label, parse_label_list

    lab = normalize_label(label)
    parts, prev = [], 0
    for m in re.finditer(r"\(([^()]{1,20})\)", segment):
        labs = parse_label_list(m.group(1))
        if not labs or not all(re.fullmatch(r"[a-z](?:\d{1,2})?|[ivx]+", x) for x in labs):
            continue  # "(SEM)", "(010)": not a label mention
        if lab in labs:
            parts.append(segment[prev : m.start()])
        prev = m.end()
    return " ".join(parts)


# text that does not name the panel's picture: what an inset shows ("(inset cartoon showing …)", "Inset shows the
# SAED pattern."), and error statistics ("Error bars are SEM", "± 2 SEM": the standard error of the mean)
_NOT_THE_PICTURE = re.compile(
    r"\([^()]*\binsets?\b[^()]*\)|(?:^|(?<=[.;]\s))(?:[Tt]he\s+)?[Ii]nsets?\b[^.;]*[.;]?"
    r"|(?i:\berror bars?\b[^.;]*)|±\s*(?:\d+\s*)?(?:SEM|s\.e\.m\.)"
)


def caption_cue(segment: str | None, label: str | None = None) -> str | None:
    """The kind of picture a panel's caption segment names for it, or None. The words naming the panel's own label
    in a shared segment decide when they name one kind ("A HAADF-STEM image (f) and the corresponding EELS profiles
    (g)": f microscopy, g graph); else a segment naming one kind gives it; else, when it names several ("TEM image
    and the corresponding SAED pattern", "HR-TEM images of … (f) and high-magnified image (g) … FFT …"), the kind
    named FIRST: the head of a sub-caption names its picture, later kinds are insets, companions or comparisons.
    What the caption says an inset shows, and error statistics, are left out (:data:`_NOT_THE_PICTURE`)."""
    if not segment:
        return None
    segment = _NOT_THE_PICTURE.sub(" ", segment)
    if label:
        own = _first_cues(_label_words(segment, label))
        if len(own) == 1:
            return next(iter(own))
    cues = _first_cues(segment)
    return min(cues, key=lambda k: cues[k]) if cues else None


caption_type = caption_cue  # the one contract: the cue :func:`fuse` uses (older name, kept for callers)


def fuse(
    kind: str, prob: float, segment: str | None, label: str | None = None, context: str | None = None
) -> tuple[str, float]:
    """The image classifier's (type, probability) corrected by the caption's cue (see the module doc and
    :func:`caption_cue`; pass the panel's ``label`` so a segment shared by several panels speaks for each).

    The panel's own segment speaks first. Where it names no kind of picture (or there is none), ``context`` — the
    panel's caption as indexed: the figure's shared text + its segment, or the whole caption — does: as strongly
    for an unlabelled panel (``label`` None: the caption is its own), more weakly for a labelled one (a title
    naming one kind, "SEM images of …", speaks for all panels; the classifier keeps its type when
    ``CONTEXT_OVERRIDE_BELOW`` sure)."""
    cue, limit = caption_cue(segment, label), CAPTION_OVERRIDE_BELOW
    if cue is None and context and context != segment:
        if label is None:  # the caption is the panel's own; a bare technique name in it speaks more weakly
            text = _NOT_THE_PICTURE.sub(" ", context)
            matches = _first_matches(text)
            if matches:
                cue = min(matches, key=lambda k: matches[k].start())
                if not _names_picture(text, matches[cue]):
                    limit = CONTEXT_OVERRIDE_BELOW
        else:  # a title naming several kinds ("HRTEM image and structural models of ...") speaks for none
            kinds = _first_cues(_NOT_THE_PICTURE.sub(" ", context))
            cue, limit = (next(iter(kinds)) if len(kinds) == 1 else None), CONTEXT_OVERRIDE_BELOW
    if cue is None or cue == kind or prob >= limit:
        return kind, prob
    return cue, 0.6


def image_stats(image: Image.Image) -> np.ndarray:
    """Cheap statistics that separate plots and drawings from images (11 values, roughly 0..1)."""
    im = image.convert("RGB")
    im.thumbnail((256, 256))
    rgb = np.asarray(im, dtype=np.uint8)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255
    white = float(((gray > 235) & (sat < 0.1)).mean())
    black = float((gray < 25).mean())
    edges = cv2.Canny(gray, 60, 160)
    edge_density = float((edges > 0).mean())
    q = (rgb // 32).astype(np.int32)
    colours = len(np.unique(q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]))
    dark = gray < 128
    hline = float(dark.mean(axis=1).max()) if dark.size else 0.0
    vline = float(dark.mean(axis=0).max()) if dark.size else 0.0
    g = gray.astype(np.float32)
    g = (g - g.mean()) / (g.std() + 1e-6)
    sym = float((g * g[::-1, ::-1]).mean())  # centrosymmetry (diffraction patterns, FFTs)
    h, w = gray.shape
    return np.asarray(
        [
            white,
            black,
            float(sat.mean()),
            float(gray.std()) / 128,
            edge_density * 4,
            np.log1p(colours) / np.log(513),
            hline,
            vline,
            sym,
            float(np.clip(w / max(1, h), 0.2, 5) / 5),
            float(np.abs(np.diff(g, axis=1)).mean()) / 2,
        ],
        dtype=np.float32,
    )


def _longest_run(coverage: np.ndarray) -> tuple[int, int]:
    """[start, end) of the longest run of rows (columns) covered at least half as much as the best one."""
    ok = coverage >= 0.5 * float(coverage.max())
    best, start, run, run_start = 0, 0, 0, 0
    for i, v in enumerate(ok):
        run = run + 1 if v else 0
        if run == 1:
            run_start = i
        if run > best:
            best, start = run, run_start
    return start, start + best


def inner_picture(image: Image.Image) -> tuple[tuple[int, int, int, int], float, float] | None:
    """The largest continuous-tone region of a panel: (box in the image's pixels, share of the panel's area, share
    of the box its textured cells fill), or None. A cell (6 px of a copy at most 256 px long, nearest-neighbour so
    pixel noise survives) is textured when >= 90 % of its pixels differ by >= 4 grey levels from a 3x3 neighbour;
    the largest 4-connected group of textured cells, trimmed to its longest well-covered rows and columns (so an
    axis label or a colour bar touching it is cut off), is the region."""
    im = image.convert("RGB")
    w0, h0 = im.size
    s = min(1.0, _INNER_SIDE / max(w0, h0))
    size = (max(3 * _INNER_CELL, round(w0 * s)), max(3 * _INNER_CELL, round(h0 * s)))
    small = im.resize(size, Image.Resampling.NEAREST)
    gray = cv2.cvtColor(np.asarray(small, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    k3 = np.ones((3, 3), np.uint8)
    textured = (cv2.dilate(gray, k3).astype(np.int16) - cv2.erode(gray, k3).astype(np.int16)) >= 4
    ch, cw = gray.shape[0] // _INNER_CELL, gray.shape[1] // _INNER_CELL
    cells = textured[: ch * _INNER_CELL, : cw * _INNER_CELL].reshape(ch, _INNER_CELL, cw, _INNER_CELL).mean(axis=(1, 3))
    n, lab, stats, _ = cv2.connectedComponentsWithStats((cells >= 0.9).astype(np.uint8), connectivity=4)
    if n <= 1:
        return None
    comp = lab == 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
    y0, y1 = _longest_run(comp.mean(axis=1))
    x0, x1 = _longest_run(comp[y0:y1].mean(axis=0))
    ya, yb = _longest_run(comp[:, x0:x1].mean(axis=1))
    y0, y1 = max(y0, ya), min(y1, yb)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    sx, sy = small.width / w0, small.height / h0
    box = (
        int(x0 * _INNER_CELL / sx),
        int(y0 * _INNER_CELL / sy),
        int(min(w0, x1 * _INNER_CELL / sx)),
        int(min(h0, y1 * _INNER_CELL / sy)),
    )
    share = (x1 - x0) * (y1 - y0) / (ch * cw)
    return box, float(share), float(comp[y0:y1, x0:x1].mean())


# A plot's frame (session 12): an L corner of axis lines with >= FRAME_MIN_TICKS evenly spaced tick marks on each axis
# (the plot digitiser's own axis and tick finders, no OCR), looked for on panels the classifier itself calls a
# micrograph less than FRAME_OVERRIDE_BELOW sure; such a panel is a plot (a spectrum or map drawn on a dark ground).
FRAME_MIN_TICKS, FRAME_EVEN, FRAME_OVERRIDE_BELOW, _FRAME_SIDE = 3, 0.8, 0.97, 700


def plot_frame(image: Image.Image) -> bool:
    """Whether ``image`` draws a plot frame: axis lines meeting in an L corner (``plots.axes``' corner search) and
    >= :data:`FRAME_MIN_TICKS` tick marks on both axes, >= :data:`FRAME_EVEN` of the gaps between them within 15 %
    of the median gap on at least one axis. Read on a copy at most 700 px long; ~0.1-0.4 s."""
    from matsearch.indexer.plots import axes as ax

    im = image.convert("RGB")
    s = min(1.0, _FRAME_SIDE / max(im.size))
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    rgb = np.asarray(im)
    if min(rgb.shape[:2]) < 40:
        return False
    bg = ax.background_color(rgb)
    chosen, dark = ax._axis_lines(ax._Pixels(rgb, bg), ax.ink_mask(rgb, bg))
    if chosen is None:
        return False
    xs, ys = chosen
    if ys is None:
        return False
    x0, y0, x1, y1 = int(round(ys.c)), ys.s, xs.e, int(round(xs.c))
    ticks = (ax.find_ticks(dark, xs, True, x0 + 2, x1)[0], ax.find_ticks(dark, ys, False, y0, y1 - 2)[0])
    if min(len(t) for t in ticks) < FRAME_MIN_TICKS:
        return False
    even = []
    for t in ticks:
        gaps = np.diff(sorted(t))
        med = float(np.median(gaps))
        even.append(float(np.mean(np.abs(gaps - med) <= 0.15 * med + 1)))
    return max(even) >= FRAME_EVEN


# A read scale bar (session 12): a panel typed photo or illustration whose bar (OCR or caption value on a found bar)
# is shorter than 1 mm shows a magnified real-space picture: a micrograph. Camera photos carry cm / mm bars.
SCALE_CUE_TYPES, SCALE_CUE_MAX_NM = ("photo", "illustration"), 1e6


def scale_cue(kind: str | None, prob: float | None, reading: dict[str, Any] | None) -> tuple[str | None, float | None]:
    """The type after the panel's scale reading (``ScaleReading.to_dict()``, best first; see :data:`SCALE_CUE_TYPES`):
    microscopy (confidence 0.6) when the reading gives nm/px from a real-space bar of less than 1 mm, else unchanged."""
    if kind not in SCALE_CUE_TYPES or not reading or reading.get("nm_per_px") is None or reading.get("reciprocal"):
        return kind, prob
    if reading.get("source") not in ("ocr", "caption") or reading.get("value") is None or not reading.get("unit"):
        return kind, prob
    from matsearch.indexer.figures.units import to_nm

    nm = to_nm(float(reading["value"]), str(reading["unit"]))
    if nm is None or nm >= SCALE_CUE_MAX_NM:
        return kind, prob
    return "microscopy", 0.6


def image_vectors_of(images: Sequence[Image.Image], settings: Settings) -> np.ndarray:
    """EfficientNet-Lite0 vectors of ``images`` (what the classifier was trained on)."""
    from matsearch.encoders import get_encoder

    return get_encoder("efficientnet-lite0", settings).encode(list(images))


def features(images: Sequence[Image.Image], image_vectors: np.ndarray) -> np.ndarray:
    """(n, 1280 + STATS_DIM) features: L2-normalised EfficientNet-Lite0 vectors and image statistics."""
    stats = np.stack([image_stats(im) for im in images]) if len(images) else np.zeros((0, STATS_DIM), np.float32)
    return np.concatenate([np.asarray(image_vectors, dtype=np.float32), stats], axis=1)


def _load() -> dict[str, Any]:
    global _model
    with _lock:
        if _model is None:
            import torch

            from matsearch.encoders.weights import locate

            raw = torch.load(locate(WEIGHTS_NAME), map_location="cpu", weights_only=True)
            _model = {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in raw.items()}
        return _model


def predict_proba(feats: np.ndarray) -> np.ndarray:
    m = _load()
    x = (feats - m["mean"]) / m["std"]
    logits = x @ m["coef"].T + m["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def classes() -> list[str]:
    return [str(c) for c in _load()["classes"]]


def classify_panels(
    images: Sequence[Image.Image],
    image_vectors: np.ndarray,
    encode: Callable[[list[Image.Image]], np.ndarray] | None = None,
) -> list[tuple[str, float]]:
    """(type, probability) per panel image, from the panels' EfficientNet vectors (``image_vectors_of``).

    Panels typed graph/other that show a picture inside plot axes are typed by that picture (module doc); its
    EfficientNet vector comes from ``encode`` (the caller's image encoder; default: the one of ``Settings()``)."""
    if not images:
        return []
    p = predict_proba(features(images, image_vectors))
    names = classes()
    out = [(names[int(i)], float(p[k, int(i)])) for k, i in enumerate(p.argmax(axis=1))]
    for k, (kind, prob) in enumerate(out):  # a "micrograph" that draws a plot frame is a plot (see plot_frame)
        if kind == "microscopy" and prob < FRAME_OVERRIDE_BELOW and plot_frame(images[k]):
            out[k] = ("graph", 0.6)
    todo: list[tuple[int, Image.Image]] = []
    for k, (kind, _) in enumerate(out):
        if kind not in _AXES_TYPES:
            continue
        found = inner_picture(images[k])
        if found is None:
            continue
        box, share, fill = found
        if INNER_MIN_SHARE <= share < INNER_MAX_SHARE and fill >= INNER_MIN_FILL:
            todo.append((k, images[k].convert("RGB").crop(box)))
    if todo:
        crops = [c for _, c in todo]
        vectors = encode(crops) if encode is not None else image_vectors_of(crops, Settings())
        q = predict_proba(features(crops, np.asarray(vectors, dtype=np.float32)))
        for (k, _), row in zip(todo, q, strict=True):
            kind = names[int(row.argmax())]
            if kind in _PICTURE_TYPES and float(row.max()) >= INNER_MIN_PROB:
                out[k] = (kind, float(row.max()))
    return out
