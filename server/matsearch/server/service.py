"""The search engine behind the HTTP API and the CLI: store + encoders + images, and the queries users ask.

The server holds one ``Service`` for its lifetime; the CLI creates one when no server is running.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from matsearch.core.collections import COLLECTIONS, VECTOR_ENCODERS, collection_spec
from matsearch.core.errors import BadInput, NotFound
from matsearch.core.filters import Filter
from matsearch.core.images import ImageStore, load_image, to_rgb
from matsearch.core.schemas import CollectionOut, Hit, IngestReport, PointOut, VectorSpecOut
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.base import Encoder
from matsearch.encoders.image import IMAGE_SIZE
from matsearch.store import Store, open_store
from matsearch.store.base import CollectionInfo, ScoredHit, VectorQuery

# Query-side plug-ins: collections whose image queries need their own preprocessing and ranking.
# Each maps to "module:function" with the signature of ``Service._search_figures_image``.
IMAGE_SEARCH_PLUGINS: dict[str, str] = {"stem": "matsearch.indexer.stem.query:search_stem"}


RERANK_DEPTH = 50
_STOP = frozenset(
    "a an and the of in on at to for by with from as is are was were be this that these those its it image images "
    "showing shown show panel figure fig".split()
)
W_OWN, W_FULL = 0.25, 0.1


def query_terms(text: str) -> set[str]:
    """Lower-case word/formula tokens without stop words; a trailing plural "s" is dropped ("plots" = "plot")."""
    import re
    import unicodedata

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


def image_ref_fields(payload: dict[str, Any]) -> dict[str, str | None]:
    sha = payload.get("panel_sha256") or payload.get("image_sha256")
    if not sha:
        return {"image_url": None, "thumbnail_url": None}
    return {"image_url": f"/v1/images/{sha}", "thumbnail_url": f"/v1/images/{sha}?thumbnail=true"}


class Service:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store if store is not None else open_store(settings)
        self.images = ImageStore(settings.images_dir)

    def close(self) -> None:
        self.store.close()

    # -- plumbing ----------------------------------------------------------------------------------------------
    def encoder(self, name: str) -> Encoder:
        return get_encoder(name)

    def ensure_collection(self, name: str) -> None:
        self.store.ensure_collection(collection_spec(name))

    def require_collection(self, name: str) -> None:
        if name not in COLLECTIONS and not self.store.has_collection(name):
            raise NotFound(f"unknown collection {name!r} (known: {sorted(COLLECTIONS)})")
        if not self.store.has_collection(name):
            raise NotFound(f"collection {name!r} is empty: nothing has been ingested into it yet")

    def check_limit(self, limit: int) -> int:
        if not 1 <= limit <= self.settings.max_limit:
            raise BadInput(f"limit must be between 1 and {self.settings.max_limit}, got {limit}")
        return limit

    def hits(self, collection: str, scored: Iterable[ScoredHit]) -> list[Hit]:
        return [
            Hit(id=h.id, score=h.score, collection=collection, payload=h.payload, **image_ref_fields(h.payload))
            for h in scored
        ]

    # -- queries -----------------------------------------------------------------------------------------------
    def search_vector(
        self,
        collection: str,
        using: str,
        vector: Sequence[float] | Any,
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        self.require_collection(collection)
        q = VectorQuery(
            vector=vector, using=using, filter=flt, limit=self.check_limit(limit), score_threshold=score_threshold
        )
        return self.hits(collection, self.store.query(collection, q))

    def search_image(
        self,
        data: bytes,
        *,
        filename: str = "upload",
        collection: str = "figures",
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
        nm_per_px: float | None = None,
    ) -> list[Hit]:
        """Images most like the uploaded one. ``figures``: EfficientNet features; ``stem``: the STEM encoder."""
        self.check_limit(limit)
        plugin = IMAGE_SEARCH_PLUGINS.get(collection)
        if plugin is not None:
            module, func = plugin.split(":")
            search = getattr(importlib.import_module(module), func)
            self.require_collection(collection)
            result: list[Hit] = search(
                self,
                data,
                filename=filename,
                nm_per_px=nm_per_px,
                flt=flt,
                limit=limit,
                score_threshold=score_threshold,
            )
            return result
        if collection != "figures":
            collection_spec(collection)
            raise BadInput(f"image search is not available for collection {collection!r}")
        image = to_rgb(load_image(data, self.settings, what=filename, draft_side=2 * IMAGE_SIZE))
        vector = self.encoder("efficientnet-lite0").encode_one(image)
        return self.search_vector(collection, "image", vector, flt, limit, score_threshold)

    def search_text(
        self,
        q: str,
        *,
        collection: str = "figures",
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Panels whose captions mean what ``q`` says (MiniLM), optionally filtered."""
        text = q.strip()
        if not text:
            raise BadInput("text query is empty")
        if collection != "figures":
            collection_spec(collection)
            raise BadInput(f"text search is not available for collection {collection!r}; filter it instead")
        vector = self.encoder("all-minilm-l6-v2").encode_one(text)
        # dense candidates (MiniLM of the panel captions), re-ranked with the query's words (see lexical_rerank)
        depth = self.check_limit(min(200, max(RERANK_DEPTH, 3 * limit)))
        hits = self.search_vector(collection, "caption", vector, flt, depth, score_threshold)
        return lexical_rerank(text, hits)[: self.check_limit(limit)]

    def similar(
        self,
        collection: str,
        point_id: str,
        *,
        using: str | None = None,
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """More like this stored point (itself left out)."""
        self.require_collection(collection)
        spec = collection_spec(collection) if collection in COLLECTIONS else None
        vector_name = using or (spec.vectors[0].name if spec else "image")
        scored = self.store.query_by_id(
            collection, point_id, vector_name, flt=flt, limit=self.check_limit(limit), score_threshold=score_threshold
        )
        return self.hits(collection, scored)

    def get_point(self, collection: str, point_id: str) -> PointOut:
        self.require_collection(collection)
        found = self.store.retrieve(collection, [point_id])
        if not found:
            raise NotFound(f"no point {point_id!r} in collection {collection!r}")
        p = found[0]
        return PointOut(id=p.id, collection=collection, payload=p.payload, **image_ref_fields(p.payload))

    # -- collections and ingest --------------------------------------------------------------------------------
    def collections(self) -> list[CollectionOut]:
        return [_collection_out(c) for c in self.store.list_collections()]

    def ingest_figures(self, items: Iterable[Any]) -> IngestReport:
        from matsearch.indexer.pipeline import FigureIngestor

        return FigureIngestor(self).ingest(items)


def _collection_out(c: CollectionInfo) -> CollectionOut:
    return CollectionOut(
        name=c.name,
        count=c.count,
        vectors=[
            VectorSpecOut(name=v.name, size=v.size, distance=v.distance, encoder=VECTOR_ENCODERS.get((c.name, v.name)))
            for v in c.vectors
        ],
        indexes={i.field: i.kind for i in c.indexes},
    )
