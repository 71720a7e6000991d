"""Figures → panels → vectors → the ``figures`` collection. Every source (folders, PDFs, EXSCLAIM JSON, fetched
articles) yields ``FigureItem``s and goes through ``FigureIngestor``.

Point ids come from content (the figure's SHA-256 and the panel's box), so ingesting the same figure again rewrites
the same points instead of adding new ones, and an interrupted run can simply be repeated.

Re-ingesting a figure replaces its panel set: points of that figure (same ``image_sha256``) whose box is no longer
produced (the splitter changed, EXSCLAIM's panels replaced ours) are deleted after the new ones are written. A point
remembers every document its figure appeared in: ``documents`` lists them (DOI, title, source, provenance, ...;
one entry per DOI, or per source file when there is none) and ``dois`` holds all their DOIs for filtering; the
top-level document fields are those of the latest ingest. The read of the old points, the merge, the upsert and the
deletion run under the store's write lock (``matsearch.store.base.write_lock``).

A figure already stored with the same bytes, source metadata and ``PIPELINE_VERSION`` (its ``ingest_key``) is not
processed again at all: it is counted in ``IngestReport.unchanged`` and its point ids are reported. Runs of
``ingest_pool.MIN_FIGURES`` figures or more (any run, once the pool is running) go through worker processes
(:mod:`matsearch.indexer.ingest_pool`) that do the CPU-bound part — decode, split, OCR, scale bars, encoders —
while this process stays the one store writer. The index is maintained by ``Store.maintain`` (thresholds), never
rebuilt by every ingest call. Per-stage CPU seconds of a run are in ``FigureIngestor.stages`` (docs/benchmarks.md,
"Ingest").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from PIL import Image

from matsearch.core.errors import MatsearchError
from matsearch.core.filters import FieldCondition, Filter
from matsearch.core.ids import point_id, sha256_bytes
from matsearch.core.images import ImageStore, load_image, to_rgb
from matsearch.core.schemas import IngestReport, IngestSkip
from matsearch.core.settings import Settings
from matsearch.encoders.base import Encoder
from matsearch.indexer.context import IngestContext
from matsearch.indexer.ingest_pool import IngestPool
from matsearch.indexer.items import Extracted, FigureItem, PanelDraft, Stages
from matsearch.store.base import PointRecord, write_lock

COLLECTION = "figures"
DOC_FIELDS = ("doi", "title", "journal", "year", "url", "licence", "authors")
MAX_DOCUMENTS = 100  # documents remembered per point (the most recent ones)
# Bump when a change to extraction or encoding changes what is stored for a figure: figures stored under another
# version are processed again on the next ingest; unchanged ones under this version are skipped.
PIPELINE_VERSION = "figures-5"  # 4: sketch views through the int8 network; 5: no sketch vector on graph panels
# Panel types that get no ``sketch`` vector (see FigureIngestor._encode).
NO_SKETCH_TYPES = frozenset({"graph"})


Splitter = Callable[[Image.Image, str | None], list[PanelDraft]]


def ingest_key(item: FigureItem, figure_sha: str) -> str:
    """What decides whether a stored figure is up to date: its bytes, everything its source said about it, and the
    pipeline version. Equal keys mean that processing it again would write the same points."""
    panels = None
    if item.panels is not None:
        panels = [[list(p.bbox), p.label, p.caption, p.type, p.type_confidence, p.scale, p.extra] for p in item.panels]
    parts: list[Any] = [PIPELINE_VERSION, figure_sha, item.name, item.caption, item.doc, item.figure_id, item.source]
    parts += [item.provenance, panels]
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@contextlib.contextmanager
def stage(stages: Stages, name: str) -> Iterator[None]:
    """Add the CPU seconds (this process, all its threads) spent in the block to ``stages[name]``."""
    t = time.process_time()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.process_time() - t


class FigureIngestor:
    """``workers``: processes for extraction (None: the settings' ``ingest_workers``; 0, or a custom splitter: all
    in this process)."""

    def __init__(
        self,
        ctx: IngestContext,
        *,
        splitter: Splitter | None = None,
        batch_size: int = 16,
        workers: int | None = None,
    ) -> None:
        self.ctx = ctx
        self._custom_splitter = splitter is not None
        if splitter is None:
            from matsearch.indexer.figures.panels import split_panels  # local: keeps OCR out of CLI start-up

            splitter = split_panels
        self.splitter: Splitter = splitter
        self.batch_size = batch_size
        self.workers = workers
        self.stages: Stages = defaultdict(float)

    def ingest(self, items: Iterable[FigureItem], progress: Callable[[int], None] | None = None) -> IngestReport:
        """Ingest figures in batches; bad items are skipped with a reason, good ones are kept."""
        self.ctx.ensure_collection(COLLECTION)
        report = IngestReport(collection=COLLECTION)
        self.stages = defaultdict(float)
        for batch, extracted in self._extracted(self._changed(iter(items), report)):
            points: list[PointRecord] = []
            for k, result in enumerate(extracted):
                if result.error is not None:
                    report.skipped.append(IngestSkip(item=result.name, reason=result.error))
                    continue
                for point in result.points:
                    point.payload["_item"] = k  # which item of the batch produced it (removed before writing)
                points.extend(result.points)
            if points:
                with stage(self.stages, "store write"), write_lock(self.ctx.store):
                    self._write(points, report)
                from matsearch.indexer.plots.spectra import write_graph_series  # graph panels → spectra

                written = set(report.ids)
                graph_ids = [i for r in extracted for i in r.graph_ids if i in written]
                series = [s for r in extracted for s in r.series if s.payload.get("panel_id") in written]
                with stage(self.stages, "store write"):
                    write_graph_series(self.ctx, graph_ids, series)
            if progress is not None:
                progress(len(batch))
        if report.points:
            with stage(self.stages, "store maintain"):
                self.ctx.store.maintain(COLLECTION)
        report.count = self.ctx.store.count(COLLECTION)
        return report

    def _changed(self, items: Iterator[FigureItem], report: IngestReport) -> Iterator[FigureItem]:
        """The items that need processing. A figure stored already under the same ingest key is counted and its
        point ids reported, without decoding it."""
        for item in items:
            report.items += 1
            with stage(self.stages, "skip check"):
                sha = sha256_bytes(item.data)
                flt = Filter(
                    must=[
                        FieldCondition(key="image_sha256", match=sha),
                        FieldCondition(key="ingest_key", match=ingest_key(item, sha)),
                    ]
                )
                stored, _ = self.ctx.store.scroll(COLLECTION, flt, limit=1000)
            if stored:
                report.unchanged += 1
                report.ids.extend(p.id for p in stored)
                continue
            yield item

    def _extracted(self, items: Iterator[FigureItem]) -> Iterator[tuple[list[FigureItem], list[Extracted]]]:
        """(batch, its extraction results in input order): from the worker pool, or from this process."""
        pool = None
        if not self._custom_splitter:
            from matsearch.indexer import ingest_pool

            pool = ingest_pool.running(self.ctx, self.workers)
            if pool is None:
                first = list(islice(items, ingest_pool.MIN_FIGURES))
                pool = ingest_pool.get_pool(self.ctx, self.workers, len(first), warm_worker)
                items = _chain(first, items)
        if pool is None:
            while batch := list(islice(items, self.batch_size)):
                yield batch, self.extract(batch)
            return
        for batch, extracted, stages in pool.run(self.ctx.settings, items, self.batch_size, extract_chunk):
            for name, seconds in stages.items():
                self.stages[name] += seconds
            yield batch, extracted

    def extract(self, batch: list[FigureItem]) -> list[Extracted]:
        """Decode, split, crop and encode a batch of figures in this process; nothing is written to the store."""
        results: list[Extracted] = []
        points: list[PointRecord] = []
        panel_images: list[Image.Image] = []
        for item in batch:
            try:
                new_points, images = self._panels(item)
            except MatsearchError as exc:
                results.append(Extracted(item.name, error=exc.message))
                continue
            results.append(Extracted(item.name, points=new_points))
            points.extend(new_points)
            panel_images.extend(images)
        if points:
            self._encode(points, panel_images)
            from matsearch.indexer.plots.spectra import graph_series

            crops = {p.id: im for p, im in zip(points, panel_images, strict=True)}  # decoded once: no re-read
            with stage(self.stages, "digitise graph panels"):
                for result in results:
                    result.graph_ids, result.series = graph_series(self.ctx, result.points, crops)
        return results

    def _write(self, points: list[PointRecord], report: IngestReport) -> None:
        """Upsert a batch: merge each figure's documents with those already stored, then delete its stale panels."""
        last_item = {p.payload["image_sha256"]: p.payload["_item"] for p in points}  # the same figure twice in a
        final: dict[str, dict[str, PointRecord]] = {}  # batch: the later item's panel set is the one kept
        for point in points:
            sha = point.payload["image_sha256"]
            if point.payload["_item"] == last_item[sha]:
                final.setdefault(sha, {})[point.id] = point
        previous = self._stored_panels(sorted(final))
        stored_ids = {p.id for ps in previous.values() for p in ps}
        documents: dict[str, list[dict[str, Any]]] = {}
        for sha in final:
            docs = [d for p in previous.get(sha, []) for d in _documents_of(p.payload)]
            docs += [_document_of(p.payload) for p in points if p.payload["image_sha256"] == sha]  # batch order
            documents[sha] = _merge_documents(docs)
        written: list[PointRecord] = []
        for sha, panels in final.items():
            for point in panels.values():
                point.payload.pop("_item", None)
                point.payload["documents"] = documents[sha]
                point.payload["dois"] = sorted({str(d["doi"]) for d in documents[sha] if d.get("doi")})
                written.append(point)
        self.ctx.store.upsert(COLLECTION, written)
        keep = {p.id for p in written}
        stale = sorted({p.id for ps in previous.values() for p in ps} - keep)
        if stale:
            self.ctx.store.delete(COLLECTION, stale)
        report.points += len(written)
        report.new_points += sum(1 for p in written if p.id not in stored_ids)
        report.stale_deleted += len(stale)
        report.ids.extend(p.id for p in written)

    def _stored_panels(self, figure_shas: list[str]) -> dict[str, list[PointRecord]]:
        out: dict[str, list[PointRecord]] = {}
        if not figure_shas:
            return out
        flt = Filter(must=[FieldCondition(key="image_sha256", any=list(figure_shas))])
        offset: str | None = None
        while True:
            page, offset = self.ctx.store.scroll(COLLECTION, flt, limit=256, offset=offset)
            for p in page:
                out.setdefault(str(p.payload.get("image_sha256")), []).append(p)
            if offset is None:
                return out

    def _panels(self, item: FigureItem) -> tuple[list[PointRecord], list[Image.Image]]:
        from matsearch.indexer.figures.keywords import extract_keywords

        with stage(self.stages, "decode"):
            image = load_image(item.data, self.ctx.settings, what=item.name)
            rgb = to_rgb(image)
        with stage(self.stages, "image files"):
            figure_sha = self.ctx.images.put(item.data, image)
        with stage(self.stages, "split (labels, layout)"):
            drafts = item.panels if item.panels is not None else self.splitter(rgb, item.caption)
        doc = {k: item.doc.get(k) for k in DOC_FIELDS if item.doc.get(k) not in (None, "")}
        key = ingest_key(item, figure_sha)
        points, images = [], []
        for draft in drafts:
            x0, y0, x1, y1 = _clip_box(draft.bbox, rgb.size)
            whole = (x0, y0, x1, y1) == (0, 0, rgb.width, rgb.height)
            crop = rgb if whole else rgb.crop((x0, y0, x1, y1))
            with stage(self.stages, "image files"):
                panel_sha = figure_sha if whole else self.ctx.images.put_image(crop)
            caption = draft.caption or item.caption or ""
            payload: dict[str, Any] = {
                "kind": "figure_panel",
                "source": item.source,
                "source_file": item.name,
                **doc,
                "figure_id": item.figure_id or item.name,
                "figure_caption": item.caption or "",
                "caption": caption,
                "panel_label": draft.label,
                "bbox": [x0, y0, x1, y1],
                "figure_size": [rgb.width, rgb.height],
                "type": draft.type,
                "type_confidence": draft.type_confidence,
                "scale": draft.scale,
                "nm_per_px": (draft.scale or {}).get("nm_per_px"),
                "image_sha256": figure_sha,
                "panel_sha256": panel_sha,
                "pipeline_version": PIPELINE_VERSION,
                "ingest_key": key,
                **extract_keywords(caption),
                **draft.extra,
            }
            if item.provenance:
                payload["provenance"] = item.provenance
            pid = point_id("figure-panel", figure_sha, [x0, y0, x1, y1])
            points.append(PointRecord(id=pid, vectors={}, payload=payload))
            images.append(crop)
        return points, images

    def _encode(self, points: list[PointRecord], images: list[Image.Image]) -> None:
        from matsearch.indexer.figures.panels import fill_scales, fill_types

        with stage(self.stages, "encode image"):
            image_vectors = self.ctx.encoder("efficientnet-lite0").encode(images)
        with stage(self.stages, "panel type"):
            encode = self.ctx.encoder("efficientnet-lite0").encode  # pictures inside plot axes are typed by the picture
            fill_types([p.payload for p in points], images, image_vectors, encode)
        with stage(self.stages, "encode sketch"):
            # Sketch search finds pictures by the shapes they show (particles, grains, drawings): a plot's outline
            # view is its axes and curves, so graph panels get no sketch vector (and never come up as sketch hits).
            todo = [k for k, p in enumerate(points) if p.payload.get("type") not in NO_SKETCH_TYPES]
            if todo:
                for k, vector in zip(todo, self.ctx.encoder("sketch").encode([images[k] for k in todo]), strict=True):
                    points[k].vectors["sketch"] = vector
        with stage(self.stages, "scale bars"):
            fill_scales([p.payload for p in points], images)
        with stage(self.stages, "encode caption"):
            captions = [p.payload["caption"] for p in points]
            unique = sorted({c for c in captions if c.strip()})  # panels often share their figure's caption
            vectors = dict(zip(unique, self.ctx.encoder("all-minilm-l6-v2").encode(unique), strict=True))
        for point, vector in zip(points, image_vectors, strict=True):
            point.vectors["image"] = vector
        for point, caption in zip(points, captions, strict=True):
            if caption in vectors:
                point.vectors["caption"] = vectors[caption]


