"""The structure library's curation and the xrd collection's rebuild: a reference entry supersedes a broken AFLOW
prototype of the same mineral, and a full rebuild drops the points of structures the library no longer holds
(never a user's own CIF). Real loaders, real simulation, real store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from matsearch.core.settings import Settings
from matsearch.indexer.context import BuildOptions
from matsearch.indexer.structures import StructureLibrary, load_library
from matsearch.indexer.xrd.build import COLLECTION, build_xrd, simulate_entries
from matsearch.indexer.xrd.ingest import ingest_cif_files
from matsearch.server.service import Service
from tests.test_structures import NACL_CIF


def test_reference_anatase_supersedes_the_broken_aflow_prototype(tmp_path: Path) -> None:
    lib = load_library(("reference", "aflow"), cache_dir=tmp_path / "cache")
    assert "ref-TiO2-anatase" in [e.id for e in lib]
    # the AFLOW prototype (its O atoms 1/8 c off) is merged into the reference entry, not kept beside it
    assert lib.duplicates.get("aflow-A2B_tI12_141_e_a") == "ref-TiO2-anatase"
    anatase = lib.get("ref-TiO2-anatase")
    ti = next(s for s in anatase.structure if s.species_string == "Ti")
    bonds = sorted(n.nn_distance for n in anatase.structure.get_neighbors(ti, 2.2))
    assert len(bonds) == 6 and abs(bonds[0] - 1.934) < 0.01 and abs(bonds[-1] - 1.98) < 0.01
    peaks, _ = simulate_entries([anatase], tmp_path, workers=1, progress=False)
    pk = peaks[anatase.id]
    lines = list(zip(pk.two_theta, pk.intensity, strict=True))
    near = {t: max((float(i) for tt, i in lines if abs(tt - t) < 0.1), default=0.0)
            for t in (25.31, 37.79, 48.04, 53.88, 55.07)}  # fmt: skip
    assert near[25.31] == max(pk.intensity) and all(v >= 12 for v in near.values()), near


def test_full_rebuild_drops_structures_no_longer_in_the_library(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lib = load_library(("ase",), cache_dir=settings.data_dir / "cache")
    ids = [e.id for e in lib][:6]
    opts = BuildOptions(workers=1, progress=False, sources=("ase",))
    service = Service(settings)
    try:
        first = build_xrd(service, lib.subset(ids), opts)
        assert first.points == 6 and first.stale_deleted == 0
        ingest_cif_files(service, [("nacl.cif", NACL_CIF.encode())])  # a user's own structure
        again = build_xrd(service, lib.subset(ids[:4]), opts)
        assert again.stale_deleted == 2 and again.count == 5 == service.store.count(COLLECTION)
        sources = [r.payload["source"] for r in service.store.scroll(COLLECTION, limit=100)[0]]
        assert sorted(sources) == ["ase"] * 4 + ["user"]
        # a quick (limited) build is not the whole library: it deletes nothing
        limited = build_xrd(service, lib.subset(ids[:2]), BuildOptions(workers=1, progress=False, limit=2))
        assert limited.stale_deleted == 0 and service.store.count(COLLECTION) == 5
    finally:
        service.close()


def test_rebuild_writes_nothing_keeps_no_duplicates_and_replaces_a_changed_structure(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lib = load_library(("ase",), cache_dir=settings.data_dir / "cache")
    entries = list(lib)[:5]
    opts = BuildOptions(workers=1, progress=False, sources=("ase",))
    service = Service(settings)

    def stored() -> list[tuple[str, str]]:
        recs = service.store.scroll(COLLECTION, limit=100)[0]
        return sorted((str(r.payload["structure_id"]), r.id) for r in recs)

    try:
        first = build_xrd(service, StructureLibrary(entries), opts)
        assert first.points == first.new_points == 5 and first.unchanged == 0
        before = stored()
        again = build_xrd(service, StructureLibrary(entries), opts)
        # the same library again: every point is current, nothing is written or deleted, no duplicate appears
        assert (again.points, again.new_points, again.unchanged, again.stale_deleted) == (0, 0, 5, 0)
        assert stored() == before and service.store.count(COLLECTION) == 5
        # one structure changes (a 2 % larger cell): its point is replaced, not added beside the old one
        st = entries[0].structure.copy()
        st.scale_lattice(st.volume * 1.02**3)
        changed = [dataclasses.replace(entries[0], structure=st)] + entries[1:]
        third = build_xrd(service, StructureLibrary(changed), opts)
        assert (third.points, third.new_points, third.unchanged, third.stale_deleted) == (1, 1, 4, 1)
        after = stored()
        assert [sid for sid, _ in after] == [sid for sid, _ in before]  # one point per structure
        assert len({pid for _, pid in after} - {pid for _, pid in before}) == 1
        # a payload-only change (provenance) is written in place under the same point id
        entries2 = [dataclasses.replace(e, provenance={**e.provenance, "note": "x"}) for e in changed[:1]]
        fourth = build_xrd(service, StructureLibrary(entries2 + changed[1:]), opts)
        assert (fourth.points, fourth.new_points, fourth.stale_deleted) == (1, 0, 0)
        pid = dict(after)[entries[0].id]
        assert [r.payload["provenance"].get("note") for r in service.store.retrieve(COLLECTION, [pid])] == ["x"]
        assert stored() == after
    finally:
        service.close()
