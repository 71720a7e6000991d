"""Qdrant server or cluster through qdrant-client (``MATSEARCH_QDRANT_URL``). Same protocol as the embedded store.

``QdrantClient(path=...)`` (qdrant-client's pure-Python local mode) stands in for a server in the congruence tests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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
from matsearch.store.edge import (
    ACORN_MAX_SELECTIVITY,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    HNSW_PAYLOAD_M,
    OVERSAMPLING,
    check_collection_name,
)

_ACORN = qm.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)
_DISTANCE = {"cosine": qm.Distance.COSINE, "dot": qm.Distance.DOT, "euclid": qm.Distance.EUCLID}
_DISTANCE_BACK = {v: k for k, v in _DISTANCE.items()}
_INDEX = {
    "keyword": qm.PayloadSchemaType.KEYWORD,
    "integer": qm.PayloadSchemaType.INTEGER,
    "float": qm.PayloadSchemaType.FLOAT,
    "bool": qm.PayloadSchemaType.BOOL,
    "text": qm.PayloadSchemaType.TEXT,
}
_INDEX_BACK = {v: k for k, v in _INDEX.items()}
_UPSERT_CHUNK = 256


def client_filter(flt: Filter | None) -> qm.Filter | None:
    """Translate our filter model to qdrant-client's."""
    if flt is None or flt.is_empty():
        return None

    def cond(c: FieldCondition | Filter) -> Any:
        if isinstance(c, Filter):
            return client_filter(c) or qm.Filter()
        if c.match is not None:
            return qm.FieldCondition(key=c.key, match=qm.MatchValue(value=c.match))
        if c.any is not None:
            return qm.FieldCondition(key=c.key, match=qm.MatchAny(any=list(c.any)))
        if c.all is not None:
            return qm.Filter(must=[qm.FieldCondition(key=c.key, match=qm.MatchValue(value=v)) for v in c.all])
        assert c.range is not None
        r = c.range
        return qm.FieldCondition(key=c.key, range=qm.Range(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))

    return qm.Filter(
        must=[cond(c) for c in flt.must] or None,
        should=[cond(c) for c in flt.should] or None,
        must_not=[cond(c) for c in flt.must_not] or None,
    )