def _chain(first: list[FigureItem], rest: Iterator[FigureItem]) -> Iterator[FigureItem]:
    yield from first
    yield from rest


def _document_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The document a panel payload comes from: doc fields, source, file, figure id, provenance."""
    doc = {k: payload[k] for k in DOC_FIELDS if payload.get(k) not in (None, "")}
    for key in ("source", "source_file", "figure_id", "provenance"):
        if payload.get(key) not in (None, "", {}):
            doc[key] = payload[key]
    return doc


def _documents_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    docs = payload.get("documents")
    if isinstance(docs, list):
        return [d for d in docs if isinstance(d, dict)]
    return [_document_of(payload)]  # a point written before documents existed


def _document_key(doc: dict[str, Any]) -> str:
    if doc.get("doi"):
        return "doi:" + str(doc["doi"]).lower()
    return f"file:{doc.get('source')}:{doc.get('source_file')}:{doc.get('figure_id')}"


def _merge_documents(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per key, the later entry replacing the earlier one in its place; at most MAX_DOCUMENTS (newest)."""
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        key = _document_key(doc)
        merged.pop(key, None)
        merged[key] = doc
    return list(merged.values())[-MAX_DOCUMENTS:]


def _clip_box(bbox: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    x0, x1 = max(0, min(x0, w - 1)), max(1, min(x1, w))
    y0, y1 = max(0, min(y0, h - 1)), max(1, min(y1, h))
    if x1 <= x0 or y1 <= y0:
        return 0, 0, w, h
    return x0, y0, x1, y1


# -- in an ingest worker process (see ingest_pool) ----------------------------------------------------------------


class _WorkerContext:
    """What extraction needs from its host, minus the store (workers never write to it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.images = ImageStore(settings.images_dir)
        self.store: Any = None

    def encoder(self, name: str) -> Encoder:
        from matsearch.encoders import get_encoder

        return get_encoder(name, self.settings)

    def ensure_collection(self, name: str) -> None:
        raise RuntimeError("ingest workers do not write to the store")


_INGESTORS: dict[str, Any] = {}
WARM_ENCODERS = ("efficientnet-lite0", "sketch", "all-minilm-l6-v2", "spectrum-profile", "xrd-cnn")


def worker_settings(settings: Settings) -> Settings:
    """The settings an ingest worker runs with: one ONNX Runtime thread per session (the parallelism is the
    processes')."""
    return settings.model_copy(update={"onnx_threads": 1})


def warm_figures() -> list[bytes]:
    """Two small figures drawn here (PNG): a micrograph-like panel (particles) with a scale bar and "100 nm", and a
    line plot with numbered axes — enough to run every extraction path once (labels, layout, OCR, scale bars, panel
    types, the digitiser, all encoders)."""
    import io

    import numpy as np
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=18)
    rng = np.random.default_rng(0)
    micro = Image.fromarray((rng.random((260, 300)) * 40 + 50).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(micro)
    for x, y, r in rng.integers((20, 20, 8), (280, 220, 22), size=(14, 3)).tolist():
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(190, 190, 190))
    draw.text((8, 6), "a", fill="white", font=font)
    draw.rectangle((200, 240, 280, 245), fill="white")
    draw.text((208, 215), "100 nm", fill="white", font=font)
    plot = Image.new("RGB", (300, 260), "white")
    draw = ImageDraw.Draw(plot)
    x0, y0, x1, y1 = 50, 20, 285, 220
    draw.line((x0, y1, x1, y1), fill="black", width=2)
    draw.line((x0, y0, x0, y1), fill="black", width=2)
    for k in range(5):
        x = x0 + k * (x1 - x0) // 4
        draw.line((x, y1, x, y1 + 5), fill="black", width=2)
        draw.text((x - 8, y1 + 8), str(20 * k), fill="black", font=font)
    xs = np.linspace(x0 + 2, x1 - 2, 120)
    ys = y1 - 20 - 150 * np.exp(-(((xs - 170) / 20) ** 2))
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=(200, 30, 30), width=2)
    out = []
    for im in (micro, plot):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def start_workers(ctx: IngestContext, workers: int | None = None, *, wait: bool = True) -> IngestPool | None:
    """Start the shared ingest worker pool now, each worker warmed by :func:`warm_worker` (a bench before its clock
    starts, a server that wants its first large ingest fast); the pool, or None when the settings say 0 workers."""
    from matsearch.indexer import ingest_pool

    return ingest_pool.start(ctx, workers, warm=warm_worker, wait=wait)


