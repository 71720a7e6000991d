"""EdgeStore bounds a build by segment size: upsert builds a segment whenever one's worth of points is unindexed, Edge
never merges segments past ``SEGMENT_KB``; in process (a bulk load) or in the background. Real Qdrant Edge, a small
segment size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matsearch.core.filters import parse_filter
from matsearch.store import edge
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore, segment_points

DIM = 1024
SPEC = CollectionSpec("c", (VectorSpec("v", DIM, "cosine"),), (PayloadIndex("kind", "keyword"),))
SEGMENT_KB = 12_000  # 3000 points of 1024-d float32: above Edge's indexing threshold (10 MB), so each gets HNSW


def pid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    data = rng.normal(size=(n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def load(store: EdgeStore, data: np.ndarray, start: int = 0, batch: int = 250) -> None:
    for s in range(0, len(data), batch):
        store.upsert(
            "c",
            [
                PointRecord(pid(start + s + j), {"v": v}, {"kind": "a" if (s + j) % 2 else "b"})
                for j, v in enumerate(data[s : s + batch])
            ],
        )


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge, "SEGMENT_KB", SEGMENT_KB)


def test_bulk_load_builds_bounded_segments_in_process(tmp_path: Path, small_segments: None) -> None:
    assert segment_points(SPEC) == 3000
    rng = np.random.default_rng(0)
    data = unit(rng, 7000)
    root = tmp_path / "store"
    store = EdgeStore(root, build_in_background=False)
    try:
        store.ensure_collection(SPEC)
        load(store, data)
        # two segments' worth were built while loading (at 3000 and 6000 points), in this process
        assert [b["in_process"] for b in store.build_log] == [True, True]
        store.optimize("c")
        assert len(store.build_log) == 3
        info = store._shard("c").info()  # noqa: SLF001 - looking inside: how many segments, what is indexed
        # not merged into one: two HNSW segments of 3000 (each at most SEGMENT_KB), the last 1000 points plain
        # (below Edge's indexing threshold); one segment of 7000 would be indexed_vectors_count == 7000
        assert info.segments_count >= 3
        assert info.indexed_vectors_count == 6000
        assert store.count("c") == 7000
        # every point is found by an approximate (HNSW) query for its own vector, whichever segment holds it
        for i in (0, 2999, 3000, 4567, 5999, 6000, 6999):
            hits = store.query("c", VectorQuery(vector=data[i], using="v", limit=1))
            assert hits[0].id == pid(i) and hits[0].score == pytest.approx(1.0, abs=1e-4)
        # and a filtered query (ACORN on each segment's graph) finds them in every segment too
        kind_a = parse_filter({"kind": "a"})
        for i in (1, 2999, 3001, 5999, 6001):
            hits = store.query("c", VectorQuery(vector=data[i], using="v", limit=3, filter=kind_a))
            assert hits[0].id == pid(i) and all(h.payload["kind"] == "a" for h in hits)
    finally:
        store.close()
    reopened = EdgeStore(root, build_in_background=False)
    try:
        assert reopened.count("c") == 7000
        assert reopened.query("c", VectorQuery(vector=data[6999], using="v", limit=1))[0].id == pid(6999)
    finally:
        reopened.close()


def test_a_segments_worth_of_upserts_starts_a_background_build(tmp_path: Path, small_segments: None) -> None:
    rng = np.random.default_rng(1)
    data = unit(rng, 3200)
    store = EdgeStore(tmp_path / "store")  # background builds (the default)
    try:
        store.ensure_collection(SPEC)
        load(store, data[:3000])  # the 3000th point fills a segment: a build starts without any maintain() call
        load(store, data[3000:], start=3000)  # written while it runs; replayed onto the built copy
        store.wait_for_build("c")
        [log] = store.build_log
        assert not log.get("in_process") and log["points"] == 3000
        assert store.count("c") == 3200
        info = store._shard("c").info()  # noqa: SLF001
        assert info.indexed_vectors_count >= 3000
        assert store.query("c", VectorQuery(vector=data[3100], using="v", limit=1))[0].id == pid(3100)
    finally:
        store.close()
