"""The embedded store (``EdgeStore``) at one size: upsert, optimize (HNSW), then latency and recall@10 against exact
numpy brute force over the same vectors and the same filter mask: unfiltered, 10% keyword filter, 10% range filter.
"""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
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
WARMUP_FACTOR = 5  # untimed warm-up queries before the first timed run of each case, per timed query
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
    full_scan_threshold_kb: int = 40_000  # = matsearch.store.edge.FULL_SCAN_THRESHOLD_KB

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
        # the two filtered fields are principal (segments ordered by them: docs/benchmarks.md, "Filtered queries at
        # 100k"); year is a plain index
        (
            PayloadIndex("kind", "keyword", principal=True),
            PayloadIndex("x", "float", principal=True),
            PayloadIndex("year", "integer"),
        ),
    )


def precreate(root: Path, collection_spec: CollectionSpec, hnsw: HnswBuild) -> None:
    """Create the collection's shard with explicit HNSW build parameters, in the layout EdgeStore loads.

    Bench-only: EdgeStore uses ``edge_config`` (int8 quantisation, originals on disk, its HNSW constants); this
    keeps all of that and changes only the HNSW build parameters, for measuring them.
    """
    from matsearch.store.edge import _write_spec, edge_config, index_schema

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
        shard.update(qe.UpdateOperation.create_field_index(idx.field, index_schema(idx)))
    shard.flush()
    shard.close()
    _write_spec(path, collection_spec)


def cpu_s() -> float:
    """CPU seconds of this process so far (all threads, user + system): the load-independent cost."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _batches(rows: np.ndarray | Path, n: int, dim: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first index, vectors) per upsert batch, from an array or from a ``.npy`` file read with plain reads."""
    if isinstance(rows, np.ndarray):
        for s in range(0, n, UPSERT_BATCH):
            yield s, rows[s : s + UPSERT_BATCH]
        return
    with open(rows, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
        assert shape == (n, dim), shape
        for s in range(0, n, UPSERT_BATCH):
            m = min(UPSERT_BATCH, n - s)
            yield s, np.fromfile(f, dtype=dtype, count=m * dim).reshape(m, dim)


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
    store: EdgeStore,
    queries: np.ndarray,
    case: Case,
    truth: np.ndarray,
    hnsw_ef: int | None,
    base: np.ndarray | None = None,
    warmup: np.ndarray | None = None,
) -> dict[str, Any]:
    """Latency and recall@10 of the store's answers, after untimed ``warmup`` queries (other queries from the same
    mixture: right after a build the first few hundred queries pay page faults on the memory-mapped originals).

    With ``base`` (the vectors the filter keeps), numpy brute force over them (one BLAS thread) is timed for the same
    query just before each store query, so both see the same machine load: on a shared machine the load changes
    within seconds, and two separate loops compare two loads."""

    def one(q: np.ndarray) -> list[str]:
        vq = VectorQuery(vector=q, using=VECTOR, filter=case.filter, limit=K, hnsw_ef=hnsw_ef)
        return [h.id for h in store.query(COLLECTION, vq)]

    for q in queries[:WARMUP] if warmup is None else warmup:
        one(q)
    times, cpu, brute, brute_cpu, recalls = [], [], [], [], []
    with blas_threads(1):
        for q, true in zip(queries, truth, strict=True):
            if base is not None:
                c0 = time.process_time()
                brute.append(_brute_once(base, q))
                brute_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            ids = one(q)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            got = {point_index(i) for i in ids}
            recalls.append(len(got & set(true.tolist())) / K)
    out: dict[str, Any] = {"hnsw_ef": hnsw_ef, **ms_stats(times), "recall_at_10": round(float(np.mean(recalls)), 4)}
    out["cpu_p50_ms"] = round(1000 * float(np.median(cpu)), 3)  # process CPU per query, all threads
    if brute:
        out["numpy_interleaved"] = {**ms_stats(brute), "cpu_p50_ms": round(1000 * float(np.median(brute_cpu)), 3)}
    return out


