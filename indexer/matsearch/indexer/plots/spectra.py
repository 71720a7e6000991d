"""Literature spectra: every ``graph`` panel of an ingested figure is digitised and each series becomes a point in
the ``spectra`` collection, so that a measured pattern finds the papers that plot one like it.

Per series the payload keeps the panel's figure/panel ids, DOI, title, year, caption, the spectrum ``kind``, the x
axis quantity/unit, the x range, the digitiser's confidence, the series label/colour and the panel's stored image
(``panel_sha256``, for ``image_url``). Vectors: ``profile`` for every series (its shape over its own x range,
``encoders.spectrum_profile``) and, for XRD patterns with a calibrated 2θ axis, ``xrd`` from the same encoder as
the structure library (``xrd-cnn``) on the library grid — the pattern is converted with the wavelength stated in
the caption (``λ = 0.7093 Å``, ``Mo Kα``, …) or Cu Kα by default. Series without a calibrated x axis are not
indexed. Re-ingesting a figure replaces the spectra of its panels.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
from PIL import Image

from matsearch.core.errors import MatsearchError
from matsearch.core.filters import FieldCondition, Filter
from matsearch.core.ids import point_id
from matsearch.indexer.context import IngestContext
from matsearch.store.base import PointRecord

__all__ = [
    "COLLECTION",
    "graph_series",
    "index_graph_panels",
    "series_points",
    "wavelength_from_text",
    "write_graph_series",
]

log = logging.getLogger("matsearch.indexer.plots")
COLLECTION = "spectra"
MIN_CONFIDENCE = 0.3  # series below this (short fragments, ambiguous tracks) are not indexed
MIN_POINTS = 20
DOC_FIELDS = ("doi", "title", "journal", "year", "url", "licence", "source", "source_file", "figure_id")

_WL_NUMBER = re.compile(r"(?:λ|lambda|wavelength)\s*(?:=|of|:)?\s*(\d+(?:\.\d+)?)\s*(?:Å|A\b|angstrom)", re.I)
_WL_ANODE = re.compile(r"\b(Cu|Mo|Co|Cr|Fe|Ag)\s*[-\s]?K\s*(?:α|alpha|a)\s*(1|2)?", re.I)


def wavelength_from_text(text: str) -> tuple[float | None, str]:
    """(λ in Å, how it was found) from a caption: a number with Å, or an anode line; (None, "default") otherwise."""
    from matsearch.encoders.xrd_pattern import resolve_wavelength

    m = _WL_NUMBER.search(text or "")
    if m:
        try:
            return resolve_wavelength(float(m.group(1))), "caption"
        except MatsearchError:
            pass
    m = _WL_ANODE.search(text or "")
    if m:
        return resolve_wavelength(f"{m.group(1)}Ka{m.group(2) or ''}"), "caption"
    return None, "default"


def _xy(series: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(series["x"], dtype=np.float64)
    y = np.asarray([np.nan if v is None else v for v in series["y"]], dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def xrd_grid(x: np.ndarray, y: np.ndarray, wavelength: float | None) -> np.ndarray | None:
    """The series as the xrd encoder's input (background-free, library grid), or None when it is no usable pattern."""
    from matsearch.encoders.xrd_pattern import pattern_from_arrays, preprocess

    if x.size < MIN_POINTS or x.min() <= 0 or x.max() >= 180:
        return None
    try:
        pattern = pattern_from_arrays(x, y, name="digitised", wavelength=wavelength)
        grid, _mask = preprocess(pattern)
    except MatsearchError:
        return None
    return np.asarray(grid, dtype=np.float32)