def warm_worker(settings: Settings | None) -> None:
    """Load everything extraction uses (imports, encoder sessions, OCR engines, the digitiser) by extracting
    :func:`warm_figures` once, its image files going to a temporary folder: an ingest worker does this in its
    initialiser, so the figures it is sent later do not pay for loading."""
    import tempfile

    settings = worker_settings(settings or Settings())
    ingestor = FigureIngestor(_WorkerContext(settings), workers=0)
    with tempfile.TemporaryDirectory(prefix="matsearch-warm-") as d:
        ingestor.ctx.images = ImageStore(Path(d) / "images")
        items = [
            FigureItem(data=data, name=f"warm-up-{k}.png", caption="Warm-up figure.")
            for k, data in enumerate(warm_figures())
        ]
        results = ingestor.extract(items)
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"ingest worker warm-up failed: {result.error}")
    for name in WARM_ENCODERS:  # what the figures above may not reach (an XRD graph's CNN)
        ingestor.ctx.encoder(name).load()
    import matsearch.indexer.figures.scalelabel  # noqa: F401 - the scale-label reader


def extract_chunk(settings: Settings, chunk: list[FigureItem]) -> tuple[list[Extracted], Stages]:
    """Extract and encode ``chunk`` in an ingest worker process (``ingest_pool``): the pool runs this function."""
    settings = worker_settings(settings)
    key = settings.model_dump_json()
    ingestor = _INGESTORS.get(key)
    if ingestor is None:
        ingestor = _INGESTORS[key] = FigureIngestor(_WorkerContext(settings), workers=0)
    ingestor.stages = defaultdict(float)
    results = ingestor.extract(chunk)
    return results, dict(ingestor.stages)