def _brute_once(base: np.ndarray, q: np.ndarray) -> float:
    t0 = time.perf_counter()
    scores = base @ q
    part = np.argpartition(-scores, K)[:K]
    part[np.argsort(-scores[part])]
    return time.perf_counter() - t0


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
    # timed queries, then untimed warm-up queries (5x as many): steady-state latency, not the page faults of the
    # first queries after a build on memory-mapped originals (measured: 2-4x the CPU per query for ~400 queries)
    vectors, all_queries, _ = gen.clustered(n, dim, (1 + WARMUP_FACTOR) * n_queries, seed=seed, noise=noise)
    queries, warmup = all_queries[:n_queries], all_queries[n_queries:]
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
        rows: np.ndarray | Path = vectors
        if n >= MEMMAP_FROM:
            # keep the bench's own copy of the data out of the memory being measured: it goes to a file, is read
            # back in batches with plain reads while the store is filled (page cache, not this process's RSS) and
            # memory-mapped only for the queries, after the build
            np.save(root / "vectors.npy", vectors)
            del vectors
            rows = root / "vectors.npy"
        gc.collect()
        rss_before = rss_mib()
        _reset_vm_hwm()  # the high-water mark from here on: not the generation of the data above
        sampler = MemorySampler()
        if hnsw is not None:
            precreate(root / "store", spec(dim), hnsw)
        root = root / "store"
        # builds in this process (a bulk load, nobody querying): upsert builds a segment whenever one's worth of
        # points is unindexed, optimize() builds the rest; every build is in store.build_log
        store = EdgeStore(root, build_in_background=False)
        try:
            store.ensure_collection(spec(dim))
            upsert_s = 0.0
            cpu0 = cpu_s()
            for s, block in _batches(rows, n, dim):
                batch = [
                    PointRecord(point_id(s + j), {VECTOR: v}, gen.payload(s + j, kind, x, year))
                    for j, v in enumerate(block)
                ]
                t = time.perf_counter()
                store.upsert(COLLECTION, batch)
                upsert_s += time.perf_counter() - t
            t = time.perf_counter()
            store.flush()
            flush_s = time.perf_counter() - t
            in_loop = list(store.build_log)  # segments built while upserting
            loop_build_s = sum(b["seconds"] for b in in_loop)
            loop_build_cpu = sum(b["cpu_s"] for b in in_loop)
            write_s = upsert_s - loop_build_s
            result["upsert"] = {
                "cpu_s": round(cpu_s() - cpu0 - loop_build_cpu, 1),
                "batch": UPSERT_BATCH,
                "seconds": round(write_s, 2),
                "points_per_s": round(n / write_s),
                "flush_s": round(flush_s, 2),
                "points_per_s_incl_flush": round(n / (write_s + flush_s)),
            }
            log(f"[{n}] upsert {result['upsert']['points_per_s']} points/s")
            t, cpu0, load0 = time.perf_counter(), cpu_s(), os.getloadavg()[0]
            store.optimize(COLLECTION)
            final_s, final_cpu = time.perf_counter() - t, cpu_s() - cpu0
            # the index build in all: the segments built during the upsert plus the final optimize
            result["optimize_s"] = round(loop_build_s + final_s, 2)
            result["optimize_cpu_s"] = round(loop_build_cpu + final_cpu, 1)
            result["optimize_load_avg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            result["builds"] = store.build_log
            result["load_and_build_s"] = round(upsert_s + flush_s + final_s, 2)  # first upsert until all indexed
            log(
                f"[{n}] optimize (HNSW build) {result['optimize_s']} s wall, {result['optimize_cpu_s']} CPU-s, "
                f"load {result['optimize_load_avg']}"
            )
            gc.collect()
            rss_after = rss_mib()
            result["memory"] = {
                **sampler.stop(),
                "rss_mib_after_build": rss_after,
                "rss_mib_before_store": rss_before,
                "rss_mib_store_delta": round(rss_after - rss_before, 1),
                "raw_vectors_mib": round(n * dim * 4 / 2**20, 1),
                "store_disk_mib": dir_size_mib(root),
            }
            vectors = rows if isinstance(rows, np.ndarray) else np.load(rows, mmap_mode="r")
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
                    # numpy beside each query for the filtered cases (the target compares them); at 1M the unfiltered
                    # brute force would stream 2 GB per query through the cache the store's answers depend on
                    "default": run_queries(
                        store, queries, case, truth, None, base=None if case.mask is None else base, warmup=warmup
                    ),
                }
                sweep = [run_queries(store, queries, case, truth, ef, warmup=warmup[:WARMUP]) for ef in ef_sweep]
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
            # the process's peak from the store's creation to here (kernel high-water mark), queries included: from
            # 500k points it also counts the bench's own copy of the vectors, memory-mapped for the exact truth and
            # numpy's loop
            result["memory"]["process_peak_rss_mib_incl_queries"] = _vm_hwm_mib()
        finally:
            store.close()
    return result


def _reset_vm_hwm() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
