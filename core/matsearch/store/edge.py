"""Embedded store: one Qdrant Edge shard per collection, on disk under ``<data_dir>/qdrant/<collection>/``.

New collections are created with int8 scalar quantisation (in RAM; HNSW search and the HNSW build use it), the
original float vectors on disk (memory-mapped, read to rescore candidates) and HNSW parameters chosen by measurement
(docs/benchmarks.md, "1M points"). Queries rescore an oversampled candidate list with the originals, so the scores
returned are exact cosines. ``maintain`` builds HNSW for new points only once enough of them are unindexed (plain
segments are searched exactly until then): an ingest call never rebuilds the index by itself.

One process owns the directory. Edge itself refuses a second open through its WAL lock, but a refused open can
already have touched the segment files, so we take our own ``flock`` on ``<store_dir>/.lock`` first and never let a
second process reach Edge at all.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import qdrant_edge as qe

from matsearch.core.errors import BadInput, MatsearchError, NotFound, StoreUnavailable
from matsearch.core.filters import FieldCondition, Filter
from matsearch.store.base import (
    CollectionInfo,
    CollectionSpec,
    PayloadIndex,
    PointRecord,
    ScoredHit,
    StoreBase,
    VectorQuery,
    VectorSpec,
    as_float_list,
    check_id,
    checked_vectors,
    vectors_out,
)

_DISTANCE = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclid": qe.Distance.Euclid}
_INDEX = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
    "text": qe.PayloadSchemaType.Text,
}
_SPEC_FILE = "matsearch_collection.json"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_UPSERT_CHUNK = 512
# Index parameters of new collections (docs/benchmarks.md has the measurements behind them).
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
FULL_SCAN_THRESHOLD_KB = 10_000  # a filter whose subset is smaller than this (in KB of vectors) is scanned exactly
OVERSAMPLING = 2.0  # candidates scored on the int8 vectors per result, then rescored with the originals
MAINTAIN_MIN_UNINDEXED = 20_000  # maintain() builds HNSW once this many points (or 10%) are unindexed
_SEARCH_QUANTIZATION = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)


def edge_config(spec: CollectionSpec) -> qe.EdgeConfig:
    """A new collection's Edge configuration: int8 quantisation in RAM, originals on disk, tuned HNSW."""
    return qe.EdgeConfig(
        vectors={
            v.name: qe.EdgeVectorParams(size=v.size, distance=_DISTANCE[v.distance], memory=qe.Memory.Cold)
            for v in spec.vectors
        },
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_THRESHOLD_KB
        ),
        quantization_config=qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
        ),
        # one search thread per query: requests run in parallel anyway, and on a loaded 2-core machine the hand-off
        # to a search pool cost more than it saved (first queries 3.4 vs 0.34 ms p50 at 30k, load 5)
        max_search_threads=1,
    )


def check_collection_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise BadInput(f"invalid collection name {name!r} (lower-case letters, digits, '_' or '-')")
    return name


def edge_filter(flt: Filter | None) -> qe.Filter | None:
    """Translate our filter model to Edge's."""
    if flt is None or flt.is_empty():
        return None

    def cond(c: FieldCondition | Filter) -> Any:
        if isinstance(c, Filter):
            return edge_filter(c) or qe.Filter()
        if c.match is not None:
            return qe.FieldCondition(c.key, match=qe.MatchValue(c.match))
        if c.any is not None:
            return qe.FieldCondition(c.key, match=qe.MatchAny(list(c.any)))  # type: ignore[arg-type]
        if c.all is not None:
            return qe.Filter(must=[qe.FieldCondition(c.key, match=qe.MatchValue(v)) for v in c.all])
        assert c.range is not None
        r = c.range
        return qe.FieldCondition(c.key, range=qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))

    return qe.Filter(
        must=[cond(c) for c in flt.must] or None,
        should=[cond(c) for c in flt.should] or None,
        must_not=[cond(c) for c in flt.must_not] or None,
    )


