"""Ingest at scale (issue 15): unchanged figures are skipped, worker processes write what one process writes, the
store's index is left to ``maintain``. Real encoders, OCR, Qdrant Edge; speed is measured in bench/, not here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from matsearch.core.images import png_bytes
from matsearch.core.settings import Settings
from matsearch.indexer import ingest_pool
from matsearch.indexer.items import FigureItem
from matsearch.indexer.pipeline import PIPELINE_VERSION, FigureIngestor
from matsearch.indexer.sources.folder import read_folder
from matsearch.server.service import Service
from matsearch.store.edge import EdgeStore
from tests.conftest import synthetic_image


def test_reingest_skips_unchanged_figures_and_redoes_changed_ones(tmp_path: Path, figure_dir: Path) -> None:
    service = Service(Settings(data_dir=tmp_path / "data", ingest_workers=0))
    try:
        first = FigureIngestor(service).ingest(read_folder(figure_dir))
        assert first.points > 0 and first.unchanged == 0
        hit = service.store.retrieve("figures", first.ids[:1])[0]
        assert hit.payload["pipeline_version"] == PIPELINE_VERSION and hit.payload["ingest_key"]

        again = FigureIngestor(service).ingest(read_folder(figure_dir))
        assert again.unchanged == again.items == first.items
        assert again.points == 0 and again.new_points == 0
        assert sorted(again.ids) == sorted(first.ids)  # the stored panels are still reported
        assert again.count == first.count

        items = list(read_folder(figure_dir))
        items[0] = dataclasses.replace(items[0], caption="A corrected caption")  # same bytes, new metadata
        third = FigureIngestor(service).ingest(items)
        assert third.unchanged == len(items) - 1 and third.points > 0
        redone = [p for p in service.store.retrieve("figures", third.ids) if p.payload["source_file"] == items[0].name]
        assert redone and all(p.payload["figure_caption"] == "A corrected caption" for p in redone)
    finally:
        service.close()


def _items(n: int) -> list[FigureItem]:
    return [
        FigureItem(data=png_bytes(synthetic_image(100 + i)), name=f"s{i}.png", caption=f"Synthetic figure {i}, TEM.")
        for i in range(n)
    ]


def test_worker_pool_writes_what_one_process_writes(tmp_path: Path) -> None:
    items = _items(ingest_pool.MIN_FIGURES)
    stored = {}
    try:
        for workers in (0, 1):
            service = Service(Settings(data_dir=tmp_path / f"w{workers}", ingest_workers=workers))
            try:
                ingestor = FigureIngestor(service)
                report = ingestor.ingest(items)
                assert report.items == len(items) and not report.skipped
                assert (ingest_pool._POOL is not None) == (workers > 0)
                assert ingestor.stages["encode image"] > 0 and ingestor.stages["split (labels, layout)"] > 0
                stored[workers] = {p.id: p for p in service.store.retrieve("figures", report.ids, with_vectors=True)}
                # the workers wrote the panel files into this data directory
                for p in stored[workers].values():
                    assert service.images.find(p.payload["panel_sha256"]) is not None
            finally:
                service.close()
    finally:
        ingest_pool.shutdown()
    one, pool = stored[0], stored[1]
    assert one.keys() == pool.keys() and len(one) >= len(items)
    for pid, p in one.items():
        q = pool[pid]
        assert p.payload == q.payload
        assert p.vectors.keys() == q.vectors.keys()
        for name in p.vectors:
            assert np.allclose(p.vectors[name], q.vectors[name], atol=1e-5)


def test_small_collection_is_searched_exactly_without_an_index_build(tmp_path: Path) -> None:
    from matsearch.store.base import CollectionSpec, PointRecord, VectorQuery, VectorSpec

    store = EdgeStore(tmp_path / "store")
    try:
        store.ensure_collection(CollectionSpec("c", (VectorSpec("v", 16, "cosine"),)))
        rng = np.random.default_rng(0)
        data = rng.normal(size=(500, 16)).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        store.upsert("c", [PointRecord(f"00000000-0000-0000-0000-{i:012d}", {"v": data[i]}) for i in range(500)])
        assert store.maintain("c") is False  # 500 points: not worth an HNSW build
        q = data[7] + 0.1 * rng.normal(size=16).astype(np.float32)
        hits = store.query("c", VectorQuery(vector=q, using="v", limit=10))
        qn = q / np.linalg.norm(q)
        want = np.argsort(-(data @ qn))[:10]
        assert [int(h.id[-12:]) for h in hits] == want.tolist()
        assert np.allclose([h.score for h in hits], (data @ qn)[want], atol=1e-4)  # exact scores, not int8
    finally:
        store.close()


def test_caption_batches_padded_to_their_own_length_give_each_text_its_own_vector() -> None:
    """MiniLM runs texts in batches of similar token length (``text.length_batches``): every vector must be bit-for-bit
    the vector of the text encoded on its own, however long the texts beside it (the padding adds exact zeros)."""
    from matsearch.encoders import get_encoder
    from matsearch.encoders.text import length_batches

    assert length_batches([12, 126, 12, 14, 60, 13, 64]) == [[0, 2, 5, 3], [4, 6], [1]]  # sorted, ties in order
    batches = length_batches([12, 126, 12, 14, 60, 13, 64], max_batch=2)
    assert sorted(i for b in batches for i in b) == list(range(7)) and all(len(b) <= 2 for b in batches)
    enc = get_encoder("all-minilm-l6-v2", Settings().model_copy(update={"onnx_threads": 1}))
    texts = [
        "(b) SEM.",
        "Figure 3. (a) HAADF-STEM image of the Pt3Co nanoparticles along [110]; scale bar 2 nm. (b) EDS maps of Pt "
        "and Co. (c) XRD patterns of the catalysts before and after 10,000 cycles, with the fcc reference lines. "
        "(d) Tafel plots in 0.1 M HClO4 at 1600 rpm and the mass activities at 0.9 V vs. RHE.",
        "",
        "Raman spectra of graphene oxide and reduced graphene oxide (D and G bands).",
        "(c) TEM",
    ] * 4
    together = enc.encode(texts)
    for text, vector in zip(texts[:5], together[:5], strict=True):
        alone = enc.encode([text])[0]
        assert np.array_equal(alone, vector), text
