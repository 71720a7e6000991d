"""STEM image queries: decode (8/16-bit PNG/TIFF, RGB, float, .npy), bring to the library pixel size, encode, search.

``search_stem`` is what ``matsearch.search.figures.search_image`` runs for ``collection="stem"``
(HTTP ``POST /v1/search/image?collection=stem``
and ``matsearch search image FILE --collection stem``): hits are distinct structures, each with its best zone axis,
and nothing is returned when the best match is not confident (``stem_physics.candidate_confidence``).

Pixel size: ``nm_per_px`` when given, else a microscope file's own (``decode_query``, ``matsearch.core.micrographs``);
the image is then resampled to the library's 0.025 nm/px (0.25 Å/px). Without any, the pixel size is estimated from
the lattice (``stem_physics``: each candidate's spot match implies one; otherwise a scale search around the
autocorrelation period). The re-rank and the abstain rule are in ``matsearch.search.stem_physics``.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from matsearch.core.errors import BadInput, TooLarge, UnsupportedMedia
from matsearch.core.filters import Filter
from matsearch.core.images import check_pixels
from matsearch.core.micrographs import Stack
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.base import Encoder
from matsearch.encoders.stem import FUSE_CNN as _FUSE_CNN
from matsearch.encoders.stem import LAT_NTHETA
from matsearch.encoders.stem_library import (
    LATTICE_ALT_KEY,
    LATTICE_KEY,
    LIBRARY_PX,
    LIBRARY_SIZE,
    MOTIF_KEY,
    SPOTS_KEY,
)
from matsearch.encoders.stem_motif import ViewMotif
from matsearch.search.common import to_hits
from matsearch.store import Store
from matsearch.store.base import ScoredHit, VectorQuery

ENCODER = "stem-fused"  # trained CNN + power-spectrum descriptor, see matsearch.encoders.stem
FUSE_CNN = _FUSE_CNN  # score = FUSE_CNN * cos(cnn) + (1 - FUSE_CNN) * cos(fft)
COLLECTION = "stem"
VECTOR = "stem"
# Score below which hits are not listed, and below which the search abstains when the calibrated confidence does
# not decide (no pixel size, or no measured query lattice; otherwise ``stem_physics.CONF_THRESHOLD``, session 11);
# chosen on the evaluation's synthetic tune split (bench/results/eval_stem.json, "abstain" block).
# spectrum (best of the 3 references) + motif bonus - lattice penalty: ~8 % false rejects on the tune split (0.75
# before the ring weighting of session 8, which lowers every score; 0.71 before the alternate references)
DEFAULT_SCORE_THRESHOLD = 0.67
RERANK_K = 150  # library images re-ranked (known scale), the best of RERANK_POOL by ``stem_physics.prefilter``
# Known scale (session 10): stage 1 fetches RERANK_POOL images by the descriptor's cosine; the RERANK_K of them whose
# clean reference's lattice spectrum best fits the query's at the nominal scale (``stem_physics.prefilter``) are
# re-ranked (before: the 500 best by cosine, which left the true structure out for ~7 % of synthetic queries).
# Synthetic tune split (4 seeds) + train-structure dev queries (2 seeds), 1,172 queries, top-5 mean 0.876 -> 0.899
# (pool 1,500: 0.917, but +22-26 CPU-ms per query at 20k points; K 150-300 of a 1,000 pool give the same top-5);
# bench queries paired CPU p50 -1.6 ms (docs/stem.md, session 10).
RERANK_POOL = 1000
UNKNOWN_HYPOTHESES = 8  # scale guesses for the first stage when no pixel size is given ...
UNKNOWN_K = 60  # ... library images fetched for each (before session 11; now UNKNOWN_POOL, then UNKNOWN_RERANK_K)
# Unknown pixel size (session 11): stage 1 fetches UNKNOWN_POOL images per scale hypothesis by the descriptor's
# cosine; the UNKNOWN_RERANK_K of their union whose clean reference spectrum best fits the query's at any scale of
# the fallback grid (``stem_physics.prefilter_unknown``) are re-ranked: the known size's pool-then-spectrum rule.
# Before, the 60 best by cosine per hypothesis never held the real MoS2 crops' MoS2 views (docs/stem.md, session 11).
UNKNOWN_POOL = 500  # 1,000 gave the same tune top-5 (35 queries) and real dev ranks, at ~2x the prefilter's cost
UNKNOWN_RERANK_K = 480  # = the 8 x 60 the re-rank saw before
UNKNOWN_SPACING = (1.7, 4.6)  # Å: range of the nearest strong lattice period searched when the scale is unknown
UNKNOWN_SCALES = 24  # log-spaced scale steps (~4 %) over that range in the re-rank
MIN_NM_PER_PX = 0.001  # 0.01 Å/px: finer than any STEM scan
MAX_NM_PER_PX = 0.1  # 1 Å/px: atomic columns (≈ 1.5-4 Å apart) are no longer resolved
MIN_FIELD_PX = 48  # at library scale (12 Å): fewer than ~3 unit cells cannot be matched
MAX_CROPS = 4
SPACING_HYPOTHESES = (2.0, 2.75, 3.8)  # Å: nearest strong lattice period, when no pixel size is given
OVERFETCH = 8  # library points fetched per requested hit (several zone axes per structure collapse to one)
# Stage 1 with a known pixel size: the CNN block of the fused query vector is used only when this is on. Off: on the
# synthetic test split the descriptor alone recalls as well as the fusion (top-5 0.534 vs 0.514 before the re-rank)
# and the CNN is ~2/3 of the query time (docs/stem.md).
STAGE1_CNN = False
WORK_PERIOD_PX = 12.0  # unknown pixel size: the working image is shrunk until the lattice period is about this


def decode_array(data: bytes, filename: str, settings: Settings) -> np.ndarray:
    """2-D float64 array from .npy, TIFF (8/16/32-bit, float) or any image ``load_image`` accepts."""
    from matsearch.core.images import load_image

    what = filename or "upload"
    if not data:
        raise BadInput(f"{what} is an empty file (0 bytes)")
    if len(data) > settings.max_upload_bytes:
        raise TooLarge(f"{what} is {len(data)} bytes; the limit is {settings.max_upload_bytes} bytes")
    arr: np.ndarray
    if data[:6] == b"\x93NUMPY" or what.lower().endswith(".npy"):
        from matsearch.core.images import npy_header_check

        npy_header_check(data, settings, what=what)  # np.load allocates what the header claims, before reading
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise BadInput(f"{what} is not a readable .npy array: {exc}") from exc
        if arr.dtype.kind not in "biuf":
            raise UnsupportedMedia(f"{what}: .npy of dtype {arr.dtype} is not an image (need numbers)")
    elif data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        from matsearch.core.images import tiff_first_page

        arr = np.asarray(tiff_first_page(data, settings, what=what))  # the pixel limit is checked on the header
        if arr.size == 0:
            raise BadInput(f"{what} is not a readable TIFF: no image data")
    else:
        image = load_image(data, settings, what=what)
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(image, dtype=np.float64)
        else:
            arr = np.asarray(image.convert("RGBA" if "A" in image.mode or image.mode == "P" else "RGB"))
    return to_2d(arr, what, settings)


def to_2d(arr: np.ndarray, what: str, settings: Settings) -> np.ndarray:
    """Validate an image array and reduce it to 2-D float64 grey (RGB(A) averaged, NaN/inf filled with median)."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise UnsupportedMedia(f"{what}: array of dtype {arr.dtype} is not an image")
    arr = np.squeeze(arr)
    if arr.ndim == 3 and min(arr.shape[-1], arr.shape[0]) in (3, 4):
        hw = arr.shape[:2] if arr.shape[-1] in (3, 4) else arr.shape[1:]
        check_pixels(int(hw[1]), int(hw[0]), settings, what=what)  # before any float copy of the channels
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(axis=2, dtype=np.float64)  # accumulates without a float copy of all channels
    elif arr.ndim == 3 and arr.shape[0] in (3, 4):  # channels-first
        arr = arr[:3].mean(axis=0, dtype=np.float64)
    if arr.ndim != 2:
        raise BadInput(f"{what}: expected a 2-D image (or RGB), got an array of shape {arr.shape}")
    h, w = arr.shape
    if h * w > settings.max_image_pixels:
        raise TooLarge(f"{what} is {w}x{h} = {h * w} pixels; the limit is {settings.max_image_pixels} pixels")
    if min(h, w) < 16:
        raise BadInput(f"{what} is {w}x{h} pixels; a STEM query needs at least 16 px per side")
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        if finite.mean() < 0.5:
            raise BadInput(f"{what}: {100 * (1 - finite.mean()):.0f}% of the pixels are NaN or infinite")
        arr = np.where(finite, arr, float(np.median(arr[finite])))
    if float(np.ptp(arr)) <= 1e-12 * max(1.0, float(np.abs(arr).max())):
        raise BadInput(f"{what} is constant (no contrast): nothing to match")
    return arr


