"""Embedded store: one Qdrant Edge shard per collection, on disk under ``<data_dir>/qdrant/<collection>/``.

New collections are created with int8 scalar quantisation (in RAM; HNSW search and the HNSW build use it), the
original float vectors on disk (memory-mapped, read to rescore candidates) and HNSW parameters chosen by measurement
(docs/benchmarks.md, "1M points"). Queries rescore an oversampled candidate list with the originals, so the scores
returned are exact cosines. ``maintain`` builds HNSW for new points only once enough of them are unindexed (plain
segments are searched exactly until then): an ingest call never rebuilds the index by itself.

Memory is bounded by segment size, not collection size: Edge never builds or merges a segment beyond
``SEGMENT_KB`` of original vectors, and ``upsert`` starts a build whenever a segment's worth of points is unindexed,
so a bulk load of 1M points is indexed 256k points at a time instead of as one 2 GB segment (docs/benchmarks.md,
"1M points").

Payload indexes declared ``principal`` are Edge's tenant / principal indexes: each built segment stores its points
ordered by them, so a selective filter on such a field scans one contiguous run of vectors (``index_schema``). The
remote (Qdrant server) store does not pass the flag on.

One process owns the directory. Edge itself refuses a second open through its WAL lock, but a refused open can
already have touched the segment files, so we take our own ``flock`` on ``<store_dir>/.lock`` first and never let a
second process reach Edge at all.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def index_schema(
    idx: PayloadIndex,
) -> qe.PayloadSchemaType | qe.KeywordIndexParams | qe.IntegerIndexParams | qe.FloatIndexParams:
    """Edge's schema for a payload index. A principal field (``PayloadIndex.principal``) is a tenant keyword index or
    a principal number index: Edge orders the points of every segment it builds by it, so the int8 scan of a selective
    filter on it reads one contiguous run of vectors instead of a random gather (100k points, 10 % filter: 1.0-1.1 vs
    2.0 CPU-ms per query, numpy over the subset 2.1; docs/benchmarks.md, "Filtered queries at 100k")."""
    if not idx.principal:
        return _INDEX[idx.kind]
    if idx.kind == "keyword":
        return qe.KeywordIndexParams(is_tenant=True)
    if idx.kind == "integer":
        return qe.IntegerIndexParams(lookup=True, range=True, is_principal=True)
    if idx.kind == "float":
        return qe.FloatIndexParams(is_principal=True)
    raise BadInput(f"a {idx.kind} index cannot be principal (keyword, integer or float)")


_SPEC_FILE = "matsearch_collection.json"
_CURRENT_FILE = "CURRENT"  # names the generation directory holding the shard (absent: the collection dir itself)
_EDGE_ENTRIES = ("edge_config.json", "segments", "wal", "temp_segments")  # what Edge keeps in a shard directory
_GEN_RE = re.compile(r"^gen-(\d+)$")
RETIRE_AFTER_S = 10.0  # a swapped-out shard is closed this long after the swap (queries may still hold it)
log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_UPSERT_CHUNK = 512
# flush after this many points written: a flush lets Edge drop the write-ahead log up to it, and the WAL's segment
# files are memory-mapped, so a long bulk load without flushes grows resident memory by the whole WAL
FLUSH_EVERY_POINTS = 50_000
# Index parameters of new collections (docs/benchmarks.md has the measurements behind them).
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
# A filter whose subset holds less than this (KB of float32 vectors, per segment) may be scanned instead of searched
# in the graph: Edge scores the subset's int8 vectors and rescores the best with the originals. The store asks for
# that scan (no ACORN) only when the subset is under half of it (below): measured at 100k points, a 10 % filter
# (10k points, 20 MB) costs 1.2-1.6 CPU-ms scanned, 1.6-2.2 with ACORN, 2.0 for numpy over the subset.
FULL_SCAN_THRESHOLD_KB = 40_000
# No payload-aware HNSW links: Edge builds an extra graph per payload-index value (keyword) and per value block
# (numbers) of every indexed field, for every vector: with the bench's 3 indexed fields that was 4.5x the CPU of the
# graph itself (100k: 80 vs 17.6 CPU-s). Selective filters search the plain graph with ACORN instead (below).
HNSW_PAYLOAD_M = 0
ACORN_MAX_SELECTIVITY = 0.4  # filters keeping at most this share of points use ACORN (2-hop) graph search
# ACORN is asked for unless the filter's estimated subset (Edge's payload-index estimate, ~3 us) is below this share
# of the full-scan threshold: with ACORN on, Edge searches the graph even for a subset it could scan; with it off, a
# subset between the threshold's estimate bounds could take the plain filtered graph search, whose recall collapses
# without payload links (0.006-0.15 at 10 %), hence the margin
SCAN_BELOW_THRESHOLD_SHARE = 0.5
# Beam width of an ACORN search when the query does not set hnsw_ef (Edge's default is ef_construct, 100). A filtered
# query searches every segment's graph, so at 1M (four segments of <= 256k) the default cost 14-17 ms p50 against
# 9.4-12.7 ms at ef=64, recall@10 0.999-0.9995 vs 0.9945-0.9975 (quiet run, docs/benchmarks.md "1M points"); at 100k
# ACORN at ef=64 kept recall 0.987-0.9995 (a 10 % filter there is scanned, not searched).
ACORN_EF = 64
OVERSAMPLING = 2.0  # candidates scored on the int8 vectors per result, then rescored with the originals
MAINTAIN_MIN_UNINDEXED = 20_000  # maintain() builds HNSW once this many points (or 10%) are unindexed
BUILD_IN_BACKGROUND = True  # maintain() builds in a subprocess on a copy and swaps it in (False: in process)
# Largest segment Edge builds or merges, in KB of original vectors (Edge's own default on 2 cores, made explicit):
# 256k points of 512-d float32, ~43k panels of the figures collection (three vectors, 2,944 dims). What one build
# maps and writes (the segment's originals, and the builder's copy of them) is bounded by it, whatever the size of
# the collection; the price is one HNSW graph per segment to search (measured in docs/benchmarks.md).
SEGMENT_KB = 512_000
_SEARCH_QUANTIZATION = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
_ACORN = qe.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)


def edge_config(spec: CollectionSpec) -> qe.EdgeConfig:
    """A new collection's Edge configuration: int8 quantisation in RAM, originals on disk, tuned HNSW."""
    return qe.EdgeConfig(
        vectors={
            v.name: qe.EdgeVectorParams(size=v.size, distance=_DISTANCE[v.distance], memory=qe.Memory.Cold)
            for v in spec.vectors
        },
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_M,
            ef_construct=HNSW_EF_CONSTRUCT,
            full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
            payload_m=HNSW_PAYLOAD_M,
        ),
        quantization_config=qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
        ),
        optimizers=qe.EdgeOptimizersConfig(max_segment_size=SEGMENT_KB),
        # one search thread per query: requests run in parallel anyway, and on a loaded 2-core machine the hand-off
        # to a search pool cost more than it saved (first queries 3.4 vs 0.34 ms p50 at 30k, load 5)
        max_search_threads=1,
    )


