"""The store layer: one protocol (``Store``), two engines (Qdrant Edge embedded, Qdrant server via qdrant-client)."""

from __future__ import annotations

from matsearch.core.settings import Settings
from matsearch.store.base import (
    CollectionInfo,
    CollectionSpec,
    PayloadIndex,
    PointRecord,
    ScoredHit,
    Store,
    VectorQuery,
    VectorSpec,
)

__all__ = [
    "CollectionInfo",
    "CollectionSpec",
    "PayloadIndex",
    "PointRecord",
    "ScoredHit",
    "Store",
    "VectorQuery",
    "VectorSpec",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The Qdrant server when ``MATSEARCH_QDRANT_URL`` is set, else the embedded Edge store under the data dir."""
    if settings.qdrant_url:
        from matsearch.store.remote import QdrantClientStore

        return QdrantClientStore(
            settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            shard_number=settings.qdrant_shard_number,
            replication_factor=settings.qdrant_replication_factor,
        )
    from matsearch.store.edge import EdgeStore

    return EdgeStore(settings.store_dir)