def check_nm_per_px(nm_per_px: float | None) -> float | None:
    if nm_per_px is None:
        return None
    if not isinstance(nm_per_px, int | float) or not math.isfinite(nm_per_px) or nm_per_px <= 0:
        raise BadInput(f"nm_per_px must be a positive number, got {nm_per_px!r}")
    if nm_per_px < MIN_NM_PER_PX or nm_per_px > MAX_NM_PER_PX:
        raise BadInput(
            f"nm_per_px={nm_per_px:g} is outside the atomic-resolution range "
            f"{MIN_NM_PER_PX:g}-{MAX_NM_PER_PX:g} nm/px (columns must be resolved)"
        )
    return float(nm_per_px)


def resample(arr: np.ndarray, factor: float) -> np.ndarray:
    """Zoom by ``factor`` (< 1 shrinks) with an anti-alias prefilter; float32 in [0, 1]."""
    arr = np.asarray(arr, dtype=np.float64)
    if factor < 1.0:
        arr = ndimage.gaussian_filter(arr, sigma=0.5 / factor * 0.8)
    h, w = arr.shape
    nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
    img = Image.fromarray(arr.astype(np.float32), mode="F").resize((nw, nh), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def crops(arr: np.ndarray, size: int = LIBRARY_SIZE, max_crops: int = MAX_CROPS) -> list[np.ndarray]:
    """Square windows of ``size`` covering the image (centre first); smaller images are mirror-padded."""
    h, w = arr.shape
    if min(h, w) < MIN_FIELD_PX:
        raise BadInput(
            f"field of view is {w}x{h} px at the library scale ({w * LIBRARY_PX / 10:.1f} x "
            f"{h * LIBRARY_PX / 10:.1f} nm); at least {MIN_FIELD_PX * LIBRARY_PX / 10:.1f} nm per side is needed"
        )
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        arr = np.pad(arr, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), mode="reflect")
        h, w = arr.shape
    out = [arr[(h - size) // 2 : (h - size) // 2 + size, (w - size) // 2 : (w - size) // 2 + size]]
    if max_crops > 1 and (h >= 2 * size or w >= 2 * size):
        for r in (0, h - size):
            for c in (0, w - size):
                out.append(arr[r : r + size, c : c + size])
    return [np.ascontiguousarray(c) for c in out[:max_crops]]


def dominant_period_px(arr: np.ndarray) -> float:
    """Shortest strong lattice period (px) of an image, from its autocorrelation (first ring maximum)."""
    a = np.asarray(arr, dtype=np.float64)
    a = a[: min(a.shape[0], 512), : min(a.shape[1], 512)]
    a = a - a.mean()
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    f = np.fft.rfft2(a * win)
    ac = np.fft.fftshift(np.fft.irfft2(np.abs(f) ** 2, s=a.shape))
    cy, cx = a.shape[0] // 2, a.shape[1] // 2
    yy, xx = np.indices(a.shape)
    r = np.hypot(yy - cy, xx - cx)
    rmax = min(cy, cx) * 0.6
    ac = ac / (ac[cy, cx] + 1e-12)
    # Maxima of the autocorrelation (excluding the centre peak): the nearest strong one is the period.
    local = (ac == ndimage.maximum_filter(ac, size=5)) & (r > 2.5) & (r < rmax) & (ac > 0.15)
    if not local.any():
        return float("nan")
    rs = r[local]
    vals = ac[local]
    strong = rs[vals > 0.5 * vals.max()]
    return float(strong.min())


@dataclass
class PreparedQuery:
    """Crops at the library scale, one group per pixel-size hypothesis."""

    groups: list[list[np.ndarray]]
    px_angstrom: list[float]  # the query pixel size assumed by each group
    full: list[np.ndarray]  # the resampled image (central <= 256 px) per group, for the power spectrum


def prepare(arr: np.ndarray, nm_per_px: float | None) -> PreparedQuery:
    """Resample a validated 2-D image to the library pixel size (known or hypothesised) and cut crops."""
    nm = check_nm_per_px(nm_per_px)
    if nm is not None:
        px_list = [nm * 10.0]
    else:
        period = dominant_period_px(arr)
        if not math.isfinite(period) or period <= 0:
            px_list = [LIBRARY_PX]  # no lattice found: assume the library scale
        else:
            px_list = [s / period for s in SPACING_HYPOTHESES]
    groups, fulls, used = [], [], []
    for px in px_list:
        factor = px / LIBRARY_PX
        # Huge images: only the central region that becomes at most 4 library windows (256 px) matters.
        need = int(math.ceil(max(2 * LIBRARY_SIZE, 256) / factor)) + 4
        h, w = arr.shape
        sub = arr[
            max(0, (h - need) // 2) : max(0, (h - need) // 2) + need,
            max(0, (w - need) // 2) : max(0, (w - need) // 2) + need,
        ]
        img = resample(stretch(sub), factor)
        try:
            groups.append(crops(img))
        except BadInput:
            if nm is not None or (px == px_list[-1] and not groups):
                raise
            continue  # a scale hypothesis that leaves too small a field: try the others
        h2, w2 = img.shape
        r, c = max(0, (h2 - 256) // 2), max(0, (w2 - 256) // 2)
        fulls.append(img[r : r + 256, c : c + 256])
        used.append(px)
    return PreparedQuery(groups, used, fulls)


def stretch(arr: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(arr, [0.5, 99.5])
    if not hi > lo:
        lo, hi = float(arr.min()), float(arr.max())
    return np.clip((arr - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)


def embed(prepared: PreparedQuery, settings: Settings) -> np.ndarray:
    """One L2-normalised ``stem-fused`` vector per hypothesis: the CNN part is the mean of the crops' embeddings,
    the power-spectrum part comes from the whole resampled field."""
    from matsearch.encoders.stem import fuse

    cnn = embed_crops(prepared, get_encoder("stem-cnn", settings))
    fft = get_encoder("stem-fft", settings).encode(prepared.full)
    return fuse(cnn, fft)


def embed_crops(prepared: PreparedQuery, encoder: Encoder) -> np.ndarray:
    """One L2-normalised vector per hypothesis: the mean of its crops' embeddings by ``encoder``."""
    flat = [c for g in prepared.groups for c in g]
    vecs = encoder.encode(flat)
    out, i = [], 0
    for g in prepared.groups:
        v = vecs[i : i + len(g)].mean(axis=0)
        out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        i += len(g)
    return np.asarray(out, dtype=np.float32)


def best_per_structure(result_lists: Sequence[Sequence[ScoredHit]], limit: int) -> list[ScoredHit]:
    """Merge hit lists: one hit per structure (its best-scoring zone axis), best first."""
    best: dict[str, ScoredHit] = {}
    for hits in result_lists:
        for h in hits:
            key = str(h.payload.get("structure_id", h.id))
            if key not in best or h.score > best[key].score:
                best[key] = h
    return sorted(best.values(), key=lambda h: -h.score)[:limit]


def raw_field(arr: np.ndarray) -> np.ndarray:
    """Central <= 256² of the contrast-stretched image at its own (unknown) pixel size."""
    h, w = arr.shape
    r, c = max(0, (h - 256) // 2), max(0, (w - 256) // 2)
    return stretch(arr[r : r + 256, c : c + 256])


def stage1_vectors(arr: np.ndarray, prepared: PreparedQuery, known_px: bool, settings: Settings) -> list[np.ndarray]:
    """Vectors for the first-stage cosine search. Known pixel size: the fused vector, or with ``STAGE1_CNN`` off
    only its power-spectrum part (CNN block zero: the cosine ranks by the descriptor alone and the CNN is not run).
    Unknown pixel size: the power-spectrum part for ``UNKNOWN_HYPOTHESES`` assumed column spacings."""
    from matsearch.encoders.stem import EMBED_DIM, fft_descriptor

    if known_px:
        if STAGE1_CNN:
            return list(embed(prepared, settings))
        fft = get_encoder("stem-fft", settings).encode(prepared.full)
        return [np.concatenate([np.zeros(EMBED_DIM, np.float32), f]).astype(np.float32) for f in fft]

    period = dominant_period_px(arr)
    if not math.isfinite(period) or period <= 0:
        period = SPACING_HYPOTHESES[1] / LIBRARY_PX
    field = raw_field(arr)
    out = []
    for sp in np.exp(np.linspace(math.log(1.8), math.log(4.4), UNKNOWN_HYPOTHESES)):
        v = np.concatenate([np.zeros(EMBED_DIM, np.float32), fft_descriptor(field, px=float(sp / period))])
        out.append(v)
    return out


def lattice_scores(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Best correlation over rotation, mirror and the query's scale hypotheses.

    ``query`` (s, LAT_NK, LAT_M + 1) harmonics for s scale hypotheses (s = 1 with a known pixel size);
    ``gallery`` (c, LAT_NK, LAT_M + 1) -> (c,) scores in [-1, 1]."""
    q = np.asarray(query)
    if q.ndim == 2:
        q = q[None]
    g = np.conj(np.asarray(gallery))
    best = np.full(len(g), -np.inf, dtype=np.float64)
    if len(g) == 0:
        return best.astype(np.float32)
    for qq in (q, np.conj(q)):  # θ -> -θ (mirror) conjugates the harmonics
        s = np.einsum("skm,ckm->scm", qq, g)
        c = np.fft.irfft(s, n=LAT_NTHETA, axis=-1) * LAT_NTHETA
        best = np.maximum(best, c.max(axis=(0, 2)))
    return best.astype(np.float32)


@dataclass
class DecodedQuery:
    """A query image and what its file said about it."""

    arr: np.ndarray  # 2-D float64
    file_nm_per_px: float | None = None  # pixel size from a microscope file's metadata
    file_info: dict[str, Any] | None = None  # format, title, frames used, calibration (microscope files)


def decode_query(data: bytes, filename: str, settings: Settings, stack: Stack = "first") -> DecodedQuery:
    """Decode a query: microscope files (.dm3/.dm4/.emd/.ser/.mrc/.hspy, TIFF with instrument tags) through
    ``matsearch.core.micrographs`` with their own pixel size; other images through ``decode_array``."""
    from matsearch.core import micrographs

    what = filename or "upload"
    is_tiff = data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    if micrographs.is_microscope_file(data, filename) or is_tiff:
        try:
            mg = micrographs.read_micrograph(data, what, settings, stack=stack)
        except BadInput:
            if not is_tiff:
                raise
            mg = None  # a plain TIFF that the instrument readers do not take: decode it as an image
        if mg is not None:
            arr = to_2d(mg.data, what, settings)
            nm = mg.nm_per_px
            if nm is not None and not (MIN_NM_PER_PX <= nm <= MAX_NM_PER_PX):
                raise BadInput(
                    f"{what}: the file's pixel size is {nm:g} nm/px ({mg.calibration}), outside the "
                    f"atomic-resolution range {MIN_NM_PER_PX:g}-{MAX_NM_PER_PX:g} nm/px; pass nm_per_px to override"
                )
            return DecodedQuery(arr, nm, mg.to_payload() | {"notes": mg.notes})
    return DecodedQuery(decode_array(data, filename, settings))


def unknown_work(arr: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Working image for an unknown pixel size: the central field, shrunk so that the dominant lattice period is
    about ``WORK_PERIOD_PX`` px (more cells in 256²); returns (image, zoom factor, pixel-size hypotheses in Å per
    working px for the fallback scale search)."""
    period = dominant_period_px(arr)
    if not math.isfinite(period) or period <= 0:
        period = SPACING_HYPOTHESES[1] / LIBRARY_PX
    factor = float(min(1.0, max(0.2, WORK_PERIOD_PX / period)))
    need = int(math.ceil(256 / factor))
    h, w = arr.shape
    r, c = max(0, (h - need) // 2), max(0, (w - need) // 2)
    work = resample(stretch(arr[r : r + need, c : c + need]), factor) if factor < 1.0 else raw_field(arr)
    h2, w2 = work.shape
    work = work[max(0, (h2 - 256) // 2) : max(0, (h2 - 256) // 2) + 256, max(0, (w2 - 256) // 2) :][:, :256]
    spacings = np.exp(np.linspace(math.log(UNKNOWN_SPACING[0]), math.log(UNKNOWN_SPACING[1]), UNKNOWN_SCALES))
    return np.ascontiguousarray(work), factor, spacings / (period * factor)


# Stage 1 fetches only these payload fields: the lattice spectra (3.3 kB + 24 spots per point) were ~65 of the
# ~140 CPU-ms of a query at 20k points when every candidate's payload came back (docs/stem.md, speed). The spectra
# of a point are a pure function of its ``build_key`` (structure content hash + simulator/encoder/lattice
# versions), so they are cached per process under (point id, build key); misses are fetched once by id.
STAGE1_FIELDS = ["structure_id", "build_key"]
FEATURE_CACHE_SIZE = 40_000  # points (~10 kB each: 3 float16 spectra + spots, + the projected columns)
# harmonics (float16, (REFERENCES, 2, K, M+1): clean, thick, ABF reference), spots, column motif
_Features = tuple[np.ndarray, np.ndarray | None, ViewMotif | None]
REFERENCES = 3  # spectra per view: the clean reference and the two alternates (a point without them repeats it)
_FEATURE_CACHE: OrderedDict[tuple[str, str], _Features] = OrderedDict()
HIDDEN_KEYS = (LATTICE_KEY, LATTICE_ALT_KEY, SPOTS_KEY, MOTIF_KEY)  # re-rank inputs, stripped from returned hits
_CACHE_LOCK = threading.Lock()


def _parse_lattice(payload: dict[str, Any]) -> _Features | None:
    """(float16 (REFERENCES, 2, K, M+1) harmonics, (k, 2) spots or None, column motif or None) from a library
    payload; None without a spectrum. A point built before the alternate references repeats its one spectrum."""
    import base64

    from matsearch.encoders.stem import LAT_M, LAT_NK

    lat = payload.get(LATTICE_KEY)
    if not isinstance(lat, str):
        return None
    try:
        h16 = np.frombuffer(base64.b64decode(lat), dtype=np.float16).reshape(1, 2, LAT_NK, LAT_M + 1)
    except ValueError:
        return None
    alt = payload.get(LATTICE_ALT_KEY)
    extra = None
    if isinstance(alt, str):
        try:
            a16 = np.frombuffer(base64.b64decode(alt), dtype=np.float16).reshape(2, -1, LAT_NK, LAT_M + 1)
            extra = a16.transpose(1, 0, 2, 3)[: REFERENCES - 1]
        except ValueError:
            extra = None
    if extra is None or len(extra) != REFERENCES - 1:
        extra = np.repeat(h16, REFERENCES - 1, axis=0)
    h16 = np.concatenate([h16, extra], axis=0)
    sp = payload.get(SPOTS_KEY)
    spots = np.asarray(sp, dtype=np.float64).reshape(-1, 2) if isinstance(sp, list) and sp else None
    motif = ViewMotif.from_payload(payload.get(MOTIF_KEY)) if isinstance(payload.get(MOTIF_KEY), dict) else None
    return h16, spots, motif


def preload_lattice_cache(store: Store, collection: str = COLLECTION, page: int = 1000) -> int:
    """Fill the spectra cache from the whole collection (one scroll; ~0.3 ms per point): a long-running server's
    steady state, where every library point has been a candidate before. Returns the number of points cached."""
    n, offset = 0, None
    while n < FEATURE_CACHE_SIZE:
        records, offset = store.scroll(collection, limit=page, offset=offset)
        new = {}
        for rec in records:
            feat, bk = _parse_lattice(rec.payload), rec.payload.get("build_key")
            if feat is not None and isinstance(bk, str):
                new[(rec.id, bk)] = feat
        with _CACHE_LOCK:
            _FEATURE_CACHE.update(new)
            while len(_FEATURE_CACHE) > FEATURE_CACHE_SIZE:
                _FEATURE_CACHE.popitem(last=False)
        n += len(new)
        if offset is None:
            break
    return n


def cached_lattice_features(
    store: Store, hits: Sequence[ScoredHit], select: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[list[ScoredHit], np.ndarray, list[np.ndarray | None], list[ViewMotif | None]]:
    """Library points among stage-1 hits (which carry only ``STAGE1_FIELDS``) that have a lattice spectrum, with
    their harmonics, reference spots and column motifs: from the per-process cache, the missing ones fetched by id
    (and cached when the point has a build key). ``select`` maps the (c, K, M+1) clean reference spectra of those
    points to the indices of the ones to return (``stem_physics.prefilter``); only those get all their spectra."""
    from matsearch.encoders.stem import LAT_M, LAT_NK

    found: dict[str, _Features] = {}
    missing: list[str] = []
    with _CACHE_LOCK:  # recency is refreshed below, for the points returned
        for h in hits:
            bk = h.payload.get("build_key")
            feat = _FEATURE_CACHE.get((h.id, bk)) if isinstance(bk, str) else None
            if feat is not None:
                found[h.id] = feat
            else:
                missing.append(h.id)
    if missing:
        fetched = store.retrieve(COLLECTION, missing)
        new: dict[tuple[str, str], _Features] = {}
        for rec in fetched:
            feat = _parse_lattice(rec.payload)
            if feat is None:
                continue
            found[rec.id] = feat
            bk = rec.payload.get("build_key")
            if isinstance(bk, str):
                new[(rec.id, bk)] = feat
        with _CACHE_LOCK:
            _FEATURE_CACHE.update(new)
            while len(_FEATURE_CACHE) > FEATURE_CACHE_SIZE:
                _FEATURE_CACHE.popitem(last=False)
    cands = [h for h in hits if h.id in found]
    if not cands:
        return [], np.zeros((0, REFERENCES, LAT_NK, LAT_M + 1), np.complex64), [], []
    if select is not None:
        c16 = np.stack([found[h.id][0][0] for h in cands])  # (c, 2, K, M+1) float16: the clean references
        clean = np.empty((len(cands), *c16.shape[2:]), np.complex64)
        clean.real, clean.imag = c16[:, 0], c16[:, 1]
        cands = [cands[int(i)] for i in select(clean)]
    with _CACHE_LOCK:
        for h in cands:
            key = (h.id, str(h.payload.get("build_key")))
            if key in _FEATURE_CACHE:
                _FEATURE_CACHE.move_to_end(key)
    h16 = np.stack([found[h.id][0] for h in cands])  # (c, R, 2, K, M+1) float16
    harm = np.empty((len(cands), *h16.shape[1:2], *h16.shape[3:]), np.complex64)  # (c, R, K, M+1)
    harm.real, harm.imag = h16[:, :, 0], h16[:, :, 1]  # float16 -> float32 is exact
    return cands, harm, [found[h.id][1] for h in cands], [found[h.id][2] for h in cands]


def search_stem(
    store: Store,
    settings: Settings,
    data: bytes,
    *,
    filename: str = "upload",
    nm_per_px: float | None = None,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
    stack: Stack = "first",
) -> list[Hit]:
    """Candidate structures for a STEM image: distinct structures (best zone axis each), best first.

    The pixel size is ``nm_per_px`` when given, else the microscope file's own (``decode_query``), else estimated
    from the lattice. Two stages: cosine search on the stored ``stem-fused`` vectors (``RERANK_K`` library images;
    without a pixel size, ``UNKNOWN_HYPOTHESES`` scale guesses of the power-spectrum part), then the physics
    re-rank of ``matsearch.search.stem_physics`` (measured lattice spots vs each view's, lattice-spectrum
    correlation at the nominal and the lattice-implied scale, penalty for a contradicting lattice), which is the
    returned score. Abstain (empty list): by default, with a pixel size and a measured query lattice, when the
    calibrated confidence of the top candidate is below ``stem_physics.CONF_THRESHOLD`` (answered: the top and the
    hits whose abstain score reaches ``DEFAULT_SCORE_THRESHOLD``), otherwise when no hit reaches
    ``DEFAULT_SCORE_THRESHOLD``; an explicit ``score_threshold`` applies the score rule alone — pass 0 or a negative
    number to always get the nearest structures. Each hit carries the query's measured lattice, how its lattice
    compares with the view's (with its calibrated ``confidence`` and its ``near_identical_hits``), and where the
    pixel size came from.
    """
    from matsearch.search import stem_physics as phys

    decoded = decode_query(data, filename, settings, stack)
    arr = decoded.arr
    given = check_nm_per_px(nm_per_px)
    nm = given if given is not None else decoded.file_nm_per_px
    source = "given" if given is not None else ("file metadata" if nm is not None else "estimated from the lattice")
    known = nm is not None
    prepared = prepare(arr, nm) if known else PreparedQuery([], [], [])
    threshold = DEFAULT_SCORE_THRESHOLD if score_threshold is None else score_threshold
    confidence_rule = score_threshold is None and known  # fitted on queries with a pixel size
    vectors = stage1_vectors(arr, prepared, known, settings)
    k = max(RERANK_POOL if known else UNKNOWN_POOL, limit * OVERFETCH)
    queries = [VectorQuery(vector=v, using=VECTOR, filter=flt, limit=k, with_payload=STAGE1_FIELDS) for v in vectors]
    results = store.query_batch(COLLECTION, queries)
    pool = list({h.id: h for r in results for h in r}.values())
    if known:
        qf = phys.known_features(prepared.full[0], LIBRARY_PX)
        factor = 1.0
    else:
        work, factor, fallback = unknown_work(arr)
        qf = phys.unknown_features(work, factor, fallback)
    select = None
    if known:
        n_rerank = max(RERANK_K, limit * OVERFETCH)
        select = lambda clean: phys.prefilter(qf, clean, n_rerank)  # noqa: E731
    else:
        n_rerank = max(UNKNOWN_RERANK_K, limit * OVERFETCH)
        select = lambda clean: phys.prefilter_unknown(qf, clean, n_rerank)  # noqa: E731
    cands, harm, spots, motifs = cached_lattice_features(store, pool, select)
    groups = [str(h.payload.get("structure_id", h.id)) for h in cands]
    # default: the calibrated confidence of the top candidate decides (every candidate's motif is then compared:
    # the top may be answered below the score threshold); an explicit score_threshold keeps the score rule alone,
    # and so does a query whose lattice is not measured (the confidence was fitted on lattice images)
    confidence_rule = confidence_rule and qf.confident  # a query without a measured lattice: the score rule
    floor = None if confidence_rule else threshold
    sc = phys.score_candidates(qf, harm, spots, motifs, groups=groups, keep=limit, floor=floor)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1) if cands else np.zeros(0, np.int64)
    keep = np.nonzero(sc.abstain >= threshold)[0]
    top = int(np.argmax(sc.abstain)) if len(cands) else -1
    if confidence_rule and len(cands):
        keep = np.union1d(keep, [top])  # answered: the top, and the hits that reach the score threshold
    scored = [ScoredHit(id=cands[i].id, score=float(sc.score[i]), payload=cands[i].payload) for i in keep]
    merged = best_per_structure([scored], limit)
    row = {cands[i].id: int(i) for i in keep}
    hit_rows = np.array([row[h.id] for h in merged], dtype=np.int64)
    conf, in_group = None, None
    if known and len(cands):  # one group comparison for the top candidate and the hits
        rows = np.concatenate([[top], hit_rows]).astype(np.int64)
        conf, in_group = phys.candidate_confidence(sc.abstain, sc.motif, harm[:, 0], codes, rows)
        if confidence_rule and conf[0] < phys.CONF_THRESHOLD:
            merged, hit_rows = [], hit_rows[:0]  # abstain: the top candidate is not confident
        conf, in_group = conf[1:], in_group[1:]
    look_alikes = {
        h.id: [
            str(merged[j].payload.get("structure_id", merged[j].id))
            for j in range(len(merged))
            if j != k and in_group is not None and in_group[k, hit_rows[j]]
        ]
        for k, h in enumerate(merged)
    }
    hit_conf = {h.id: (round(float(conf[k]), 3) if conf is not None else None) for k, h in enumerate(merged)}
    full = {p.id: p.payload for p in store.retrieve(COLLECTION, [h.id for h in merged])} if merged else {}
    for h in merged:  # the returned hits carry the full payload, without the stored spectra
        h.payload = {k2: v for k2, v in full.get(h.id, h.payload).items() if k2 not in HIDDEN_KEYS}
    info = {h.id: _hit_info(qf, sc, row[h.id], nm, factor) for h in merged}
    for h in merged:
        # calibrated probability that this is the query's structure (pixel size known; None otherwise) and the other
        # returned hits whose projections are near-identical to this one (``stem_physics.GROUP_CORR``)
        info[h.id]["match"] |= {"confidence": hit_conf[h.id], "near_identical_hits": look_alikes[h.id]}
    out: list[Hit] = []
    for hit in to_hits(COLLECTION, merged):
        extra = info[hit.id]
        hit.payload = {**hit.payload, "measured_lattice": extra["measured_lattice"], "lattice_match": extra["match"]}
        out.append(
            Hit.model_validate(
                {
                    **hit.model_dump(),
                    "query_nm_per_px": extra["nm_per_px"],
                    "query_scale_assumed": not known,
                    "pixel_size_source": source,
                    "query_file": decoded.file_info,
                }
            )
        )
    return out


def _hit_info(qf: Any, sc: Any, i: int, nm: float | None, factor: float) -> dict[str, Any]:
    """Per-hit answer fields: the query's measured lattice in Å (at the given/file pixel size, or at the pixel
    size this hit's lattice implies), and how the two lattices compare."""
    scale = float(sc.scale[i]) if np.isfinite(sc.scale[i]) else None
    if qf.known:
        nm_px = nm
        cell = qf.cell
    else:  # scale = Å per working px; the raw image's pixel size follows from the zoom factor
        nm_px = round(scale * factor / 10.0, 6) if scale else None
        cell = qf.cell.scaled(scale, "Å") if (qf.cell is not None and scale) else None
    match = {
        "checked": bool(sc.checked[i]),
        "consistent": bool(sc.lattice_ok[i]),
        "length_ratio_misfit": _r(sc.shape_misfit[i], 3),
        "angle_diff_deg": _r(sc.angle_diff[i], 1),
        "spectrum_score": _r(sc.spectrum[i], 4),
        # the query's cell average vs the view's projected columns (None: not compared)
        "motif_score": _r(sc.motif[i], 4) if sc.motif is not None else None,
        # the spectrum compared as a mirror twin of the view (two domains sharing a lattice plane; None: not compared)
        "twin_spectrum_score": _r(sc.twin[i], 4) if sc.twin is not None else None,
    }
    if qf.known and scale:
        match["scale_factor"] = round(scale, 3)  # true pixel size / given one, at the best spectrum match
    return {
        "measured_lattice": cell.to_payload() if cell is not None else None,
        "match": match,
        "nm_per_px": round(nm_px, 6) if nm_px else None,
    }


def _r(x: float, nd: int) -> float | None:
    return round(float(x), nd) if np.isfinite(x) else None
