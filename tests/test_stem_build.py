"""The ``stem`` library build keeps the collection equal to the library's views: a re-build of the same library
writes nothing new and creates no duplicates; structures that left the library and zone axes no longer chosen are
deleted; points of other sources (a user's own) stay. Real builder, real simulator and encoder, real Qdrant Edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from matsearch.core.ids import point_id
from matsearch.core.settings import Settings
from matsearch.indexer.context import BuildOptions
from matsearch.indexer.stem.build import COLLECTION, build_stem, view_point_id
from matsearch.indexer.structures import StructureLibrary, load_library
from matsearch.server.service import Service
from matsearch.store.base import PointRecord


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(Settings(data_dir=Path(tmp_path_factory.mktemp("stembuild"))))
    yield svc
    svc.close()


def _ids(svc: Service) -> list[str]:
    out: list[str] = []
    offset = None
    while True:
        batch, offset = svc.store.scroll(COLLECTION, limit=1000, offset=offset)
        out += [r.id for r in batch]
        if offset is None:
            return out


def test_rebuild_is_idempotent_and_removes_stale_points(service: Service) -> None:
    entries = list(load_library(("ase",)))[:4]
    sources = ("ase",)
    opts = BuildOptions(workers=1, progress=False, sources=sources)
    first = build_stem(service, StructureLibrary(entries), opts)
    ids = _ids(service)
    assert len(ids) == len(set(ids)) == first.count == first.points > len(entries)
    assert first.stale_deleted == 0

    again = build_stem(service, StructureLibrary(entries), opts)
    assert again.new_points == 0 and again.stale_deleted == 0
    assert sorted(_ids(service)) == sorted(ids)

    # A view the zone chooser no longer picks (an old build's zone) and a user's own point of the same kind.
    rec = service.store.retrieve(COLLECTION, [ids[0]], with_vectors=True)[0]
    old_zone = view_point_id(entries[0].id, (9, 9, 1))
    user = point_id("user-stem-point")
    service.store.upsert(
        COLLECTION,
        [
            PointRecord(id=old_zone, vectors=rec.vectors, payload=rec.payload),
            PointRecord(id=user, vectors=rec.vectors, payload=rec.payload | {"source": "user"}),
        ],
    )
    # The library without its first structure: that structure's views and the old zone go, the user's point stays.
    gone = {i for i in ids if service.store.retrieve(COLLECTION, [i])[0].payload["structure_id"] == entries[0].id}
    assert gone
    after = build_stem(service, StructureLibrary(entries[1:]), opts)
    assert after.stale_deleted == len(gone) + 1
    assert sorted(_ids(service)) == sorted((set(ids) - gone) | {user})
    assert after.count == len(ids) - len(gone) + 1

    # A sample build (limit) does not delete what it did not sample.
    build_stem(service, StructureLibrary(entries[1:2]), BuildOptions(workers=1, progress=False, limit=1))
    assert sorted(_ids(service)) == sorted((set(ids) - gone) | {user})