class EdgeStore(StoreBase):
    """Qdrant Edge, in process. Thread-safe: reads run concurrently, writes are serialised per store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[str] | None = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            self._lock_file = None
            raise StoreUnavailable(
                f"the store at {self.root} is open in another process (a running `matsearch serve`?); "
                "talk to that server, or stop it first"
            ) from exc
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self._write = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._specs: dict[str, CollectionSpec] = {}
        for spec_path in sorted(self.root.glob(f"*/{_SPEC_FILE}")):
            spec = _read_spec(spec_path)
            self._specs[spec.name] = spec

    # -- collections -------------------------------------------------------------------------------------------
    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        with self._write:
            shard = self._shards.get(name)
            if shard is None:
                if name not in self._specs:
                    raise NotFound(f"unknown collection {name!r} (have {sorted(self._specs)})")
                shard = qe.EdgeShard.load(str(self.root / name))
                self._shards[name] = shard
        return shard

    def ensure_collection(self, spec: CollectionSpec) -> None:
        check_collection_name(spec.name)
        with self._write:
            old = self._specs.get(spec.name)
            if old is not None:
                if {v.name: v for v in old.vectors} != {v.name: v for v in spec.vectors}:
                    raise MatsearchError(
                        f"collection {spec.name!r} exists with other vectors; drop it first", status=409
                    )
                missing = [i for i in spec.indexes if i not in old.indexes]
                shard = self._shard(spec.name)
                for idx in missing:
                    shard.update(qe.UpdateOperation.create_field_index(idx.field, _INDEX[idx.kind]))
                if missing:
                    spec = CollectionSpec(spec.name, spec.vectors, tuple(old.indexes) + tuple(missing))
                    _write_spec(self.root / spec.name, spec)
                    self._specs[spec.name] = spec
                return
            path = self.root / spec.name
            if path.exists():
                shutil.rmtree(path)  # a directory without our spec file is a half-created collection
            shard = qe.EdgeShard.create(str(path), edge_config(spec))
            for idx in spec.indexes:
                shard.update(qe.UpdateOperation.create_field_index(idx.field, _INDEX[idx.kind]))
            shard.flush()
            _write_spec(path, spec)  # written last: its presence means the collection is complete
            self._shards[spec.name] = shard
            self._specs[spec.name] = spec

    def has_collection(self, name: str) -> bool:
        return name in self._specs

    def spec(self, name: str) -> CollectionSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise NotFound(f"unknown collection {name!r} (have {sorted(self._specs)})") from None

    def collection_info(self, name: str) -> CollectionInfo:
        spec = self.spec(name)
        return CollectionInfo(name, self.count(name), list(spec.vectors), list(spec.indexes))

    def list_collections(self) -> list[CollectionInfo]:
        return [self.collection_info(n) for n in sorted(self._specs)]

    def drop_collection(self, name: str) -> None:
        with self._write:
            self.spec(name)
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            del self._specs[name]
            (self.root / name / _SPEC_FILE).unlink(missing_ok=True)
            shutil.rmtree(self.root / name, ignore_errors=True)

    # -- writes ------------------------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        spec = self.spec(collection)
        edge_points = [
            qe.Point(check_id(p.id), checked_vectors(spec, p), p.payload)  # type: ignore[arg-type]
            for p in points
        ]
        shard = self._shard(collection)
        with self._write:
            for i in range(0, len(edge_points), _UPSERT_CHUNK):
                shard.update(qe.UpdateOperation.upsert_points(edge_points[i : i + _UPSERT_CHUNK]))

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        shard = self._shard(collection)
        with self._write:
            shard.update(qe.UpdateOperation.delete_points([check_id(i) for i in ids]))

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        shard = self._shard(collection)
        with self._write:
            shard.update(qe.UpdateOperation.set_payload([check_id(i) for i in ids], payload))

    def optimize(self, collection: str) -> None:
        shard = self._shard(collection)
        with self._write:
            shard.optimize()
            shard.flush()

    def maintain(self, collection: str) -> bool:
        """Build HNSW for new points once enough are unindexed (``MAINTAIN_MIN_UNINDEXED``, or 10% of the
        collection); until then they sit in plain segments that queries scan exactly. Returns whether it ran.

        Edge's ``optimize`` holds the GIL for its whole run (measured: no other thread of the process runs, so
        queries wait), which is why it runs only when it pays and not after every ingest call; what it builds is
        what is new plus the merges Edge's optimizer plans, not the whole index."""
        spec = self.spec(collection)
        info = self._shard(collection).info()
        unindexed = info.points_count - info.indexed_vectors_count / max(1, len(spec.vectors))
        if unindexed < max(MAINTAIN_MIN_UNINDEXED, 0.1 * info.points_count):
            return False
        self.optimize(collection)
        return True

    def flush(self) -> None:
        with self._write:
            for shard in self._shards.values():
                shard.flush()

    # -- reads -------------------------------------------------------------------------------------------------
    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[PointRecord]:
        records = self._shard(collection).retrieve([check_id(i) for i in ids], True, with_vectors)
        return [PointRecord(str(r.id), vectors_out(r.vector), dict(r.payload or {})) for r in records]

    def scroll(
        self,
        collection: str,
        flt: Filter | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[PointRecord], str | None]:
        request = qe.ScrollRequest(
            offset=check_id(offset) if offset else None,
            limit=limit,
            filter=edge_filter(flt),
            with_payload=True,
            with_vector=with_vectors,
        )
        records, next_offset = self._shard(collection).scroll(request)
        points = [PointRecord(str(r.id), vectors_out(r.vector), dict(r.payload or {})) for r in records]
        return points, (str(next_offset) if next_offset is not None else None)

    def count(self, collection: str, flt: Filter | None = None) -> int:
        return int(self._shard(collection).count(qe.CountRequest(exact=True, filter=edge_filter(flt))))

    def _request(self, collection: str, q: VectorQuery) -> qe.QueryRequest:
        size = self.spec(collection).vector(q.using).size
        params = qe.SearchParams(hnsw_ef=q.hnsw_ef, exact=q.exact, quantization=_SEARCH_QUANTIZATION)
        return qe.QueryRequest(
            limit=q.limit,
            offset=q.offset or None,
            query=qe.Query.Nearest(as_float_list(q.vector, size, name="query vector"), using=q.using),
            filter=edge_filter(q.filter),
            score_threshold=q.score_threshold,
            with_payload=q.with_payload,
            params=params,
        )

    def query(self, collection: str, q: VectorQuery) -> list[ScoredHit]:
        request = self._request(collection, q)
        return [
            ScoredHit(str(p.id), float(p.score), dict(p.payload or {})) for p in self._shard(collection).query(request)
        ]

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[ScoredHit]]:
        if not queries:
            return []
        batch = qe.QueryBatchRequest([self._request(collection, q) for q in queries])
        results = self._shard(collection).query_batch(batch)
        return [[ScoredHit(str(p.id), float(p.score), dict(p.payload or {})) for p in res] for res in results]

    def close(self) -> None:
        with self._write:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None


def _write_spec(path: Path, spec: CollectionSpec) -> None:
    data = {
        "name": spec.name,
        "vectors": [{"name": v.name, "size": v.size, "distance": v.distance} for v in spec.vectors],
        "indexes": [{"field": i.field, "kind": i.kind} for i in spec.indexes],
    }
    tmp = path / (_SPEC_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path / _SPEC_FILE)


def _read_spec(path: Path) -> CollectionSpec:
    data = json.loads(path.read_text())
    return CollectionSpec(
        name=data["name"],
        vectors=tuple(VectorSpec(v["name"], int(v["size"]), v["distance"]) for v in data["vectors"]),
        indexes=tuple(PayloadIndex(i["field"], i["kind"]) for i in data.get("indexes", [])),
    )
