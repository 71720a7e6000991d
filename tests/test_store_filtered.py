"""Filtered queries on an HNSW segment: a small subset is left to Edge's scan of its int8 vectors (no ACORN), a large
one is searched in the graph with ACORN; both answer with points that pass the filter, nearest first. Real Qdrant
Edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from matsearch.core.filters import parse_filter
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore, edge_filter

DIM = 256
N = 12_000  # 12 MB of 256-d float32: above Edge's indexing threshold (10 MB), so optimize builds an HNSW segment
SPEC = CollectionSpec("c", (VectorSpec("v", DIM, "cosine"),), (PayloadIndex("kind", "keyword"),))
KINDS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")  # "a": 10 % of the points


def pid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data: np.ndarray) -> Iterator[EdgeStore]:
    st = EdgeStore(Path(tmp_path_factory.mktemp("filtered")) / "store", build_in_background=False)
    st.ensure_collection(SPEC)
    for s in range(0, N, 500):
        st.upsert("c", [PointRecord(pid(i), {"v": data[i]}, {"kind": KINDS[i % 10]}) for i in range(s, s + 500)])
    st.optimize("c")
    assert st._shard("c").info().indexed_vectors_count == N  # noqa: SLF001
    yield st
    st.close()


def test_small_subset_is_scanned_and_large_one_uses_acorn(store: EdgeStore) -> None:
    kind_a = edge_filter(parse_filter({"kind": "a"}))
    not_a = edge_filter(parse_filter({"must_not": [{"key": "kind", "match": "a"}]}))
    assert kind_a is not None and not_a is not None
    # 1,200 points x 1 KB = 1.2 MB, under half of the 40 MB threshold: scanned
    assert store._acorn("c", kind_a, DIM) is None  # noqa: SLF001
    # 10,800 points = 10.8 MB: still under; with a lower threshold the same filter gets ACORN
    assert store._acorn("c", not_a, DIM) is None  # noqa: SLF001
    store._full_scan_kb["c"] = 10_000  # noqa: SLF001 - as a collection made with the old 10 MB threshold
    try:
        assert isinstance(store._acorn("c", not_a, DIM), qe.AcornSearchParams)  # noqa: SLF001
        assert store._acorn("c", kind_a, DIM) is None  # noqa: SLF001
    finally:
        del store._full_scan_kb["c"]  # noqa: SLF001


@pytest.mark.parametrize("threshold_kb", [40_000, 1])  # scan, and (a tiny threshold) ACORN on the graph
def test_filtered_query_finds_the_nearest_points_of_the_subset(
    store: EdgeStore, data: np.ndarray, threshold_kb: int
) -> None:
    rng = np.random.default_rng(1)
    store._full_scan_kb["c"] = threshold_kb  # noqa: SLF001
    try:
        flt = parse_filter({"kind": "a"})
        for i in (0, 10, 4320, 11990):  # points of kind "a"
            q = data[i] + 0.3 * rng.normal(size=DIM).astype(np.float32) / np.sqrt(DIM)
            hits = store.query("c", VectorQuery(vector=q, using="v", limit=10, filter=flt))
            exact = store.query("c", VectorQuery(vector=q, using="v", limit=10, filter=flt, exact=True))
            assert hits[0].id == pid(i)
            assert all(h.payload["kind"] == "a" for h in hits)
            assert [h.id for h in hits][:3] == [h.id for h in exact][:3]
    finally:
        del store._full_scan_kb["c"]  # noqa: SLF001
