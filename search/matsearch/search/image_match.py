"""Fine re-ranking for reverse image search: find *the very panel* a user's copy was made from.

The global EfficientNet vector finds panels that look alike, but it cannot tell a panel from its neighbours in a
time series (same scene, same contrast, a few pixels of drift) or from near-identical frames of a film strip. The
top candidates of the global search are therefore checked one by one:

1. **Local keypoints**: ORB features (OpenCV) on a grey copy at ``MATCH_SIDE`` px, matched with Lowe's ratio test.
2. **Geometry**: a similarity transform (scale, rotation, shift) fitted with RANSAC. A copy that was resized,
   recompressed and cut at the edges still maps onto its source with many inliers (measured: 5th percentile 127
   inliers on real panels); an unrelated panel gets a handful.
3. **Photometric check**: the candidate is warped into the query's frame and compared with normalised
   cross-correlation, weighted by *coverage* — the share of the query that falls inside the candidate. A frame
   that drifted by a few per cent matches almost as well pixel by pixel, but part of the query then lies outside
   it; the source panel covers all of it.

Verified candidates (``MIN_INLIERS`` inliers, a valid warp and NCC >= ``MIN_NCC``) come first, ordered by
``ncc × coverage``; their score becomes ``1 + ncc × coverage`` (so scores stay monotone in the order, and above
every unverified cosine).
The others keep their global order and cosine score. Measured in ``bench/eval_real_figures.py``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from matsearch.core.schemas import Hit

MATCH_SIDE = 384  # grey copy used for keypoints and the photometric check (px, longer side)
RERANK_DEPTH = 30  # global candidates checked per query
MIN_INLIERS = 10  # RANSAC inliers for a candidate to count as the same picture ...
MIN_NCC = 0.5  # ... and the correlation of the aligned pictures (true copies: 5th percentile 0.91 on real panels)
_RATIO = 0.85  # Lowe's ratio test
_CACHE_SIZE = 4096  # features of stored panels, keyed by their image SHA-256

_cache: OrderedDict[str, LocalFeatures] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class LocalFeatures:
    gray: np.ndarray  # uint8, longer side MATCH_SIDE
    points: np.ndarray  # (n, 2) float32 keypoint positions
    descriptors: np.ndarray | None  # (n, 32) uint8 ORB descriptors


@dataclass
class Match:
    inliers: int
    ncc: float  # normalised cross-correlation of the warped candidate with the query (-1 when not computed)
    coverage: float  # share of the query inside the warped candidate

    @property
    def verified(self) -> bool:
        return self.inliers >= MIN_INLIERS and self.ncc >= MIN_NCC

    @property
    def score(self) -> float:
        return self.ncc * self.coverage if self.verified else -1.0


def _gray(image: Image.Image) -> np.ndarray:
    g = np.asarray(image.convert("L"), dtype=np.uint8)
    s = MATCH_SIDE / max(g.shape)
    size = (max(8, round(g.shape[1] * s)), max(8, round(g.shape[0] * s)))
    return cv2.resize(g, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def local_features(image: Image.Image) -> LocalFeatures:
    """ORB keypoints and descriptors of an image (any mode, any size)."""
    g = _gray(image)
    orb = cv2.ORB.create(nfeatures=1000, fastThreshold=7, edgeThreshold=15, patchSize=15)
    kps, desc = orb.detectAndCompute(g, None)
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return LocalFeatures(g, pts, desc)


def cached_features(key: str, load: Callable[[], Image.Image | None]) -> LocalFeatures | None:
    """Features of a stored image, computed once per process (LRU of ``_CACHE_SIZE`` entries)."""
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    image = load()
    if image is None:
        return None
    feats = local_features(image)
    with _cache_lock:
        _cache[key] = feats
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return feats


def match(query: LocalFeatures, cand: LocalFeatures) -> Match:
    """How well ``cand`` explains ``query`` as a resized / recompressed / cropped copy of it."""
    none = Match(0, -1.0, 0.0)
    if query.descriptors is None or cand.descriptors is None or len(query.points) < 6 or len(cand.points) < 6:
        return none
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, cand.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < 6:
        return Match(len(good), -1.0, 0.0)
    src = query.points[[m.queryIdx for m in good]]
    dst = cand.points[[m.trainIdx for m in good]]
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=500)
    if transform is None or mask is None:
        return none
    inliers = int(mask.sum())
    h, w = query.gray.shape
    back = cv2.invertAffineTransform(transform)
    warped = cv2.warpAffine(cand.gray.astype(np.float32), back, (w, h), flags=cv2.INTER_LINEAR, borderValue=-1.0)
    valid = warped >= 0
    coverage = float(valid.mean())
    if coverage < 0.5:
        return Match(inliers, -1.0, coverage)
    a = query.gray.astype(np.float32)[valid]
    b = warped[valid]
    a = (a - a.mean()) / (a.std() + 1e-3)
    b = (b - b.mean()) / (b.std() + 1e-3)
    return Match(inliers, float((a * b).mean()), coverage)


def rerank(query: Image.Image, hits: Sequence[Hit], features_of: Callable[[Hit], LocalFeatures | None]) -> list[Hit]:
    """``hits`` (global order) re-ordered by the geometric + photometric check (see the module docstring)."""
    q = local_features(query)
    scored: list[tuple[int, float, int, Hit]] = []
    for i, hit in enumerate(hits):
        feats = features_of(hit)
        m = match(q, feats) if feats is not None else Match(0, -1.0, 0.0)
        if m.verified:
            hit.score = round(1.0 + m.score, 6)
            scored.append((0, -m.score, i, hit))
        else:
            scored.append((1, 0.0, i, hit))
    return [h for *_, h in sorted(scored, key=lambda t: t[:3])]
