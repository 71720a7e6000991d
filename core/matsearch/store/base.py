"""The store protocol: collections of points (id, named vectors, payload), whatever engine holds them."""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from matsearch.core.errors import BadInput, NotFound
from matsearch.core.filters import Filter

Distance = Literal["cosine", "dot", "euclid"]
IndexKind = Literal["keyword", "integer", "float", "bool", "text"]
VectorLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class VectorSpec:
    name: str
    size: int
    distance: Distance = "cosine"


@dataclass(frozen=True)
class PayloadIndex:
    """A payload index. ``principal``: a field most filters select on; the embedded store orders a segment's points
    by it when it builds the segment (Qdrant's tenant / principal index), so a filter on it reads the vectors of its
    subset from one contiguous run instead of scattered over the segment (docs/benchmarks.md, "Filtered queries at
    100k"). Declare one field, or a keyword and a number: the order is by the sum of the fields' order values, so
    with many principal fields only points equal in all of them lie together."""

    field: str
    kind: IndexKind
    principal: bool = False


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    vectors: tuple[VectorSpec, ...]
    indexes: tuple[PayloadIndex, ...] = ()

    def vector(self, name: str) -> VectorSpec:
        for v in self.vectors:
            if v.name == name:
                return v
        raise NotFound(f"collection {self.name!r} has no vector {name!r} (has {[v.name for v in self.vectors]})")


@dataclass
class PointRecord:
    id: str
    vectors: dict[str, VectorLike] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoredHit:
    id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, list[float]] | None = None


@dataclass
class VectorQuery:
    """Nearest neighbours of ``vector`` on the named vector ``using``."""

    vector: VectorLike
    using: str
    filter: Filter | None = None
    limit: int = 10
    offset: int = 0
    score_threshold: float | None = None
    exact: bool = False
    hnsw_ef: int | None = None
    # False: hits carry an empty payload (much cheaper when payloads are large); a list of keys: only those fields
    with_payload: bool | list[str] = True


@dataclass
class CollectionInfo:
    name: str
    count: int
    vectors: list[VectorSpec]
    indexes: list[PayloadIndex]


class Store(Protocol):
    """What every backend offers. Ids are UUID strings; payloads are JSON objects."""

    def ensure_collection(self, spec: CollectionSpec) -> None: ...
    def has_collection(self, name: str) -> bool: ...
    def collection_info(self, name: str) -> CollectionInfo: ...
    def list_collections(self) -> list[CollectionInfo]: ...
    def drop_collection(self, name: str) -> None: ...
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None: ...
    def delete(self, collection: str, ids: Sequence[str]) -> None: ...
    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None: ...
    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[PointRecord]: ...
    def scroll(
        self,
        collection: str,
        flt: Filter | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[PointRecord], str | None]: ...
    def count(self, collection: str, flt: Filter | None = None) -> int: ...
    def query(self, collection: str, q: VectorQuery) -> list[ScoredHit]: ...
    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[ScoredHit]]: ...
    def query_by_id(
        self,
        collection: str,
        point_id: str,
        using: str,
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[ScoredHit]: ...
    def optimize(self, collection: str) -> None: ...
    def maintain(self, collection: str) -> bool: ...
    def close(self) -> None: ...


def as_float_list(vector: VectorLike, size: int | None = None, name: str = "vector") -> list[float]:
    """Validate a query/point vector (finite, right size) and return it as a list of floats."""
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if size is not None and arr.shape[0] != size:
        raise BadInput(f"{name} has {arr.shape[0]} dimensions, expected {size}")
    if not np.all(np.isfinite(arr)):
        raise BadInput(f"{name} contains NaN or infinite values")
    return arr.tolist()


def checked_vectors(spec: CollectionSpec, point: PointRecord) -> dict[str, list[float]]:
    """A point's named vectors, each checked against the collection (known name, right size, finite)."""
    sizes = {v.name: v.size for v in spec.vectors}
    out = {}
    for name, vec in point.vectors.items():
        if name not in sizes:
            raise BadInput(f"collection {spec.name!r} has no vector {name!r}")
        out[name] = as_float_list(vec, sizes[name], name=f"vector {name!r} of point {point.id}")
    return out


def check_id(value: str) -> str:
    """Point ids are UUIDs; normalise the spelling or say what is wrong."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadInput(f"invalid point id {value!r} (expected a UUID)") from None


def vectors_out(raw: Any) -> dict[str, VectorLike]:
    """Named vectors as returned by either engine → ``{name: [floats]}`` (an unnamed vector is called "")."""
    if not raw:
        return {}
    if isinstance(raw, dict):
        return {str(k): list(v) for k, v in raw.items()}
    return {"": list(raw)}


class StoreBase:
    """Operations built from the primitives, shared by every backend."""

    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[PointRecord]:
        raise NotImplementedError

    def query(self, collection: str, q: VectorQuery) -> list[ScoredHit]:
        raise NotImplementedError

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[ScoredHit]]:
        raise NotImplementedError

    def query_by_id(
        self,
        collection: str,
        point_id: str,
        using: str,
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[ScoredHit]:
        """More like this: neighbours of a stored point's vector, the point itself left out."""
        found = self.retrieve(collection, [point_id], with_vectors=True)
        if not found:
            raise NotFound(f"no point {point_id!r} in collection {collection!r}")
        vector = found[0].vectors.get(using)
        if vector is None:
            raise NotFound(f"point {point_id!r} has no vector {using!r}")
        hits = self.query(
            collection,
            VectorQuery(vector=vector, using=using, filter=flt, limit=limit + 1, score_threshold=score_threshold),
        )
        return [h for h in hits if h.id != point_id][:limit]


_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(store: Any) -> threading.RLock:
    """The lock around read-modify-write of points in ``store`` (one per store object, i.e. per process): ingest's
    merge of documents + stale-panel deletion and the manual scale override hold it, so concurrent writers never
    lose each other's changes. Another process writing the same Qdrant server is not covered."""
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(store)
        if lock is None:
            lock = threading.RLock()
            _WRITE_LOCKS[store] = lock
        return lock


def all_payloads(store: Store, collection: str, chunk: int = 1000) -> dict[str, dict[str, Any]]:
    """Every point's payload of ``collection`` by id, scrolled in pages of ``chunk``."""
    payloads: dict[str, dict[str, Any]] = {}
    offset: str | None = None
    while True:
        batch, offset = store.scroll(collection, limit=chunk, offset=offset)
        payloads.update((rec.id, rec.payload) for rec in batch)
        if offset is None:
            return payloads


def delete_stale(store: Store, collection: str, keep: set[str], sources: Sequence[str], chunk: int = 1000) -> int:
    """Delete the points of ``collection`` whose payload ``source`` is one of ``sources`` and whose id is not in
    ``keep`` (what a full library build just wrote or found current); points of other sources (users' own) are left
    alone. Scrolls and deletes in chunks of ``chunk``. Returns how many points went."""
    wanted = set(sources)
    stale: list[str] = []
    offset: str | None = None
    while True:
        batch, offset = store.scroll(collection, limit=chunk, offset=offset)
        stale += [r.id for r in batch if r.id not in keep and (r.payload or {}).get("source") in wanted]
        if offset is None:
            break
    for start in range(0, len(stale), chunk):
        store.delete(collection, stale[start : start + chunk])
    return len(stale)
