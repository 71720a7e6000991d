"""Figures → panels → vectors → the ``figures`` collection. Every source (folders, PDFs, EXSCLAIM JSON, fetched
articles) yields ``FigureItem``s and goes through ``FigureIngestor``.

Point ids come from content (the figure's SHA-256 and the panel's box), so ingesting the same figure again rewrites
the same points instead of adding new ones, and an interrupted run can simply be repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from PIL import Image

from matsearch.core.errors import MatsearchError
from matsearch.core.ids import point_id
from matsearch.core.images import load_image, to_rgb
from matsearch.core.schemas import IngestReport, IngestSkip
from matsearch.indexer.context import IngestContext
from matsearch.indexer.items import FigureItem, PanelDraft
from matsearch.store.base import PointRecord

COLLECTION = "figures"
DOC_FIELDS = ("doi", "title", "journal", "year", "url", "licence", "authors")


Splitter = Callable[[Image.Image, str | None], list[PanelDraft]]


class FigureIngestor:
    def __init__(self, ctx: IngestContext, *, splitter: Splitter | None = None, batch_size: int = 16) -> None:
        self.ctx = ctx
        if splitter is None:
            from matsearch.indexer.figures.panels import split_panels  # local: keeps OCR out of CLI start-up

            splitter = split_panels
        self.splitter: Splitter = splitter
        self.batch_size = batch_size

    def ingest(self, items: Iterable[FigureItem], progress: Callable[[int], None] | None = None) -> IngestReport:
        """Ingest figures in batches; bad items are skipped with a reason, good ones are kept."""
        self.ctx.ensure_collection(COLLECTION)
        report = IngestReport(collection=COLLECTION)
        iterator: Iterator[FigureItem] = iter(items)
        while batch := list(islice(iterator, self.batch_size)):
            points: list[PointRecord] = []
            panel_images: list[Image.Image] = []
            for item in batch:
                report.items += 1
                try:
                    new_points, images = self._panels(item)
                except MatsearchError as exc:
                    report.skipped.append(IngestSkip(item=item.name, reason=exc.message))
                    continue
                points.extend(new_points)
                panel_images.extend(images)
            if points:
                self._encode(points, panel_images)
                existing = {p.id for p in self.ctx.store.retrieve(COLLECTION, [p.id for p in points])}
                self.ctx.store.upsert(COLLECTION, points)
                report.points += len(points)
                report.new_points += sum(1 for p in points if p.id not in existing)
                report.ids.extend(p.id for p in points)
            if progress is not None:
                progress(len(batch))
        if report.points:
            self.ctx.store.optimize(COLLECTION)
        report.count = self.ctx.store.count(COLLECTION)
        return report

    def _panels(self, item: FigureItem) -> tuple[list[PointRecord], list[Image.Image]]:
        from matsearch.indexer.figures.keywords import extract_keywords

        image = load_image(item.data, self.ctx.settings, what=item.name)
        figure_sha = self.ctx.images.put(item.data, image)
        rgb = to_rgb(image)
        drafts = item.panels if item.panels is not None else self.splitter(rgb, item.caption)
        doc = {k: item.doc.get(k) for k in DOC_FIELDS if item.doc.get(k) not in (None, "")}
        points, images = [], []
        for draft in drafts:
            x0, y0, x1, y1 = _clip_box(draft.bbox, rgb.size)
            whole = (x0, y0, x1, y1) == (0, 0, rgb.width, rgb.height)
            crop = rgb if whole else rgb.crop((x0, y0, x1, y1))
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
        image_vectors = self.ctx.encoder("efficientnet-lite0").encode(images)
        for point, vector in zip(points, self.ctx.encoder("sketch").encode(images), strict=True):
            point.vectors["sketch"] = vector
        from matsearch.indexer.figures.panels import fill_scales, fill_types

        fill_types([p.payload for p in points], images, image_vectors)
        fill_scales([p.payload for p in points], images)
        captions = [p.payload["caption"] for p in points]
        with_text = [i for i, c in enumerate(captions) if c.strip()]
        text_vectors = self.ctx.encoder("all-minilm-l6-v2").encode([captions[i] for i in with_text])
        for point, vector in zip(points, image_vectors, strict=True):
            point.vectors["image"] = vector
        for i, vector in zip(with_text, text_vectors, strict=True):
            points[i].vectors["caption"] = vector


def _clip_box(bbox: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    x0, x1 = max(0, min(x0, w - 1)), max(1, min(x1, w))
    y0, y1 = max(0, min(y0, h - 1)), max(1, min(y1, h))
    if x1 <= x0 or y1 <= y0:
        return 0, 0, w, h
    return x0, y0, x1, y1