def series_points(
    ctx: IngestContext, panel: dict[str, Any], panel_id: str, answer: dict[str, Any]
) -> list[PointRecord]:
    """Points of one digitised panel (its payload ``panel``, its figures point id ``panel_id``)."""
    if answer["x_axis"].get("relative"):
        return []
    caption = str(panel.get("caption") or "")
    kind = answer.get("kind")
    wavelength, wl_source = wavelength_from_text(caption + " " + str(panel.get("figure_caption") or ""))
    doc = {k: panel[k] for k in DOC_FIELDS if panel.get(k) not in (None, "")}
    out = []
    for i, s in enumerate(answer["series"]):
        x, y = _xy(s)
        if x.size < MIN_POINTS or float(s["confidence"]) < MIN_CONFIDENCE:
            continue
        vectors: dict[str, Any] = {"profile": ctx.encoder("spectrum-profile").encode([(x, y)])[0]}
        if kind == "xrd":
            grid = xrd_grid(x, y, wavelength)
            if grid is not None:
                vectors["xrd"] = ctx.encoder("xrd-cnn").encode([grid])[0]
        payload: dict[str, Any] = {
            "kind_of_point": "literature_spectrum",
            **doc,
            "panel_id": panel_id,
            "panel_label": panel.get("panel_label"),
            "caption": caption,
            "kind": kind,
            "x_label": answer["x_axis"].get("label"),
            "x_quantity": answer["x_axis"].get("quantity"),
            "x_unit": answer["x_axis"].get("unit"),
            "y_label": answer["y_axis"].get("label"),
            "y_relative": bool(answer["y_axis"].get("relative")),
            "x_min": float(x.min()),
            "x_max": float(x.max()),
            "points": int(x.size),
            "confidence": float(s["confidence"]),
            "series_index": i,
            "series_label": s.get("label"),
            "color": s.get("color"),
            "image_sha256": panel.get("image_sha256"),
            "panel_sha256": panel.get("panel_sha256"),
            "bbox": panel.get("bbox"),
        }
        if kind == "xrd":
            payload["wavelength"] = wavelength if wavelength is not None else 1.5418
            payload["wavelength_source"] = wl_source
        pid = point_id("spectrum", panel.get("image_sha256"), panel.get("bbox"), i)
        out.append(PointRecord(id=pid, vectors=vectors, payload=payload))
    return out


def index_graph_panels(ctx: IngestContext, points: list[PointRecord]) -> int:
    """Digitise the ``graph`` panels among freshly written figure points; write their series. Returns the count.

    Panels whose image has no readable axes (bar charts without numeric x, schematics typed as graphs) give no
    series; their old spectra (if any) are removed.
    """
    graph_ids, new = graph_series(ctx, points)
    return write_graph_series(ctx, graph_ids, new)


def graph_series(
    ctx: IngestContext, points: list[PointRecord], images: dict[str, Image.Image] | None = None
) -> tuple[list[str], list[PointRecord]]:
    """The CPU-bound half of :func:`index_graph_panels` (no store access, so ingest workers run it): the ids of the
    ``graph`` panels among ``points`` and the series points digitised from them. ``images``: the panels' RGB crops
    by point id, when the caller still holds them (the ingest: decoded once); others are read from the image store."""
    from matsearch.indexer.plots.digitize import NoPlotFound, digitize

    graphs = [p for p in points if p.payload.get("type") == "graph" and p.payload.get("panel_sha256")]
    if not graphs:
        return [], []
    new: list[PointRecord] = []
    for p in graphs:
        image = (images or {}).get(p.id)
        if image is None:
            path = ctx.images.find(str(p.payload["panel_sha256"]))
            if path is None:
                continue
            with Image.open(path) as im:
                image = im.convert("RGB")
        try:
            answer = digitize(image, str(p.payload.get("caption") or ""), ingest=True)
        except NoPlotFound as exc:
            log.debug("panel %s: %s", p.id, exc)
            continue
        new.extend(series_points(ctx, p.payload, p.id, answer))
    return [p.id for p in graphs], new


def write_graph_series(ctx: IngestContext, graph_ids: list[str], new: list[PointRecord]) -> int:
    """The store half of :func:`index_graph_panels`: write ``new``, delete the old series of ``graph_ids``."""
    if not graph_ids:
        return 0
    ctx.ensure_collection(COLLECTION)
    flt = Filter(must=[FieldCondition(key="panel_id", any=list(graph_ids))])
    old: list[str] = []
    offset: str | None = None
    while True:
        page, offset = ctx.store.scroll(COLLECTION, flt, limit=256, offset=offset)
        old.extend(q.id for q in page)
        if offset is None:
            break
    if new:
        ctx.store.upsert(COLLECTION, new)
    stale = sorted(set(old) - {q.id for q in new})
    if stale:
        ctx.store.delete(COLLECTION, stale)
    return len(new)
