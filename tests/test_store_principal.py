"""Principal payload fields (``PayloadIndex.principal``): Edge's tenant keyword / principal number indexes, which order
a built segment's points by the field. The flags reach Edge, survive a reopen, an existing plain index is replaced
(not listed twice), and filtered queries on the reordered segment still return the subset's nearest points. Real
Qdrant Edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matsearch.core.errors import BadInput
from matsearch.core.filters import parse_filter
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore, index_schema

DIM = 256
N = 12_000  # above Edge's indexing threshold (10 MB of originals): optimize builds (and orders) an HNSW segment
KINDS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
VECTORS = (VectorSpec("v", DIM, "cosine"),)
SPEC = CollectionSpec(
    "c",
    VECTORS,
    (
        PayloadIndex("kind", "keyword", principal=True),
        PayloadIndex("x", "float", principal=True),
        PayloadIndex("year", "integer"),
    ),
)


def pid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(N, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True), rng.random(N)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, data: tuple[np.ndarray, np.ndarray]) -> Iterator[Path]:
    vecs, x = data
    path = Path(tmp_path_factory.mktemp("principal")) / "store"
    st = EdgeStore(path, build_in_background=False)
    st.ensure_collection(SPEC)
    for s in range(0, N, 500):
        st.upsert(
            "c",
            [
                PointRecord(pid(i), {"v": vecs[i]}, {"kind": KINDS[i % 10], "x": float(x[i]), "year": 2000 + i % 20})
                for i in range(s, s + 500)
            ],
        )
    st.optimize("c")
    assert st._shard("c").info().indexed_vectors_count == N  # noqa: SLF001
    st.close()
    yield path


def _schema(st: EdgeStore) -> dict[str, object]:
    return dict(st._shard("c").info().payload_schema)  # noqa: SLF001


def test_principal_flags_reach_edge_and_survive_a_reopen(root: Path) -> None:
    st = EdgeStore(root, build_in_background=False)
    try:
        assert st.spec("c") == SPEC
        schema = _schema(st)
        assert schema["kind"].params.is_tenant is True  # type: ignore[attr-defined]
        assert schema["x"].params.is_principal is True  # type: ignore[attr-defined]
        assert schema["year"].params is None  # type: ignore[attr-defined]
    finally:
        st.close()


@pytest.mark.parametrize(
    ("flt", "keep"),
    [
        ({"kind": "a"}, lambda i, x: i % 10 == 0),
        ({"x": {"gte": 0.3, "lt": 0.4}}, lambda i, x: 0.3 <= x < 0.4),
        ({"year": 2003}, lambda i, x: i % 20 == 3),  # a plain field, on the segment ordered by the others
    ],
)
def test_filtered_query_on_the_ordered_segment_finds_the_subsets_nearest(
    root: Path, data: tuple[np.ndarray, np.ndarray], flt: dict[str, object], keep: object
) -> None:
    vecs, x = data
    idx = np.array([i for i in range(N) if keep(i, x[i])])  # type: ignore[operator]
    queries = np.random.default_rng(2).normal(size=(20, DIM)).astype(np.float32)
    st = EdgeStore(root, build_in_background=False)
    try:
        found = 0
        for q in queries:
            truth = {pid(int(i)) for i in idx[np.argsort(-(vecs[idx] @ q))[:10]]}
            hits = st.query("c", VectorQuery(vector=q, using="v", filter=parse_filter(flt), limit=10))
            assert len(hits) == 10
            assert {h.id for h in hits} <= {pid(int(i)) for i in idx}  # only points that pass the filter
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            found += len({h.id for h in hits} & truth)
        assert found / (10 * len(queries)) >= 0.9
    finally:
        st.close()


def test_a_plain_index_asked_for_as_principal_is_replaced(tmp_path: Path) -> None:
    plain = CollectionSpec("p", VECTORS, (PayloadIndex("kind", "keyword"), PayloadIndex("year", "integer")))
    st = EdgeStore(tmp_path / "store", build_in_background=False)
    try:
        st.ensure_collection(plain)
        assert _schema_of(st, "p")["kind"].params is None  # type: ignore[attr-defined]
        st.ensure_collection(
            CollectionSpec(
                "p", VECTORS, (PayloadIndex("kind", "keyword", principal=True), PayloadIndex("year", "integer"))
            )
        )
        assert sorted((i.field, i.principal) for i in st.spec("p").indexes) == [("kind", True), ("year", False)]
        assert _schema_of(st, "p")["kind"].params.is_tenant is True  # type: ignore[attr-defined]
    finally:
        st.close()
    st = EdgeStore(tmp_path / "store", build_in_background=False)
    try:
        assert sorted((i.field, i.principal) for i in st.spec("p").indexes) == [("kind", True), ("year", False)]
    finally:
        st.close()


def _schema_of(st: EdgeStore, name: str) -> dict[str, object]:
    return dict(st._shard(name).info().payload_schema)  # noqa: SLF001


def test_a_text_index_cannot_be_principal() -> None:
    with pytest.raises(BadInput, match="cannot be principal"):
        index_schema(PayloadIndex("caption", "text", principal=True))
