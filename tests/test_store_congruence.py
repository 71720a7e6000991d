"""One suite, two backends: Qdrant Edge (embedded default) and qdrant-client (local mode stands in for a server).

Every test runs on both, and the last test compares their answers query by query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matsearch.core.errors import BadInput, NotFound, StoreUnavailable
from matsearch.core.filters import FieldCondition, Filter, parse_filter
from matsearch.core.ids import point_id
from matsearch.store.base import CollectionSpec, PayloadIndex, PointRecord, Store, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore
from matsearch.store.remote import QdrantClientStore

SPEC = CollectionSpec(
    "things",
    vectors=(VectorSpec("a", 16, "cosine"), VectorSpec("b", 8, "cosine")),
    indexes=(
        PayloadIndex("kind", "keyword"),
        PayloadIndex("year", "integer"),
        PayloadIndex("scale", "float"),
        PayloadIndex("elements", "keyword"),
    ),
)
KINDS = ["microscopy", "graph", "diffraction", "photo"]
ELEMENTS = ["Au", "Ag", "O", "Mn", "Ti"]


def matches(flt: Filter | None, payload: dict[str, Any]) -> bool:
    """The reference semantics of a filter, evaluated in Python on one payload (the oracle both engines must match)."""
    if flt is None:
        return True

    def cond_ok(c: FieldCondition | Filter) -> bool:
        if isinstance(c, Filter):
            return matches(c, payload)
        v = payload.get(c.key)
        values = v if isinstance(v, list) else ([] if v is None else [v])
        if c.match is not None:
            return c.match in values
        if c.any is not None:
            return any(x in values for x in c.any)
        if c.all is not None:
            return all(x in values for x in c.all)
        assert c.range is not None
        r = c.range
        nums = [x for x in values if isinstance(x, int | float) and not isinstance(x, bool)]
        return any(
            (r.gte is None or x >= r.gte)
            and (r.gt is None or x > r.gt)
            and (r.lte is None or x <= r.lte)
            and (r.lt is None or x < r.lt)
            for x in nums
        )

    return (
        all(cond_ok(c) for c in flt.must)
        and (not flt.should or any(cond_ok(c) for c in flt.should))
        and not any(cond_ok(c) for c in flt.must_not)
    )


def make_points(n: int = 120, seed: int = 0) -> list[PointRecord]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, 16))
    points = []
    for i in range(n):
        a = centres[i % 5] + 0.3 * rng.normal(size=16)
        payload = {
            "kind": KINDS[i % 4],
            "year": 2000 + i % 25,
            "scale": float(0.1 * (i % 17)),
            "elements": sorted({ELEMENTS[i % 5], ELEMENTS[(i * 7) % 5]}),
            "n": i,
        }
        vectors = {"a": a} if i % 10 == 9 else {"a": a, "b": rng.normal(size=8)}
        points.append(PointRecord(point_id("test", i), vectors, payload))
    return points


pytestmark = pytest.mark.filterwarnings("ignore:.*(Payload indexes|Local mode).*:UserWarning")


@pytest.fixture(params=["edge", "qdrant-client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = EdgeStore(tmp_path / "edge") if request.param == "edge" else QdrantClientStore(path=str(tmp_path / "qc"))
    s.ensure_collection(SPEC)
    s.upsert("things", make_points())
    yield s
    s.close()


FILTERS = [
    None,
    {"kind": "microscopy"},
    {"kind": ["graph", "photo"]},
    {"elements": {"all": ["Au", "Mn"]}},
    {"year": {"gte": 2010, "lt": 2020}},
    {"scale": {"lte": 0.5}, "kind": {"not": "graph"}},
    {"must": [{"key": "elements", "any": ["Ti"]}], "must_not": [{"key": "year", "range": {"gt": 2015}}]},
    {"should": [{"key": "kind", "match": "photo"}, {"key": "year", "match": 2003}]},
]


def expected_ids(points: list[PointRecord], flt: Filter | None) -> set[str]:

    return {p.id for p in points if matches(flt, p.payload)}


@pytest.mark.parametrize("raw", FILTERS)
def test_count_and_scroll_follow_filters(store: Store, raw: dict | None) -> None:
    flt = parse_filter(raw)
    want = expected_ids(make_points(), flt)
    assert store.count("things", flt) == len(want)
    seen: list[str] = []
    offset = None
    while True:
        page, offset = store.scroll("things", flt, limit=17, offset=offset)
        seen += [p.id for p in page]
        if offset is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == want


@pytest.mark.parametrize("raw", FILTERS)
def test_exact_query_matches_brute_force(store: Store, raw: dict | None) -> None:
    flt = parse_filter(raw)
    points = make_points()
    allowed = expected_ids(points, flt)
    q = np.random.default_rng(5).normal(size=16)
    mat = np.array([p.vectors["a"] for p in points], dtype=np.float64)
    sims = mat @ q / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q))
    order = [points[i].id for i in np.argsort(-sims) if points[i].id in allowed][:10]
    hits = store.query("things", VectorQuery(q, "a", flt, limit=10, exact=True))
    assert [h.id for h in hits] == order
    assert all(h.payload["n"] == int(next(p for p in points if p.id == h.id).payload["n"]) for h in hits)


def test_named_vectors_are_separate_and_optional(store: Store) -> None:
    q = np.ones(8)
    hits = store.query("things", VectorQuery(q, "b", limit=200))
    assert len(hits) == 108  # every 10th point has no "b" vector
    with pytest.raises(NotFound):
        store.query("things", VectorQuery(q, "nope"))
    with pytest.raises(BadInput):
        store.query("things", VectorQuery(np.ones(5), "b"))
    with pytest.raises(BadInput):
        store.query("things", VectorQuery(np.full(8, np.nan), "b"))


def test_score_threshold_and_offset(store: Store) -> None:
    points = make_points()
    q = points[0].vectors["a"]
    top = store.query("things", VectorQuery(q, "a", limit=20))
    assert top[0].id == points[0].id and top[0].score == pytest.approx(1.0, abs=1e-5)
    cut = store.query("things", VectorQuery(q, "a", limit=20, score_threshold=top[4].score - 1e-6))
    assert [h.id for h in cut] == [h.id for h in top[:5]]
    page2 = store.query("things", VectorQuery(q, "a", limit=5, offset=5))
    assert [h.id for h in page2] == [h.id for h in top[5:10]]
    assert store.query("things", VectorQuery(q, "a", score_threshold=1.01)) == []


def test_upsert_is_idempotent_and_updates(store: Store) -> None:
    points = make_points()
    store.upsert("things", points[:10])
    assert store.count("things") == 120
    changed = PointRecord(points[0].id, points[0].vectors, {**points[0].payload, "kind": "photo"})
    store.upsert("things", [changed])
    assert store.retrieve("things", [points[0].id])[0].payload["kind"] == "photo"
    assert store.count("things") == 120


def test_retrieve_delete_set_payload(store: Store) -> None:
    points = make_points()
    ids = [points[1].id, points[2].id, str(uuid.uuid4())]
    got = store.retrieve("things", ids, with_vectors=True)
    assert {r.id for r in got} == set(ids[:2])
    assert np.allclose(got[0].vectors["a"] if got[0].id == ids[0] else got[1].vectors["a"], 0, atol=10)
    store.set_payload("things", [ids[0]], {"nm_per_px": 0.25})
    assert store.retrieve("things", [ids[0]])[0].payload["nm_per_px"] == 0.25
    store.delete("things", [ids[1]])
    assert store.count("things") == 119
    assert store.retrieve("things", [ids[1]]) == []
    with pytest.raises(BadInput):
        store.retrieve("things", ["not-a-uuid"])


def test_query_by_id_and_batch(store: Store) -> None:
    points = make_points()
    similar = store.query_by_id("things", points[3].id, "a", limit=5)
    assert len(similar) == 5 and points[3].id not in {h.id for h in similar}
    with pytest.raises(NotFound):
        store.query_by_id("things", str(uuid.uuid4()), "a")
    queries = [VectorQuery(points[i].vectors["a"], "a", limit=5) for i in (0, 1, 2)]
    batch = store.query_batch("things", queries)
    assert [[h.id for h in r] for r in batch] == [[h.id for h in store.query("things", q)] for q in queries]


def test_collections_listing_and_errors(store: Store) -> None:
    info = store.collection_info("things")
    assert info.count == 120 and [v.name for v in info.vectors] == ["a", "b"]
    assert [c.name for c in store.list_collections()] == ["things"]
    with pytest.raises(NotFound):
        store.count("missing")
    store.ensure_collection(SPEC)  # again: no-op
    other = CollectionSpec("things", vectors=(VectorSpec("a", 4),))
    with pytest.raises(Exception, match="other vectors"):
        store.ensure_collection(other)
    with pytest.raises(BadInput):
        store.ensure_collection(CollectionSpec("Bad Name!", vectors=(VectorSpec("a", 4),)))
    store.drop_collection("things")
    assert not store.has_collection("things")


def _rounded(payload: dict) -> dict:
    return {k: round(v, 12) if isinstance(v, float) else v for k, v in payload.items()}


def test_backends_agree(tmp_path: Path) -> None:
    """The congruence check proper: same data, same queries, same answers from both engines."""
    edge = EdgeStore(tmp_path / "e")
    client = QdrantClientStore(path=str(tmp_path / "c"))
    rng = np.random.default_rng(11)
    try:
        for s in (edge, client):
            s.ensure_collection(SPEC)
            s.upsert("things", make_points(300, seed=3))
        for raw in FILTERS:
            flt = parse_filter(raw)
            assert edge.count("things", flt) == client.count("things", flt)
            for _ in range(3):
                q = VectorQuery(rng.normal(size=16), "a", flt, limit=10, exact=True)
                e, c = edge.query("things", q), client.query("things", q)
                assert [h.id for h in e] == [h.id for h in c]
                assert np.allclose([h.score for h in e], [h.score for h in c], atol=1e-4)
                # Edge may drop the last ulp of a float payload (1.4000000000000001 -> 1.4): compare at 1e-12
                assert [_rounded(h.payload) for h in e] == [_rounded(h.payload) for h in c]
    finally:
        edge.close()
        client.close()


def test_edge_store_is_owned_by_one_process_and_persists(tmp_path: Path) -> None:
    s = EdgeStore(tmp_path / "s")
    s.ensure_collection(SPEC)
    s.upsert("things", make_points(30))
    with pytest.raises(StoreUnavailable, match="open in another process"):
        EdgeStore(tmp_path / "s")
    s.close()
    reopened = EdgeStore(tmp_path / "s")
    assert reopened.count("things") == 30
    assert reopened.query("things", VectorQuery(make_points(30)[4].vectors["a"], "a", limit=1))[0].payload["n"] == 4
    reopened.close()
