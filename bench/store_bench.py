"""The embedded store (``EdgeStore``) at one size: upsert, optimize (HNSW), then latency and recall@10 against exact
numpy brute force over the same vectors and the same filter mask: unfiltered, 10% keyword filter, 10% range filter.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from bench import data as gen
from bench.common import MemorySampler, blas_threads, dir_size_mib, ms_stats, rss_mib
from matsearch.core.filters import Filter, parse_filter
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore

COLLECTION = "bench"
VECTOR = "v"
K = 10
UPSERT_BATCH = 256  # what an ingestion batch looks like (16 figures x a few panels ... a few hundred points)
WARMUP = 20
MIN_RECALL = 0.95
MEMMAP_FROM = 500_000  # from this size the bench's copy of the vectors is a memory-mapped file, not RAM

Log = Callable[[str], None]


@dataclass(frozen=True)
class Case:
    name: str
    filter: Filter | None
    mask: np.ndarray | None  # which points the filter keeps (None: all)


@dataclass(frozen=True)
class HnswBuild:
    """HNSW build parameters; the bench pre-creates the shard with them (EdgeStore itself uses Edge's defaults)."""

    m: int
    ef_construct: int
    full_scan_threshold_kb: int = 10_000

    @classmethod
    def parse(cls, text: str) -> HnswBuild:
        parts = [int(p) for p in text.split(",")]
        return cls(*parts)

    @property
    def label(self) -> str:
        return f"m={self.m},ef_construct={self.ef_construct}"


def _default_label() -> str:
    from matsearch.store import edge

    hnsw = f"m={edge.HNSW_M},ef_construct={edge.HNSW_EF_CONSTRUCT}"
    return f"matsearch default: {hnsw}, int8 + rescore x{edge.OVERSAMPLING}"


def point_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


def point_index(pid: str) -> int:
    return uuid.UUID(pid).int - 1


def spec(dim: int) -> CollectionSpec:
    return CollectionSpec(
        COLLECTION,
        (VectorSpec(VECTOR, dim, "cosine"),),
        (PayloadIndex("kind", "keyword"), PayloadIndex("x", "float"), PayloadIndex("year", "integer")),
    )


def precreate(root: Path, collection_spec: CollectionSpec, hnsw: HnswBuild) -> None:
    """Create the collection's shard with explicit HNSW build parameters, in the layout EdgeStore loads.

    Bench-only: EdgeStore uses ``edge_config`` (int8 quantisation, originals on disk, its HNSW constants); this
    keeps all of that and changes only the HNSW build parameters, for measuring them.
    """
    from matsearch.store.edge import _INDEX, _write_spec, edge_config

    path = root / collection_spec.name
    path.mkdir(parents=True)
    base = edge_config(collection_spec)
    config = qe.EdgeConfig(
        vectors=base.vectors,
        hnsw_config=qe.HnswIndexConfig(
            m=hnsw.m, ef_construct=hnsw.ef_construct, full_scan_threshold=hnsw.full_scan_threshold_kb
        ),
        quantization_config=base.quantization_config,
    )
    shard = qe.EdgeShard.create(str(path), config)
    for idx in collection_spec.indexes:
        shard.update(qe.UpdateOperation.create_field_index(idx.field, _INDEX[idx.kind]))
    shard.flush()
    shard.close()
    _write_spec(path, collection_spec)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 32) -> np.ndarray:
    """Exact top-k rows of ``base`` by dot product (= cosine, rows are unit vectors), best first."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), chunk):
        scores = queries[s : s + chunk] @ base.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out[s : s + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def numpy_latency(base: np.ndarray, queries: np.ndarray, limit: int = 100) -> dict[str, Any]:
    """What one brute-force query costs (matmul + partial sort) over ``base``: the reference line. BLAS with its
    default threads and with one thread (on a loaded machine, threaded BLAS can be much slower than one thread)."""
    with blas_threads(os.cpu_count()):
        out: dict[str, Any] = _numpy_times(base, queries[:limit])
    with blas_threads(1):
        out["one_thread"] = _numpy_times(base, queries[:limit])
    return out


def _numpy_times(base: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    for q in queries[:5]:
        base @ q
    times = []
    for q in queries:
        t0 = time.perf_counter()
        scores = base @ q
        part = np.argpartition(-scores, K)[:K]
        part[np.argsort(-scores[part])]
        times.append(time.perf_counter() - t0)
    return ms_stats(times)


def run_queries(
    store: EdgeStore, queries: np.ndarray, case: Case, truth: np.ndarray, hnsw_ef: int | None
) -> dict[str, Any]:
    def one(q: np.ndarray) -> list[str]:
        vq = VectorQuery(vector=q, using=VECTOR, filter=case.filter, limit=K, hnsw_ef=hnsw_ef)
        return [h.id for h in store.query(COLLECTION, vq)]

    for q in queries[:WARMUP]:
        one(q)
    times, recalls = [], []
    for q, true in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        ids = one(q)
        times.append(time.perf_counter() - t0)
        got = {point_index(i) for i in ids}
        recalls.append(len(got & set(true.tolist())) / K)
    return {"hnsw_ef": hnsw_ef, **ms_stats(times), "recall_at_10": round(float(np.mean(recalls)), 4)}


def bench_size(
    n: int,
    dim: int,
    n_queries: int,
    *,
    seed: int = 0,
    ef_sweep: Sequence[int] = (),
    hnsw: HnswBuild | None = None,
    noise: float = 1.0,
    workdir: Path | None = None,
    log: Log = print,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "points": n,
        "dim": dim,
        "queries": n_queries,
        "hnsw_build": hnsw.label if hnsw else _default_label(),
    }
    t0 = time.perf_counter()
    vectors, queries, _ = gen.clustered(n, dim, n_queries, seed=seed, noise=noise)
    kind, x, year = gen.payloads(n, seed=seed + 1)
    result["data"] = {
        "generator": "gaussian mixture, 2-level, power-law spectra, L2-normalised (bench/data.py)",
        "clusters": max(8, n // 100),
        "noise": noise,
        "participation_ratio": round(gen.participation_ratio(vectors), 1),
        "generate_s": round(time.perf_counter() - t0, 2),
    }
    log(
        f"[{n}] generated {n}x{dim} in {result['data']['generate_s']} s "
        f"(effective dim {result['data']['participation_ratio']})"
    )

    cases = [
        Case("unfiltered", None, None),
        Case("keyword_10pct", parse_filter({"kind": gen.KEYWORDS[0]}), kind == 0),
        Case(
            "range_10pct",
            parse_filter({"x": {"gte": gen.RANGE[0], "lt": gen.RANGE[1]}}),
            (x >= gen.RANGE[0]) & (x < gen.RANGE[1]),
        ),
    ]

    with tempfile.TemporaryDirectory(prefix="matsearch-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        if n >= MEMMAP_FROM:  # keep the bench's own copy of the data out of the anonymous memory being measured
            np.save(root / "vectors.npy", vectors)
            del vectors
            vectors = np.load(root / "vectors.npy", mmap_mode="r")
        gc.collect()
        rss_before = rss_mib()
        sampler = MemorySampler()
        if hnsw is not None:
            precreate(root / "store", spec(dim), hnsw)
        root = root / "store"
        store = EdgeStore(root)
        try:
            store.ensure_collection(spec(dim))
            upsert_s = 0.0
            for s in range(0, n, UPSERT_BATCH):
                batch = [
                    PointRecord(point_id(i), {VECTOR: vectors[i]}, gen.payload(i, kind, x, year))
                    for i in range(s, min(n, s + UPSERT_BATCH))
                ]
                t = time.perf_counter()
                store.upsert(COLLECTION, batch)
                upsert_s += time.perf_counter() - t
            t = time.perf_counter()
            store.flush()
            flush_s = time.perf_counter() - t
            result["upsert"] = {
                "batch": UPSERT_BATCH,
                "seconds": round(upsert_s, 2),
                "points_per_s": round(n / upsert_s),
                "flush_s": round(flush_s, 2),
                "points_per_s_incl_flush": round(n / (upsert_s + flush_s)),
            }
            log(f"[{n}] upsert {result['upsert']['points_per_s']} points/s")
            t = time.perf_counter()
            store.optimize(COLLECTION)
            result["optimize_s"] = round(time.perf_counter() - t, 2)
            log(f"[{n}] optimize (HNSW build) {result['optimize_s']} s")
            gc.collect()
            rss_after = rss_mib()
            result["memory"] = {
                **sampler.stop(),
                "rss_mib_after_build": rss_after,
                "rss_mib_before_store": rss_before,
                "rss_mib_store_delta": round(rss_after - rss_before, 1),
                "raw_vectors_mib": round(vectors.nbytes / 2**20, 1),
                "store_disk_mib": dir_size_mib(root),
            }
            assert store.count(COLLECTION) == n
            info = store._shard(COLLECTION).info()  # noqa: SLF001 - bench looks inside: was HNSW built?
            result["shard"] = {"segments": info.segments_count, "indexed_vectors": info.indexed_vectors_count}

            result["cases"] = {}
            for case in cases:
                if case.mask is None:
                    base, index = vectors, np.arange(n)
                else:
                    index = np.flatnonzero(case.mask)
                    base = np.ascontiguousarray(vectors[index])
                truth = index[exact_topk(base, queries)]
                entry: dict[str, Any] = {
                    "selectivity": round(len(index) / n, 4),
                    "numpy": numpy_latency(base, queries),
                    "default": run_queries(store, queries, case, truth, None),
                }
                sweep = [run_queries(store, queries, case, truth, ef) for ef in ef_sweep]
                entry["ef_sweep"] = sweep
                ok = [r for r in [entry["default"], *sweep] if r["recall_at_10"] >= MIN_RECALL]
                entry["fastest_at_recall_0_95"] = min(ok, key=lambda r: r["p50_ms"]) if ok else None
                result["cases"][case.name] = entry
                d = entry["default"]
                log(
                    f"[{n}] {case.name}: p50 {d['p50_ms']} ms p95 {d['p95_ms']} ms recall@10 {d['recall_at_10']} "
                    f"(numpy p50 {entry['numpy']['p50_ms']} ms)"
                    + "".join(f"; ef={r['hnsw_ef']}: {r['p50_ms']} ms r={r['recall_at_10']}" for r in sweep)
                )
        finally:
            store.close()
    return result
