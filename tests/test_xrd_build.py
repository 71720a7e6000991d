"""The structure library's curation and the xrd collection's rebuild: a reference entry supersedes a broken AFLOW
prototype of the same mineral, and a full rebuild drops the points of structures the library no longer holds
(never a user's own CIF). Real loaders, real simulation, real store."""

from __future__ import annotations

from pathlib import Path

from matsearch.core.settings import Settings
from matsearch.indexer.context import BuildOptions
from matsearch.indexer.structures import load_library
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
