"""Figure-panel queries: by image (EfficientNet), by text (MiniLM of the captions + a lexical re-rank), by sketch
(the drawing through the same contour transform as the stored panels). ``search_image`` also routes an image query
for the ``stem`` collection to ``matsearch.search.stem``."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from matsearch.core.errors import BadInput
from matsearch.core.filters import Filter
from matsearch.core.images import ImageStore, load_image, to_rgb
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.search import image_match
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
W_OWN, W_FULL, W_SHARED, W_FOCUS = 0.4, 0.1, 0.1, 0.2  # tuned on the dev paper (bench.eval_figtext_real)


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
    rerank: bool = True,
) -> list[Hit]:
    """Images most like the uploaded one. ``figures``: EfficientNet features, then (``rerank``) the top
    ``image_match.RERANK_DEPTH`` checked for being the very panel the upload was copied from (keypoints + RANSAC +
    NCC, see :mod:`matsearch.search.image_match`); ``stem``: the STEM search."""
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
    if not rerank:
        return search_vector(store, settings, collection, "image", vector, flt, limit, score_threshold)
    # global candidates (our depth, not bounded by the user-facing limit), then the very-panel check
    require_collection(store, collection)
    depth = max(image_match.RERANK_DEPTH, limit)
    q_vec = VectorQuery(vector=vector, using="image", filter=flt, limit=depth, score_threshold=score_threshold)
    hits = to_hits(collection, store.query(collection, q_vec))
    stored = ImageStore(settings.images_dir)

    def features_of(hit: Hit) -> image_match.LocalFeatures | None:
        sha = str(hit.payload.get("panel_sha256") or hit.payload.get("image_sha256") or "")
        path = stored.find(sha)
        if path is None:
            return None
        return image_match.cached_features(
            sha, lambda: to_rgb(load_image(path.read_bytes(), settings, draft_side=image_match.MATCH_SIDE))
        )

    return image_match.rerank(image, hits, features_of)[:limit]


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
    """Hits for a drawing: the drawing goes through the same contour transform as the stored panels.
    Grouped by material: :func:`matsearch.search.groups.search_sketch_grouped`."""
    vector = sketch_vector(settings, data, filename)
    return search_vector(store, settings, collection, "sketch", vector, flt, limit, score_threshold)


def sketch_vector(settings: Settings, data: bytes, filename: str = "sketch") -> Any:
    """The ``sketch`` vector of an uploaded drawing."""
    image = to_rgb(load_image(data, settings, what=filename))
    if image.mode == "RGBA":
        image = image.convert("RGB")
    return get_encoder("sketch", settings).encode_one(image)


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
    """Lower-case word/formula tokens without stop words; a trailing plural "s" is dropped ("plots" = "plot");
    hyphenated or slashed compounds also count joined ("HR-TEM" gives hr, tem and hrtem, so "HRTEM" matches)."""
    norm = unicodedata.normalize("NFKC", text).lower()
    words = re.findall(r"[a-z0-9]+", norm)
    words += [re.sub(r"[-‐‑–/]", "", w) for w in re.findall(r"[a-z0-9]+(?:[-‐‑–/][a-z0-9]+)+", norm)]
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words} - _STOP


def abbreviations(text: str) -> dict[str, str]:
    """Abbreviations a caption defines, ``{"smnp": "silver manganate nanoplate", ...}`` from "silver manganate
    nanoplate (SMNp)" (the Schwartz–Hearst rule: every letter of the short form occurs, in order and from the right,
    in the words just before the parenthesis, the first one at the start of a word)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\(([A-Za-z][A-Za-z0-9-]{1,11})\)", text):
        short = m.group(1)
        letters = [c.lower() for c in short if c.isalnum()]
        if len(letters) < 2 or not any(c.isupper() for c in short):
            continue
        words = re.findall(r"[^\s()]+", text[: m.start()])[-min(len(letters) + 5, 2 * len(letters)) :]
        window = " ".join(words).lower()
        i, k = len(window) - 1, len(letters) - 1
        while k >= 0 and i >= 0:
            c = letters[k]
            if window[i] == c and (k > 0 or i == 0 or not window[i - 1].isalnum()):
                k -= 1
            i -= 1
        if k >= 0:
            continue
        start = window.rfind(" ", 0, i + 1) + 1
        out[short.lower()] = window[start:]
    return out


def _expand(text: str, abbrs: dict[str, str]) -> str:
    """``text`` plus the long forms of the abbreviations it uses and the short forms of the long forms it spells."""
    low = text.lower()
    extra = [long for short, long in abbrs.items() if re.search(rf"\b{re.escape(short)}\b", low)]
    extra += [short for short, long in abbrs.items() if long in low]
    return " ".join([text, *extra])


def _label_order(label: object) -> tuple[int, str]:
    s = str(label or "")
    return (len(s) if s else 99, s)


def lexical_rerank(query: str, hits: list[Hit]) -> list[Hit]:
    """Dense score + word overlap: ``score = cosine + W_OWN·own + W_FULL·full``.

    ``own`` is the share of the query's terms found in what the panel itself is: its label's caption segment (+ its
    techniques and materials); a labelled panel for which the caption has no segment of its own falls back to the
    figure's caption at the lower weight ``W_SHARED`` instead, so a panel whose own words match ranks above a
    neighbour that only shares the figure's text. An unlabelled panel (a one-panel figure) owns its caption.
    A panel whose label is named inside a group's segment ("number of transferred electrons (b) and Tafel plots
    (c)") gets ``W_FOCUS`` × the share found in the words naming it (``label_focus``).
    ``full`` is the share found anywhere in the panel's caption. Abbreviations the figure's caption defines count
    both ways ("BM" in a segment matches "bulk manganese oxide"). Ties between panels go to the one whose own
    segment matches more, then to label order (a before b)."""
    terms = query_terms(query)
    if not terms or not hits:
        return hits
    own_of: dict[str, float] = {}
    for hit in hits:
        p = hit.payload
        abbrs = abbreviations(str(p.get("figure_caption") or p.get("caption") or ""))
        caption = _expand(str(p.get("caption") or ""), abbrs)
        segment = p.get("sub_caption")
        full = len(terms & query_terms(caption)) / len(terms)
        if segment or p.get("panel_label") is None:
            own_text = " ".join(
                [str(segment or p.get("caption") or "")]
                + [str(t) for t in (p.get("techniques") or [])]
                + [str(m) for m in (p.get("materials") or [])]
            )
            own = len(terms & query_terms(_expand(own_text, abbrs))) / len(terms)
            bonus = W_OWN * own
            focus = p.get("label_focus")
            if focus:  # the words naming this label inside a group's segment ("Tafel plots (c)")
                bonus += W_FOCUS * len(terms & query_terms(_expand(str(focus), abbrs))) / len(terms)
        else:
            own = 0.0
            bonus = W_SHARED * full
        own_of[hit.id] = own
        hit.score = round(float(hit.score) + bonus + W_FULL * full, 6)
    return sorted(hits, key=lambda h: (-h.score, -own_of[h.id], _label_order(h.payload.get("panel_label"))))