class QdrantClientStore(StoreBase):
    def __init__(
        self,
        url: str | None = None,
        *,
        path: str | None = None,
        api_key: str | None = None,
        timeout: int = 60,
        shard_number: int | None = None,
        replication_factor: int | None = None,
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("give exactly one of url (server) or path (qdrant-client local mode)")
        self._client = QdrantClient(url=url, api_key=api_key, timeout=timeout) if url else QdrantClient(path=path)
        self._where = url or f"local:{path}"
        self._shard_number = shard_number
        self._replication_factor = replication_factor
        self._specs: dict[str, CollectionSpec] = {}
        self._lock = threading.RLock()

    # -- collections -------------------------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                raise NotFound(f"Qdrant at {self._where}: {exc.reason_phrase}") from exc
            if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429):
                raise StoreUnavailable(f"Qdrant at {self._where} answered {exc.status_code}") from exc
            raise BadInput(f"Qdrant at {self._where} refused the request ({exc.status_code}): {exc.content!r}") from exc
        except (ResponseHandlingException, ConnectionError, OSError, TimeoutError) as exc:
            # qdrant-client wraps transport failures (refused, reset, timeout) in ResponseHandlingException
            raise StoreUnavailable(f"cannot reach Qdrant at {self._where}: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("httpx", "httpcore", "grpc"):
                raise StoreUnavailable(f"cannot reach Qdrant at {self._where}: {exc}") from exc
            raise

    def spec(self, name: str) -> CollectionSpec:
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        if not self._call(self._client.collection_exists, name):
            raise NotFound(f"unknown collection {name!r}")
        info = self._call(self._client.get_collection, name)
        vectors = info.config.params.vectors or {}
        if not isinstance(vectors, dict):
            vectors = {"": vectors}
        spec = CollectionSpec(
            name=name,
            vectors=tuple(
                VectorSpec(n, int(p.size), _DISTANCE_BACK.get(p.distance, "cosine"))  # type: ignore[arg-type]
                for n, p in sorted(vectors.items())
            ),
            indexes=tuple(
                PayloadIndex(f, _INDEX_BACK[i.data_type])  # type: ignore[arg-type]
                for f, i in sorted((info.payload_schema or {}).items())
                if i.data_type in _INDEX_BACK
            ),
        )
        self._specs[name] = spec
        return spec

    def ensure_collection(self, spec: CollectionSpec) -> None:
        check_collection_name(spec.name)
        with self._lock:
            if self.has_collection(spec.name):
                old = self.spec(spec.name)
                if {v.name: v for v in old.vectors} != {v.name: v for v in spec.vectors}:
                    raise MatsearchError(
                        f"collection {spec.name!r} exists with other vectors; drop it first", status=409
                    )
            else:
                self._call(
                    self._client.create_collection,
                    spec.name,
                    vectors_config={
                        v.name: qm.VectorParams(size=v.size, distance=_DISTANCE[v.distance], on_disk=True)
                        for v in spec.vectors
                    },
                    # as the embedded store (store/edge.py): int8 in RAM for search, originals on disk for rescoring
                    hnsw_config=qm.HnswConfigDiff(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, payload_m=HNSW_PAYLOAD_M),
                    quantization_config=qm.ScalarQuantization(
                        scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, quantile=0.99, always_ram=True)
                    ),
                    shard_number=self._shard_number,
                    replication_factor=self._replication_factor,
                )
            for idx in spec.indexes:
                self._call(
                    self._client.create_payload_index, spec.name, field_name=idx.field, field_schema=_INDEX[idx.kind]
                )
            self._specs[spec.name] = spec

    def has_collection(self, name: str) -> bool:
        return bool(self._call(self._client.collection_exists, name))

    def collection_info(self, name: str) -> CollectionInfo:
        spec = self.spec(name)
        return CollectionInfo(name, self.count(name), list(spec.vectors), list(spec.indexes))

    def list_collections(self) -> list[CollectionInfo]:
        names = sorted(c.name for c in self._call(self._client.get_collections).collections)
        return [self.collection_info(n) for n in names]

    def drop_collection(self, name: str) -> None:
        self.spec(name)
        self._call(self._client.delete_collection, name)
        self._specs.pop(name, None)

    # -- writes ------------------------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        spec = self.spec(collection)
        structs = [
            qm.PointStruct(id=check_id(p.id), vector=checked_vectors(spec, p), payload=p.payload) for p in points
        ]
        for i in range(0, len(structs), _UPSERT_CHUNK):
            self._call(self._client.upsert, collection, points=structs[i : i + _UPSERT_CHUNK], wait=True)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self.spec(collection)
        self._call(self._client.delete, collection, points_selector=qm.PointIdsList(points=[check_id(i) for i in ids]))

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        self.spec(collection)
        self._call(self._client.set_payload, collection, payload=payload, points=[check_id(i) for i in ids])

    def optimize(self, collection: str) -> None:
        """The server optimises in the background; nothing to do."""
        self.spec(collection)

    def maintain(self, collection: str) -> bool:
        """The server's optimizer thresholds index new points in the background, searchable throughout."""
        self.spec(collection)
        return False

    # -- reads -------------------------------------------------------------------------------------------------
    def retrieve(self, collection: str, ids: Sequence[str], with_vectors: bool = False) -> list[PointRecord]:
        self.spec(collection)
        records = self._call(
            self._client.retrieve,
            collection,
            ids=[check_id(i) for i in ids],
            with_payload=True,
            with_vectors=with_vectors,
        )
        return [PointRecord(str(r.id), vectors_out(r.vector), dict(r.payload or {})) for r in records]

    def scroll(
        self,
        collection: str,
        flt: Filter | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[PointRecord], str | None]:
        self.spec(collection)
        records, next_offset = self._call(
            self._client.scroll,
            collection,
            scroll_filter=client_filter(flt),
            limit=limit,
            offset=check_id(offset) if offset else None,
            with_payload=True,
            with_vectors=with_vectors,
        )
        points = [PointRecord(str(r.id), vectors_out(r.vector), dict(r.payload or {})) for r in records]
        return points, (str(next_offset) if next_offset is not None else None)

    def count(self, collection: str, flt: Filter | None = None) -> int:
        self.spec(collection)
        return int(self._call(self._client.count, collection, count_filter=client_filter(flt), exact=True).count)

    def _request(self, collection: str, q: VectorQuery) -> qm.QueryRequest:
        size = self.spec(collection).vector(q.using).size
        params = qm.SearchParams(
            hnsw_ef=q.hnsw_ef,
            exact=q.exact,
            quantization=qm.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING),
            # no payload-aware links (HNSW_PAYLOAD_M = 0): selective filters search the graph with ACORN
            acorn=_ACORN if q.filter is not None and not q.filter.is_empty() else None,
        )
        return qm.QueryRequest(
            query=as_float_list(q.vector, size, name="query vector"),
            using=q.using,
            filter=client_filter(q.filter),
            limit=q.limit,
            offset=q.offset or None,
            score_threshold=q.score_threshold,
            with_payload=q.with_payload,
            params=params,
        )

    def query(self, collection: str, q: VectorQuery) -> list[ScoredHit]:
        return self.query_batch(collection, [q])[0]

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[ScoredHit]]:
        if not queries:
            return []
        requests = [self._request(collection, q) for q in queries]
        responses = self._call(self._client.query_batch_points, collection, requests=requests)
        return [[ScoredHit(str(p.id), float(p.score), dict(p.payload or {})) for p in r.points] for r in responses]

    def close(self) -> None:
        self._client.close()
