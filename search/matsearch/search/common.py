"""What every query kind shares: limit and collection checks, hits with image links, single points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from matsearch.core.errors import BadInput, NotFound
from matsearch.core.filters import Filter
from matsearch.core.schemas import Hit, PointOut
from matsearch.core.settings import Settings
from matsearch.store import Store
from matsearch.store.base import ScoredHit, VectorQuery
from matsearch.store.collections import COLLECTIONS, collection_spec


def check_limit(settings: Settings, limit: int) -> int:
    """``limit`` when it is within 1..``settings.max_limit``; else ``BadInput``."""
    if not 1 <= limit <= settings.max_limit:
        raise BadInput(f"limit must be between 1 and {settings.max_limit}, got {limit}")
    return limit


def require_collection(store: Store, name: str) -> None:
    """``NotFound`` for an unknown collection, or one that nothing has been ingested into yet."""
    if name not in COLLECTIONS and not store.has_collection(name):
        raise NotFound(f"unknown collection {name!r} (known: {sorted(COLLECTIONS)})")
    if not store.has_collection(name):
        raise NotFound(f"collection {name!r} is empty: nothing has been ingested into it yet")


def image_ref_fields(payload: dict[str, Any]) -> dict[str, str | None]:
    """``image_url``/``thumbnail_url`` of a point's stored image (content-addressed), or ``None``."""
    sha = payload.get("panel_sha256") or payload.get("image_sha256")
    if not sha:
        return {"image_url": None, "thumbnail_url": None}
    return {"image_url": f"/v1/images/{sha}", "thumbnail_url": f"/v1/images/{sha}?thumbnail=true"}


def to_hits(collection: str, scored: Iterable[ScoredHit]) -> list[Hit]:
    return [
        Hit(id=h.id, score=h.score, collection=collection, payload=h.payload, **image_ref_fields(h.payload))
        for h in scored
    ]


def search_vector(
    store: Store,
    settings: Settings,
    collection: str,
    using: str,
    vector: Sequence[float] | Any,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """Nearest points of one named vector, optionally filtered and thresholded."""
    require_collection(store, collection)
    q = VectorQuery(
        vector=vector, using=using, filter=flt, limit=check_limit(settings, limit), score_threshold=score_threshold
    )
    return to_hits(collection, store.query(collection, q))


def similar(
    store: Store,
    settings: Settings,
    collection: str,
    point_id: str,
    *,
    using: str | None = None,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """More like this stored point (itself left out), by ``using`` (default: the collection's first vector)."""
    require_collection(store, collection)
    spec = collection_spec(collection) if collection in COLLECTIONS else None
    vector_name = using or (spec.vectors[0].name if spec else "image")
    scored = store.query_by_id(
        collection,
        point_id,
        vector_name,
        flt=flt,
        limit=check_limit(settings, limit),
        score_threshold=score_threshold,
    )
    return to_hits(collection, scored)


def get_point(store: Store, collection: str, point_id: str) -> PointOut:
    require_collection(store, collection)
    found = store.retrieve(collection, [point_id])
    if not found:
        raise NotFound(f"no point {point_id!r} in collection {collection!r}")
    p = found[0]
    return PointOut(id=p.id, collection=collection, payload=p.payload, **image_ref_fields(p.payload))
