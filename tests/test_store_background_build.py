"""EdgeStore.maintain builds the index in a subprocess on a copy of the shard and swaps it in: writes made during the
build survive the swap, the store reopens on the new generation, and the old files go. Real Qdrant Edge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matsearch.store import edge
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore

DIM = 1024  # 3000 points = 12 MB: above Edge's indexing threshold (10 MB), so the build makes an HNSW segment
SPEC = CollectionSpec("c", (VectorSpec("v", DIM, "cosine"),), (PayloadIndex("kind", "keyword"),))


def pid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    data = rng.normal(size=(n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def upsert(store: EdgeStore, data: np.ndarray, start: int) -> None:
    store.upsert(
        "c", [PointRecord(pid(start + i), {"v": v}, {"kind": "a" if i % 2 else "b"}) for i, v in enumerate(data)]
    )


def exact_ids(store: EdgeStore, q: np.ndarray) -> list[str]:
    return [h.id for h in store.query("c", VectorQuery(vector=q, using="v", limit=10, exact=True))]


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge, "MAINTAIN_MIN_UNINDEXED", 1000)


def test_background_build_keeps_writes_made_during_it(tmp_path: Path, small_threshold: None) -> None:
    rng = np.random.default_rng(0)
    first = unit(rng, 3000)
    store = EdgeStore(tmp_path / "store")
    try:
        store.ensure_collection(SPEC)
        upsert(store, first, 0)
        assert store.maintain("c") is True  # 3000 unindexed >= 1000: a build starts
        assert store.maintain("c") is False  # one at a time
        # writes while the subprocess builds on the copy: new points, deletes, payload changes
        more = unit(rng, 200)
        upsert(store, more, 3000)
        store.delete("c", [pid(i) for i in range(50)])
        store.set_payload("c", [pid(100), pid(3100)], {"kind": "z"})
        q = first[500] + 0.05 * unit(rng, 1)[0]
        during = exact_ids(store, q)  # the live shard answers meanwhile
        store.wait_for_build("c")
        [log] = store.build_log
        assert log["collection"] == "c" and log["replayed_ops"] >= 3 and log["points"] == 3000
        assert store.count("c") == 3000 + 200 - 50
        assert store.retrieve("c", [pid(0), pid(49)]) == []
        [p100, p3100] = store.retrieve("c", [pid(100), pid(3100)])
        assert p100.payload["kind"] == "z" and p3100.payload["kind"] == "z"
        assert exact_ids(store, q) == during
        info = store._shard("c").info()  # noqa: SLF001
        assert info.indexed_vectors_count >= 3000 - 50  # the copied points are in an HNSW segment now
        # every point, old and new, is found by an indexed (approximate) query for its own vector
        for i in (60, 1234, 2999, 3000, 3199):
            v = first[i] if i < 3000 else more[i - 3000]
            hits = store.query("c", VectorQuery(vector=v, using="v", limit=1))
            assert hits[0].id == pid(i) and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert (tmp_path / "store" / "c" / "CURRENT").read_text() == "gen-1"
    finally:
        store.close()
    coll = tmp_path / "store" / "c"
    assert sorted(p.name for p in coll.iterdir()) == ["CURRENT", "gen-1", "matsearch_collection.json"]
    reopened = EdgeStore(tmp_path / "store")
    try:
        assert reopened.count("c") == 3150
        assert exact_ids(reopened, q) == during
        upsert(reopened, unit(rng, 1500), 5000)  # 1500 new >= 10% and >= 1000: the next generation
        assert reopened.maintain("c") is True
        reopened.wait_for_build()
        assert (coll / "CURRENT").read_text() == "gen-2"
        assert reopened.count("c") == 4650
    finally:
        reopened.close()
    assert sorted(p.name for p in coll.iterdir()) == ["CURRENT", "gen-2", "matsearch_collection.json"]


def test_drop_during_a_build_cancels_it(tmp_path: Path, small_threshold: None) -> None:
    store = EdgeStore(tmp_path / "store")
    try:
        store.ensure_collection(SPEC)
        upsert(store, unit(np.random.default_rng(1), 2000), 0)
        assert store.maintain("c") is True
        store.drop_collection("c")
        assert not store.has_collection("c") and not (tmp_path / "store" / "c").exists()
        assert store.build_log == []
        store.ensure_collection(SPEC)  # the name is free again
        assert store.count("c") == 0
    finally:
        store.close()
