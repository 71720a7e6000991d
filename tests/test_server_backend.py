"""The same service code over the qdrant-client backend (local mode stands in for a Qdrant server here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from matsearch.core.ids import sha256_bytes
from matsearch.core.settings import Settings
from matsearch.indexer.sources.folder import read_folder
from matsearch.search.figures import search_image, search_text
from matsearch.server.service import Service
from matsearch.store import open_store
from matsearch.store.edge import EdgeStore
from matsearch.store.remote import QdrantClientStore

pytestmark = pytest.mark.filterwarnings("ignore:.*(Payload indexes|Local mode).*:UserWarning")


def test_open_store_picks_the_backend_from_settings(tmp_path: Path) -> None:
    edge = open_store(Settings(data_dir=tmp_path / "a"))
    assert isinstance(edge, EdgeStore)
    edge.close()
    remote = open_store(Settings(data_dir=tmp_path / "b", qdrant_url="http://127.0.0.1:1"))
    assert isinstance(remote, QdrantClientStore)
    remote.close()


def test_service_ingests_and_searches_on_both_backends(tmp_path: Path, figure_dir: Path) -> None:
    results = {}
    for name in ("edge", "qdrant-client"):
        settings = Settings(data_dir=tmp_path / name)
        store = EdgeStore(settings.store_dir) if name == "edge" else QdrantClientStore(path=str(tmp_path / "qc"))
        service = Service(settings, store=store)
        try:
            report = service.ingest_figures(read_folder(figure_dir))
            again = service.ingest_figures(read_folder(figure_dir))
            assert again.new_points == 0 and again.count == report.count
            query = (figure_dir / "synthetic_3.png").read_bytes()
            hits = search_image(service.store, service.settings, query, limit=4)
            assert hits[0].payload["image_sha256"] == sha256_bytes(query)
            text = search_text(service.store, service.settings, "HAADF-STEM", limit=3)
            # panels of one figure can share a caption (equal vectors): engines may order such ties differently
            results[name] = (
                [round(h.score, 4) for h in hits],
                [round(h.score, 4) for h in text],
                {h.id for h in hits[:3]} | {h.id for h in text if h.score > text[-1].score + 1e-4},
                report.count,
            )
        finally:
            service.close()
    assert results["edge"] == results["qdrant-client"]
