"""What sources yield (``FigureItem``) and splitters return (``PanelDraft``): plain data, no behaviour, so that
sources, the panel splitter and the pipeline import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matsearch.store.base import PointRecord


@dataclass
class FigureItem:
    """One figure from any source: the image file's bytes, its caption and the document it comes from."""

    data: bytes
    name: str
    caption: str | None = None
    doc: dict[str, Any] = field(default_factory=dict)
    figure_id: str | None = None
    source: str = "folder"
    provenance: dict[str, Any] = field(default_factory=dict)
    panels: list[PanelDraft] | None = None  # given by sources that already know the panels (EXSCLAIM JSON)


@dataclass
class PanelDraft:
    """One panel before encoding. ``bbox`` is in figure pixels, [x0, y0, x1, y1)."""

    bbox: tuple[int, int, int, int]
    label: str | None = None
    caption: str | None = None
    type: str | None = None
    type_confidence: float | None = None
    scale: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Stages = dict[str, float]  # CPU seconds per pipeline stage


@dataclass
class Extracted:
    """One figure after extraction and encoding (what a worker process sends back): its points, or why not."""

    name: str
    points: list[PointRecord] = field(default_factory=list)
    error: str | None = None
    graph_ids: list[str] = field(default_factory=list)  # its graph panels, and the series digitised from them
    series: list[PointRecord] = field(default_factory=list)