def segment_points(spec: CollectionSpec) -> int:
    """Points of ``spec`` that fill a segment (``SEGMENT_KB`` of float32 originals)."""
    return max(1, SEGMENT_KB * 1024 // (4 * sum(v.size for v in spec.vectors)))


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


@dataclass
class _Build:
    """An index build in flight: a copy of the shard being optimised by a subprocess, and the writes made to the
    live shard since the copy (replayed onto the copy before it is swapped in)."""

    collection: str
    path: Path
    proc: subprocess.Popen[str]
    pending: list[qe.UpdateOperation] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    thread: threading.Thread | None = None


class EdgeStore(StoreBase):
    """Qdrant Edge, in process. Thread-safe: reads run concurrently, writes are serialised per store."""

    def __init__(self, root: Path, build_in_background: bool | None = None) -> None:
        """``build_in_background``: where ``maintain`` (and ``upsert``, once a segment's worth of points is
        unindexed) builds the index: a subprocess on a copy (default ``BUILD_IN_BACKGROUND``), or this process
        (a bulk load with nobody querying: no copy, no replay)."""
        self.root = Path(root)
        self.background_builds = BUILD_IN_BACKGROUND if build_in_background is None else build_in_background
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
        self._unflushed: dict[str, int] = {}  # points upserted since the collection's last flush
        self._unbuilt: dict[str, int] = {}  # points upserted since the collection's last build (or start)
        self._builds: dict[str, _Build] = {}  # index builds in flight (one per collection at most)
        self._full_scan_kb: dict[str, int] = {}  # each collection's full-scan threshold, from its Edge config
        self.build_log: list[dict[str, Any]] = []  # finished background builds: timings (benchmarks read it)
        self._retired: list[tuple[qe.EdgeShard | None, Path, Path]] = []  # swapped out, closed a little later
        for spec_path in sorted(self.root.glob(f"*/{_SPEC_FILE}")):
            spec = _read_spec(spec_path)
            self._specs[spec.name] = spec
            _clean_generations(spec_path.parent)

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
                shard = qe.EdgeShard.load(str(_shard_dir(self.root / name)))
                self._shards[name] = shard
        return shard

    def _update(self, collection: str, op: qe.UpdateOperation) -> None:
        """Apply a write (the caller holds ``self._write``); while an index build runs on a copy of the shard, the
        write is also kept, to be replayed onto the copy before it replaces the live shard."""
        self._shard(collection).update(op)
        build = self._builds.get(collection)
        if build is not None:
            build.pending.append(op)

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
                schemas = [index_schema(i) for i in missing]  # bad input fails here, before any write
                for idx, schema in zip(missing, schemas, strict=True):
                    self._update(spec.name, qe.UpdateOperation.create_field_index(idx.field, schema))
                if missing:
                    # an index asked for with another kind or principal flag replaces the old one of that field
                    redone = {i.field for i in missing}
                    kept = tuple(i for i in old.indexes if i.field not in redone)
                    spec = CollectionSpec(spec.name, spec.vectors, kept + tuple(missing))
                    _write_spec(self.root / spec.name, spec)
                    self._specs[spec.name] = spec
                return
            path = self.root / spec.name
            if path.exists():
                shutil.rmtree(path)  # a directory without our spec file is a half-created collection
            schemas = [index_schema(i) for i in spec.indexes]  # bad input fails here, before any write
            shard = qe.EdgeShard.create(str(path), edge_config(spec))
            for idx, schema in zip(spec.indexes, schemas, strict=True):
                shard.update(qe.UpdateOperation.create_field_index(idx.field, schema))
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
        self._cancel_build(name)
        with self._write:
            self.spec(name)
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            del self._specs[name]
            self._full_scan_kb.pop(name, None)
            (self.root / name / _SPEC_FILE).unlink(missing_ok=True)
            shutil.rmtree(self.root / name, ignore_errors=True)

    # -- writes ------------------------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        spec = self.spec(collection)
        edge_points = [
            qe.Point(check_id(p.id), checked_vectors(spec, p), p.payload)  # type: ignore[arg-type]
            for p in points
        ]
        self._shard(collection)
        with self._write:
            for i in range(0, len(edge_points), _UPSERT_CHUNK):
                self._update(collection, qe.UpdateOperation.upsert_points(edge_points[i : i + _UPSERT_CHUNK]))
            self._unflushed[collection] = self._unflushed.get(collection, 0) + len(edge_points)
            if self._unflushed[collection] >= FLUSH_EVERY_POINTS:
                self._shard(collection).flush()
                self._unflushed[collection] = 0
            self._unbuilt[collection] = self._unbuilt.get(collection, 0) + len(edge_points)
            seal = self._unbuilt[collection] >= segment_points(spec) and collection not in self._builds
        if seal:
            # a segment's worth is unindexed: build it now, before the plain segment grows past the size that
            # bounds a build's memory (in the background unless this store builds in process)
            self._unbuilt[collection] = 0
            self._build(collection)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self._shard(collection)
        with self._write:
            self._update(collection, qe.UpdateOperation.delete_points([check_id(i) for i in ids]))

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        self._shard(collection)
        with self._write:
            self._update(collection, qe.UpdateOperation.set_payload([check_id(i) for i in ids], payload))

    def optimize(self, collection: str) -> None:
        """Build the index now, in this process (benchmarks, tests, a CLI with nobody querying): Edge holds the GIL
        for the whole build. A background build in flight is finished first."""
        self.wait_for_build(collection)
        self._shard(collection)
        with self._write:
            t0, cpu0 = time.perf_counter(), time.process_time()
            shard = self._shard(collection)
            changed = shard.optimize()
            shard.flush()
            self._unbuilt[collection] = 0
            self.build_log.append(
                {
                    "collection": collection,
                    "in_process": True,
                    "changed": int(changed),
                    "seconds": round(time.perf_counter() - t0, 2),
                    "cpu_s": round(time.process_time() - cpu0, 2),
                }
            )

    def maintain(self, collection: str) -> bool:
        """Start an HNSW build for new points once enough are unindexed (``MAINTAIN_MIN_UNINDEXED``, or 10% of the
        collection); until then they sit in plain segments that queries scan exactly. Returns whether one started.

        Edge's ``optimize`` holds the GIL for its whole run (measured: no other thread of the process runs, so
        queries would wait for it), so the build runs in a subprocess on a copy of the shard (``edge_build``) while
        this process keeps serving and writing the live shard; writes made meanwhile are replayed onto the copy,
        which then replaces the live shard (``_swap``). One build per collection at a time."""
        spec = self.spec(collection)
        if collection in self._builds:
            return False
        info = self._shard(collection).info()
        unindexed = info.points_count - info.indexed_vectors_count / max(1, len(spec.vectors))
        if unindexed < max(MAINTAIN_MIN_UNINDEXED, 0.1 * info.points_count):
            return False
        self._build(collection)
        return True

    def _build(self, collection: str) -> None:
        if self.background_builds:
            self.build_in_background(collection)
        else:
            self.optimize(collection)

    def build_in_background(self, collection: str) -> None:
        """Copy the shard (writes wait meanwhile, queries do not), start the build subprocess on the copy, and a
        thread that swaps the result in when it is done."""
        self.spec(collection)
        with self._write:
            if collection in self._builds:
                return
            shard = self._shard(collection)
            shard.flush()
            self._unflushed[collection] = 0
            coll_dir = self.root / collection
            path = coll_dir / f"gen-{_next_generation(coll_dir)}"
            _copy_shard(_shard_dir(coll_dir), path)
            proc = subprocess.Popen(
                [sys.executable, "-m", "matsearch.store.edge_build", str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            build = _Build(collection, path, proc)
            build.thread = threading.Thread(target=self._finish_build, args=(build,), daemon=True)
            self._builds[collection] = build
        build.thread.start()

    def wait_for_build(self, collection: str | None = None) -> None:
        """Wait until the background build of ``collection`` (of every collection: None) is swapped in."""
        for name, build in list(self._builds.items()):
            if (collection is None or name == collection) and build.thread is not None:
                build.thread.join()

    def _finish_build(self, build: _Build) -> None:
        out, err = build.proc.communicate()  # waits without the GIL
        try:
            if build.cancelled:
                return
            if build.proc.returncode != 0:
                log.warning("index build of %r failed (%s): %s", build.collection, build.proc.returncode, err[-500:])
                return
            self._swap(build, json.loads(out.strip().splitlines()[-1]))
        finally:
            with self._write:
                if self._builds.get(build.collection) is build:
                    del self._builds[build.collection]
                if build.path.exists() and _shard_dir(self.root / build.collection) != build.path:
                    shutil.rmtree(build.path, ignore_errors=True)  # failed or cancelled: not the collection

    def _swap(self, build: _Build, stats: dict[str, Any]) -> None:
        """Replace the live shard by the built copy plus the writes made since the copy. Queries keep using the old
        shard until the reference changes; it is closed ``RETIRE_AFTER_S`` later."""
        name = build.collection
        with self._write:
            if build.cancelled or name not in self._specs:
                return
            t0 = time.perf_counter()
            new = qe.EdgeShard.load(str(build.path))
            load_s = time.perf_counter() - t0
            for op in build.pending:
                new.update(op)
            new.flush()
            coll_dir = self.root / name
            old_dir = _shard_dir(coll_dir)
            _write_current(coll_dir, build.path.name)  # from here on, the built copy is the collection
            old = self._shards.get(name)
            self._shards[name] = new
            self.build_log.append(
                {
                    "collection": name,
                    **stats,
                    "wall_s": round(time.perf_counter() - build.started, 2),
                    "swap_s": round(time.perf_counter() - t0, 3),
                    "load_s": round(load_s, 3),
                    "replayed_ops": len(build.pending),
                }
            )
            entry = (old, old_dir, coll_dir)
            self._retired.append(entry)
        timer = threading.Timer(RETIRE_AFTER_S, self._retire, args=(entry,))
        timer.daemon = True
        timer.start()

    def _retire(self, entry: tuple[qe.EdgeShard | None, Path, Path]) -> None:
        with self._write:
            if entry not in self._retired:
                return
            self._retired.remove(entry)
        _retire(*entry)

    def _cancel_build(self, collection: str) -> None:
        build = self._builds.get(collection)
        if build is None:
            return
        build.cancelled = True
        build.proc.kill()
        if build.thread is not None:
            build.thread.join()

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

    def _scan_limit_kb(self, collection: str) -> float:
        """Below this many KB of vectors a filter's subset is left to Edge's scan (``SCAN_BELOW_THRESHOLD_SHARE`` of
        the collection's own full-scan threshold: collections made before it changed keep theirs)."""
        kb = self._full_scan_kb.get(collection)
        if kb is None:
            try:
                config = json.loads((_shard_dir(self.root / collection) / "edge_config.json").read_text())
                kb = int(config["hnsw_config"]["full_scan_threshold"])
            except (OSError, ValueError, KeyError, TypeError):
                kb = 0  # unknown: always ACORN (correct, if not the cheapest)
            self._full_scan_kb[collection] = kb
        return SCAN_BELOW_THRESHOLD_SHARE * kb

    def _acorn(self, collection: str, flt: qe.Filter, size: int) -> qe.AcornSearchParams | None:
        """ACORN for a filtered query, unless the filter's subset is small enough for Edge to scan it (cheaper than
        the graph search and than numpy over the subset; docs/benchmarks.md, "Filtered queries at 100k")."""
        estimate = self._shard(collection).count(qe.CountRequest(exact=False, filter=flt))
        return None if estimate * size * 4 / 1024 < self._scan_limit_kb(collection) else _ACORN

    def _request(self, collection: str, q: VectorQuery) -> qe.QueryRequest:
        size = self.spec(collection).vector(q.using).size
        flt = edge_filter(q.filter)
        acorn = self._acorn(collection, flt, size) if flt is not None and not q.exact else None
        ef = q.hnsw_ef
        if ef is None and acorn is not None:
            ef = max(ACORN_EF, q.limit + (q.offset or 0))
        params = qe.SearchParams(
            hnsw_ef=ef,
            exact=q.exact,
            quantization=_SEARCH_QUANTIZATION,
            acorn=acorn,
        )
        return qe.QueryRequest(
            limit=q.limit,
            offset=q.offset or None,
            query=qe.Query.Nearest(as_float_list(q.vector, size, name="query vector"), using=q.using),
            filter=flt,
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
        self.wait_for_build()  # a CLI ingest ends with its index built, as when the build ran in process
        for entry in list(self._retired):
            self._retire(entry)
        with self._write:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None


def _shard_dir(coll_dir: Path) -> Path:
    """Where a collection's Edge shard lives: the generation named by ``CURRENT``, else the collection dir."""
    current = coll_dir / _CURRENT_FILE
    if current.exists():
        return coll_dir / current.read_text().strip()
    return coll_dir


def _write_current(coll_dir: Path, generation: str) -> None:
    tmp = coll_dir / (_CURRENT_FILE + ".tmp")
    tmp.write_text(generation)
    tmp.replace(coll_dir / _CURRENT_FILE)


def _next_generation(coll_dir: Path) -> int:
    gens = [int(m.group(1)) for p in coll_dir.iterdir() if (m := _GEN_RE.match(p.name))]
    return max(gens, default=0) + 1


def _copy_shard(src: Path, dst: Path) -> None:
    """Copy a flushed shard's files (no writes meanwhile: the caller holds the write lock)."""
    dst.mkdir()
    for name in _EDGE_ENTRIES:
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dst / name)


def _remove_shard_files(shard_dir: Path, coll_dir: Path) -> None:
    if shard_dir == coll_dir:  # the original layout: Edge's files beside ours
        for name in _EDGE_ENTRIES:
            target = coll_dir / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
    else:
        shutil.rmtree(shard_dir, ignore_errors=True)


def _retire(old: qe.EdgeShard | None, old_dir: Path, coll_dir: Path) -> None:
    """Close a swapped-out shard and delete its files (unless the collection was dropped and made again)."""
    if old is not None:
        try:
            old.close()
        except Exception:  # noqa: BLE001 - already closed by a drop or close; its files go either way
            pass
    if coll_dir.exists() and _shard_dir(coll_dir) != old_dir:
        _remove_shard_files(old_dir, coll_dir)


def _clean_generations(coll_dir: Path) -> None:
    """On open: remove what an interrupted build or swap left (generations that are not the current one, and the
    original layout's files once a generation is current)."""
    current = _shard_dir(coll_dir)
    for p in coll_dir.iterdir():
        if _GEN_RE.match(p.name) and p != current:
            shutil.rmtree(p, ignore_errors=True)
    if current != coll_dir:
        _remove_shard_files(coll_dir, coll_dir)


def _write_spec(path: Path, spec: CollectionSpec) -> None:
    data = {
        "name": spec.name,
        "vectors": [{"name": v.name, "size": v.size, "distance": v.distance} for v in spec.vectors],
        "indexes": [
            {"field": i.field, "kind": i.kind, **({"principal": True} if i.principal else {})} for i in spec.indexes
        ],
    }
    tmp = path / (_SPEC_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path / _SPEC_FILE)


def _read_spec(path: Path) -> CollectionSpec:
    data = json.loads(path.read_text())
    return CollectionSpec(
        name=data["name"],
        vectors=tuple(VectorSpec(v["name"], int(v["size"]), v["distance"]) for v in data["vectors"]),
        indexes=tuple(
            PayloadIndex(i["field"], i["kind"], bool(i.get("principal", False))) for i in data.get("indexes", [])
        ),
    )
