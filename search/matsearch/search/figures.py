"""Figure-panel queries: by image (EfficientNet), by text (MiniLM of the captions + a lexical re-rank), by sketch
(the drawing through the same contour transform as the stored panels). ``search_image`` also routes an image query
for the ``stem`` collection to ``matsearch.search.stem``."""

from __future__ import annotations

import re
import unicodedata

from matsearch.core.errors import BadInput
from matsearch.core.filters import Filter
from matsearch.core.images import load_image, to_rgb
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.search.common import check_limit, require_collection, search_vector, to_hits
from matsearch.store import Store
from matsearch.store.base import VectorQuery
from matsearch.store.collections import collection_spec

COLLECTION = "figures"
RERANK_DEPTH = 50
_STOP = frozenset(
    "a an and the of in on at to for by with from as is are was were be this that these those its it image images "
    "showing shown show panel figure fig".split()
)
W_OWN, W_FULL = 0.25, 0.1


def search_image(
    store: Store,
    settings: Settings,
    data: bytes,
    *,
    filename: str = "upload",
    collection: str = COLLECTION,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
    nm_per_px: float | None = None,
) -> list[Hit]:
    """Images most like the uploaded one. ``figures``: EfficientNet features; ``stem``: the STEM search."""
    check_limit(settings, limit)
    if collection == "stem":
        from matsearch.search.stem import search_stem  # local: numpy/scipy STEM code only when asked for

        require_collection(store, collection)
        return search_stem(
            store,
            settings,
            data,
            filename=filename,
            nm_per_px=nm_per_px,
            flt=flt,
            limit=limit,
            score_threshold=score_threshold,
        )
    if collection != COLLECTION:
        collection_spec(collection)
        raise BadInput(f"image search is not available for collection {collection!r}")
    from matsearch.encoders.image import IMAGE_SIZE  # local: torch only when an image query runs

    image = to_rgb(load_image(data, settings, what=filename, draft_side=2 * IMAGE_SIZE))
    vector = get_encoder("efficientnet-lite0", settings).encode_one(image)
    return search_vector(store, settings, collection, "image", vector, flt, limit, score_threshold)


def search_sketch(
    store: Store,
    settings: Settings,
    data: bytes,
    *,
    filename: str = "sketch",
    collection: str = COLLECTION,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """Hits for a drawing: the drawing goes through the same contour transform as the stored panels."""
    image = to_rgb(load_image(data, settings, what=filename))
    if image.mode == "RGBA":
        image = image.convert("RGB")
    vector = get_encoder("sketch", settings).encode_one(image)
    return search_vector(store, settings, collection, "sketch", vector, flt, limit, score_threshold)


def search_text(
    store: Store,
    settings: Settings,
    q: str,
    *,
    collection: str = COLLECTION,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """Panels whose captions mean what ``q`` says (MiniLM), optionally filtered, re-ranked by ``lexical_rerank``."""
    text = q.strip()
    if not text:
        raise BadInput("text query is empty")
    if collection != COLLECTION:
        collection_spec(collection)
        raise BadInput(f"text search is not available for collection {collection!r}; filter it instead")
    check_limit(settings, limit)
    vector = get_encoder("all-minilm-l6-v2", settings).encode_one(text)
    # dense candidates (MiniLM of the panel captions), re-ranked with the query's words. The depth is ours, not the
    # user's: it is not bounded by the user-facing limit (MATSEARCH_MAX_LIMIT).
    depth = min(200, max(RERANK_DEPTH, 3 * limit))
    require_collection(store, collection)
    q_vec = VectorQuery(vector=vector, using="caption", filter=flt, limit=depth, score_threshold=score_threshold)
    hits = to_hits(collection, store.query(collection, q_vec))
    return lexical_rerank(text, hits)[:limit]


def query_terms(text: str) -> set[str]:
    """Lower-case word/formula tokens without stop words; a trailing plural "s" is dropped ("plots" = "plot")."""
    words = re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKC", text).lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words} - _STOP


def lexical_rerank(query: str, hits: list[Hit]) -> list[Hit]:
    """Dense score + word overlap: ``score = cosine + W_OWN·own + W_FULL·full`` where ``own`` is the share of the
    query's terms found in what the panel itself is (its label's caption segment, techniques and materials) and
    ``full`` the share found anywhere in its caption. The long caption shared by all panels of a figure dominates
    the dense vectors of its panels; the words of a panel's own segment separate them ("Tafel plots" → the panel
    labelled for Tafel plots, not its neighbour with the same shared text)."""
    terms = query_terms(query)
    if not terms or not hits:
        return hits
    for hit in hits:
        p = hit.payload
        own_text = " ".join(
            [str(p.get("sub_caption") or p.get("caption") or "")]
            + [str(t) for t in (p.get("techniques") or [])]
            + [str(m) for m in (p.get("materials") or [])]
        )
        own = len(terms & query_terms(own_text)) / len(terms)
        full = len(terms & query_terms(str(p.get("caption") or ""))) / len(terms)
        hit.score = round(float(hit.score) + W_OWN * own + W_FULL * full, 6)
    return sorted(hits, key=lambda h: -h.score)
